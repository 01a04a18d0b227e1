"""Checking what a client sends to `track`: one event's envelope (id, name, time, identity,
properties) and its properties against the event's schema.

This is the request path's hot loop (up to 1,000 events a request, 20,000 a second): every
event is checked in one pass and every problem reported at once; identifier sets are sealed
through a per-process cache.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import zoneinfo
from typing import Any

import orjson

from freshloop.core import clock, crypto
from freshloop.core.errors import DomainError
from freshloop.datahub.ingestion.errors import FieldError
from freshloop.datahub.ingestion.schemas import (
    FIELD_TYPE_LABELS,
    LIVE_EVENTS,
    MAX_ID_LENGTH,
    MAX_PROPERTIES_BYTES,
    NAME_PATTERN,
    FieldSpec,
)
from freshloop.identity.selectors import identifiers_normalise
from freshloop.identity.services import IdentifierInput

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
MAX_FUTURE = clock.CLIENT_CLOCK_SKEW
MAX_AGE = dt.timedelta(days=5 * 366)
MAX_ONE_ID_LENGTH = 40
# What identify's own API takes (identity.schemas.IdentifierIn) and the columns hold: a longer
# scope passed the door and then failed the flush on PostgreSQL (varchar(64)) for the batch.
MAX_IDENTIFIER_TYPE_LENGTH = 32
MAX_IDENTIFIER_VALUE_LENGTH = 256
MAX_IDENTIFIER_SCOPE_LENGTH = 64
# Integers the event store can hold (BIGINT / int64): a larger one (JSON allows up to 2**64 - 1
# here) was accepted and then failed every flush of the buffer it sat in.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# --- the envelope ----------------------------------------------------------------------------


def _error(field: str, code: str, message: str) -> FieldError:
    return FieldError(field, code, message)


def _has_control_character(text: str) -> bool:
    """NUL and the other C0 controls (and DEL) have no place in an id; PostgreSQL refuses NUL
    in any text column, which used to turn such an event into a 500 or a failed flush."""
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def _short_text(
    raw: Any,
    field: str,
    errors: list[FieldError],
    *,
    required: bool,
    max_length: int = MAX_ID_LENGTH,
) -> str:
    if raw is None or raw == "":
        if required:
            errors.append(_error(field, "required", "必填"))
        return ""
    if not isinstance(raw, str):
        errors.append(_error(field, "type", "应为字符串"))
        return ""
    if len(raw) > max_length:
        errors.append(_error(field, "too_long", f"不能超过 {max_length} 个字符"))
        return ""
    if _has_control_character(raw):
        errors.append(_error(field, "format", "不能包含控制字符"))
        return ""
    return raw


def _occurred_at(raw: Any, now: dt.datetime, errors: list[FieldError]) -> dt.datetime | None:
    if not isinstance(raw, str) or not raw:
        errors.append(
            _error("occurred_at", "required", "需要 ISO 8601 时间，例如 2026-11-24T20:00:00+08:00")
        )
        return None
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        errors.append(_error("occurred_at", "format", "时间格式不正确，应为 ISO 8601"))
        return None
    if moment.tzinfo is None:
        # Clients in China that omit the offset mean Beijing time.
        moment = moment.replace(tzinfo=SHANGHAI)
    problem = clock.client_time_problem(moment, now=now, max_age=MAX_AGE)
    if problem == "in_future":
        errors.append(_error("occurred_at", "in_future", "事件时间晚于当前时间"))
        return None
    if problem is not None:  # too old, or before anything UTC can say (year 1 at +14:00)
        errors.append(_error("occurred_at", "too_old", "事件时间早于 5 年前"))
        return None
    return moment.astimezone(dt.UTC)


def _identity(
    raw_event: dict[str, Any], errors: list[FieldError]
) -> tuple[str | None, str | None, str | None]:
    """Return (sealed identifiers, cache key, one_id) for the flusher to resolve."""
    one_id: str | None = raw_event.get("one_id")
    if one_id is not None and (
        not isinstance(one_id, str) or not 0 < len(one_id) <= MAX_ONE_ID_LENGTH
    ):
        errors.append(_error("one_id", "type", "one_id 应为字符串"))
        one_id = None
    elif one_id is not None and _has_control_character(one_id):
        errors.append(_error("one_id", "format", "不能包含控制字符"))
        one_id = None
    raw_identifiers = raw_event.get("identifiers")
    if raw_identifiers is None or raw_identifiers == []:
        if not one_id:
            errors.append(
                _error(
                    "identifiers", "required", "需要 identifiers 或 one_id 之一，才能归到一个 OneID"
                )
            )
        return None, None, one_id
    if not isinstance(raw_identifiers, list) or not all(
        isinstance(i, dict) for i in raw_identifiers
    ):
        errors.append(_error("identifiers", "type", "应为数组：[{type, value, scope}]"))
        return None, None, one_id
    memo_key = _identifier_triples(raw_identifiers, errors)
    if memo_key is None:
        return None, None, one_id
    sealed, key, error = _seal_identifiers(memo_key)
    if error is not None:
        errors.append(error)
        return None, None, one_id
    return sealed, key, one_id


def _identifier_triples(
    raw_identifiers: list[dict[str, Any]], errors: list[FieldError]
) -> tuple[tuple[str, str, str], ...] | None:
    """Each identifier's (type, value, scope) as strings within the columns' bounds, or None
    with the problems added to `errors`. The OneID rules proper (known type, phone format,
    scope required…) are `identifiers_normalise`'s."""
    triples = []
    problems = len(errors)
    limits = (
        ("type", MAX_IDENTIFIER_TYPE_LENGTH),
        ("value", MAX_IDENTIFIER_VALUE_LENGTH),
        ("scope", MAX_IDENTIFIER_SCOPE_LENGTH),
    )
    for position, item in enumerate(raw_identifiers):
        texts = []
        for part, max_length in limits:
            raw = item.get(part)
            if raw is None:
                raw = ""
            field = f"identifiers[{position}].{part}"
            if not isinstance(raw, str):
                errors.append(_error(field, "type", "应为字符串"))
            elif len(raw) > max_length:
                errors.append(_error(field, "too_long", f"不能超过 {max_length} 个字符"))
            elif _has_control_character(raw):
                errors.append(_error(field, "format", "不能包含控制字符"))
            texts.append(raw if isinstance(raw, str) else "")
        triples.append((texts[0], texts[1], texts[2]))
    return tuple(triples) if len(errors) == problems else None


