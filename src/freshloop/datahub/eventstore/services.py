"""Writes of the event store: flushing the write-ahead buffer into it (`eventstore.flush`),
pruning the buffer, keeping the store's OneID map in step with OneID itself, and scrubbing an
erased person's events (`eventstore.privacy`, PIPL).

Merges normally reach the store as `identity_merged` events through the buffer, in order with
the events around them (`datahub.ingestion.subscribers`). That recording runs after the merge
committed and can fail on its own (the database refused the buffer insert, the process died in
between); the merge then stands in OneID while the store still counts two people. The nightly
pass (`person_map_reconcile`) compares every merged person's survivor with `person_map` and
applies what is missing, so a lost recording costs at most a day of split history, never a
permanent one.
"""

from __future__ import annotations

import dataclasses
import logging

import pyarrow as pa

from freshloop.core import clock
from freshloop.datahub.eventstore.flush import (
    FLUSH_BATCH,
    MERGE_EVENT,
    FlushReport,
    buffer_flush,
    buffer_flush_all,
    buffer_prune,
    flusher_nudge,
)
from freshloop.datahub.eventstore.privacy import EraseReport, event_store_erase_person
from freshloop.datahub.eventstore.scrub import properties_scrub
from freshloop.datahub.eventstore.store import EVENT_SCHEMA, EventStore, event_store
from freshloop.identity.models import Person

__all__ = [
    "FLUSH_BATCH",
    "MERGE_EVENT",
    "EraseReport",
    "FlushReport",
    "ReconcileReport",
    "buffer_flush",
    "buffer_flush_all",
    "buffer_prune",
    "event_store_erase_person",
    "flusher_nudge",
    "person_map_reconcile",
    "properties_scrub",
]

logger = logging.getLogger(__name__)

# Merge chains are short (a person merged into someone later merged again); bounded so a
# corrupt cycle cannot hang the job.
MAX_CHAIN = 20


@dataclasses.dataclass(frozen=True)
class ReconcileReport:
    merged_people: int
    applied: int
    survivors: frozenset[int]


def person_map_reconcile(*, store: EventStore | None = None) -> ReconcileReport:
    """Apply every merge OneID knows of that the store's map does not; return what changed."""
    store = store or event_store()
    merged_into = dict(
        Person.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into_id")
    )
    expected = {person_id: _survivor(person_id, merged_into) for person_id in merged_into}
    stored = dict(store.fetch("SELECT from_person_id, into_person_id FROM person_map"))
    missing = sorted(
        (from_id, into_id)
        for from_id, into_id in expected.items()
        if into_id != from_id and stored.get(from_id) != into_id
    )
    if missing:
        now = clock.now()
        store.append(
            pa.Table.from_pylist([], schema=EVENT_SCHEMA),
            merges=[(from_id, into_id, now) for from_id, into_id in missing],
        )
        logger.warning(
            "person map reconciled: %d merge(s) had not reached the event store", len(missing)
        )
    survivors = frozenset(into_id for _, into_id in missing)
    if survivors:
        from freshloop.datahub.tags.services import tags_refresh_people

        tags_refresh_people(person_ids=sorted(survivors), store=store)
    return ReconcileReport(merged_people=len(expected), applied=len(missing), survivors=survivors)


def _survivor(person_id: int, merged_into: dict[int, int]) -> int:
    current = person_id
    for _ in range(MAX_CHAIN):
        following = merged_into.get(current)
        if following is None:
            return current
        current = following
    logger.error("merge chain longer than %d from person %d", MAX_CHAIN, person_id)
    return current
