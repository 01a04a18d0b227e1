"""Reads of ingestion: the event schemas in force (built-in and registered), and the Chinese
label of every event name the console shows."""

from __future__ import annotations

import time

from freshloop.datahub.ingestion.schemas import BUILTIN_EVENTS, SERVER_EVENT_LABELS, FieldSpec
from freshloop.datahub.models import EventDefinition

DEFINITIONS_TTL_SECONDS = 30.0
_definitions_cache: tuple[float, dict[str, dict[str, FieldSpec]]] = (0.0, {})


def registered_schemas() -> dict[str, dict[str, FieldSpec]]:
    """Built-in schemas overlaid with the operators' definitions (cached for 30 s)."""
    global _definitions_cache
    loaded_at, schemas = _definitions_cache
    if time.monotonic() - loaded_at < DEFINITIONS_TTL_SECONDS and schemas:
        return schemas
    schemas = {name: fields for name, (_, fields) in BUILTIN_EVENTS.items()}
    for definition in EventDefinition.objects.filter(is_active=True):
        schemas[definition.name] = dict(definition.fields or {})
    _definitions_cache = (time.monotonic(), schemas)
    return schemas


def definitions_changed() -> None:
    """Forget the cached schemas: the next `registered_schemas` reads the definitions again."""
    global _definitions_cache
    _definitions_cache = (0.0, {})


def event_label(name: str, definitions: dict[str, str] | None = None) -> str:
    """The Chinese label of an event name; `definitions` maps registered names to their
    descriptions (an unknown name is its own label)."""
    if name in BUILTIN_EVENTS:
        return BUILTIN_EVENTS[name][0]
    if name in SERVER_EVENT_LABELS:
        return SERVER_EVENT_LABELS[name]
    if definitions and definitions.get(name):
        return definitions[name]
    return name


def event_labels() -> dict[str, str]:
    """Every event name the console knows, with its Chinese label."""
    labels = {name: label for name, (label, _) in BUILTIN_EVENTS.items()}
    labels.update(SERVER_EVENT_LABELS)
    for name, description in EventDefinition.objects.filter(is_active=True).values_list(
        "name", "description"
    ):
        labels.setdefault(name, description or name)
    return labels