@functools.lru_cache(maxsize=65_536)
def _seal_identifiers(
    raw_identifiers: tuple[tuple[str, str, str], ...],
) -> tuple[str | None, str | None, FieldError | None]:
    """Normalise and seal one identifier set. Cached per process: clients send the same device
    or phone with every event, and sealing is most of the cost of accepting an event."""
    try:
        # Identifiers from the track API are never "verified": a public write key must not be
        # able to prove ownership of a phone number and so merge two people.
        inputs = [
            IdentifierInput(type=kind, value=value, scope=scope)
            for kind, value, scope in raw_identifiers
        ]
        normalised = identifiers_normalise(inputs)
    except DomainError as error:
        return None, None, _error("identifiers", error.code, error.text)
    plain = [{"type": n.type, "value": n.value, "scope": n.scope} for n in normalised]
    key = hashlib.sha256("|".join(n.key for n in normalised).encode()).hexdigest()
    return crypto.encrypt(json.dumps(plain, ensure_ascii=False)), key, None


def _encoded_size(properties: dict[str, Any]) -> int | None:
    """Bytes of the properties as stored (UTF-8 JSON), or None when they cannot be encoded
    (nested deeper than the encoder goes, an integer beyond 64 bits)."""
    try:
        return len(orjson.dumps(properties, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return None


def _integer_out_of_range(value: Any) -> bool:
    """Whether any integer in `value` (at any depth) is beyond what the event store holds.
    Only called on values the encoder took, so the depth is bounded."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return True
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def event_validate(
    raw_event: Any,
    *,
    now: dt.datetime,
    schemas: dict[str, dict[str, Any]],
) -> tuple[str, dict[str, Any] | None, list[FieldError]]:
    """Return (event id, buffer payload or None, errors) for one incoming event."""
    if not isinstance(raw_event, dict):
        return "", None, [_error("", "not_object", "每个事件应为 JSON 对象")]
    errors: list[FieldError] = []
    event_id = _short_text(raw_event.get("event_id"), "event_id", errors, required=True)
    name = raw_event.get("name", raw_event.get("event"))
    custom = raw_event.get("custom", False)
    if not isinstance(custom, bool):
        errors.append(_error("custom", "type", "应为布尔值"))
        custom = False
    fields: dict[str, Any] | None = None
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        errors.append(
            _error("name", "format", "事件名应为小写字母开头的 snake_case，最长 64 个字符")
        )
    elif name in schemas:
        fields = schemas[name]
        custom = False
    elif not custom:
        errors.append(
            _error(
                "name",
                "unknown_event",
                "未注册的事件；请先在后台注册，或以自定义事件上报 (custom: true)",
            )
        )
    occurred_at = _occurred_at(raw_event.get("occurred_at"), now, errors)
    sealed, identity_key, one_id = _identity(raw_event, errors)
    session_id = _short_text(raw_event.get("session_id"), "session_id", errors, required=False)
    live_session = _short_text(
        raw_event.get("live_session"),
        "live_session",
        errors,
        # `name` may be anything a client sent (an object is unhashable: no `in` on a set).
        required=isinstance(name, str) and name in LIVE_EVENTS,
    )
    properties = raw_event.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        errors.append(_error("properties", "type", "应为对象"))
        properties = {}
    elif (size := _encoded_size(properties)) is None:
        errors.append(_error("properties", "type", "属性含无法编码为 JSON 的值"))
    elif size > MAX_PROPERTIES_BYTES:
        errors.append(_error("properties", "too_large", "属性不能超过 8 KB"))
    elif _integer_out_of_range(properties):
        errors.append(_error("properties", "out_of_range", "整数超出 64 位范围"))
    elif fields is not None:
        errors.extend(properties_validate(fields, properties))
    if errors or occurred_at is None:
        return event_id, None, errors
    return (
        event_id,
        {
            "name": name,
            "occurred_at": occurred_at.isoformat(),
            "identity": sealed,
            "identity_key": identity_key,
            "one_id": one_id,
            "session_id": session_id,
            "live_session": live_session,
            "properties": properties,
            "custom": bool(custom),
        },
        [],
    )


# --- properties --------------------------------------------------------------------------------


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return False


def properties_validate(
    fields: dict[str, FieldSpec], properties: dict[str, Any]
) -> list[FieldError]:
    errors: list[FieldError] = []
    for field_name, spec in fields.items():
        path = f"properties.{field_name}"
        if field_name not in properties or properties[field_name] is None:
            if spec.get("required"):
                errors.append(FieldError(path, "required", "缺少必填属性"))
            continue
        value = properties[field_name]
        kind = str(spec.get("type", "string"))
        if not _type_ok(kind, value):
            errors.append(FieldError(path, "type", f"应为{FIELD_TYPE_LABELS.get(kind, kind)}"))
            continue
        max_length = spec.get("max_length")
        if kind == "string" and max_length and len(value) > int(max_length):
            errors.append(FieldError(path, "too_long", f"不能超过 {max_length} 个字符"))
    return errors
