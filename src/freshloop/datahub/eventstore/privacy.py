"""PIPL erasure in the event store: an erased person's events stay, as anonymous facts filed
under their person id (the tombstone), with every personal or free-text property taken out
(`eventstore.scrub` says exactly what stays) and the client's `session_id` cleared.

Where (`event_store_erase_person`), under the flush lock so no flush is half-way through with
the person's events meanwhile: the store's `events` (person ids: the person, everyone merged
into them, in OneID and in the store's `person_map`), their computed tags and predictions, and the write-ahead
buffer — rows already flushed (kept for de-duplication; their sealed identifiers go too) and
system-side rows still pending. Anything reaching the store later for an erased person is
scrubbed by the flush itself (`eventstore.flush`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pyarrow as pa

from freshloop.datahub.eventstore.flush import _flush_lock
from freshloop.datahub.eventstore.scrub import buffer_payload_scrub, properties_json_scrub
from freshloop.datahub.eventstore.store import EventStore, event_store
from freshloop.datahub.models import BufferedEvent
from freshloop.identity.models import Person
from freshloop.identity.selectors import person_family_ids


@dataclasses.dataclass(frozen=True)
class EraseReport:
    person_ids: tuple[int, ...]
    events: int
    buffered: int
    tags: int


def event_store_erase_person(*, person_id: int, store: EventStore | None = None) -> EraseReport:
    """Scrub an erased person's events in the store and the buffer (module doc); idempotent.

    Holds the flush lock throughout: a flush that had already read the person's pending events
    would otherwise write them unscrubbed after this pass. The store's own lock is taken per
    unit of work inside it, in the order every flush takes them (flush lock, then store).
    """
    store = store or event_store()
    family = set(person_family_ids(person_id))
    with _flush_lock(store):
        with store.connect() as connection:
            connection.execute("BEGIN")
            try:
                merged = connection.execute(
                    "SELECT from_person_id FROM person_map WHERE into_person_id = $pid",
                    {"pid": person_id},
                ).fetchall()
                ids = sorted(family | {int(row[0]) for row in merged})
                rows = connection.execute(
                    "SELECT event_id, day, properties, session_id FROM events "
                    "WHERE person_id IN (SELECT UNNEST($ids::BIGINT[]))",
                    {"ids": ids},
                ).fetchall()
                changed: dict[str, list[Any]] = {"event_id": [], "day": [], "properties": []}
                event_ids: list[str] = []
                for event_id, day, properties, session_id in rows:
                    event_ids.append(event_id)
                    cleaned = properties_json_scrub(properties)
                    if cleaned != properties or session_id is not None:
                        changed["event_id"].append(event_id)
                        changed["day"].append(day)
                        changed["properties"].append(cleaned)
                if changed["event_id"]:
                    connection.register(
                        "erased_events",
                        pa.Table.from_pydict(
                            changed,
                            schema=pa.schema(
                                [
                                    ("event_id", pa.string()),
                                    ("day", pa.date32()),
                                    ("properties", pa.string()),
                                ]
                            ),
                        ),
                    )
                    connection.execute(
                        "UPDATE events SET properties = s.properties, session_id = NULL "
                        "FROM erased_events s "
                        "WHERE events.day = s.day AND events.event_id = s.event_id"
                    )
                tags = connection.execute(
                    "DELETE FROM person_tags WHERE person_id IN (SELECT UNNEST($ids::BIGINT[])) "
                    "RETURNING person_id",
                    {"ids": ids},
                ).fetchall()
                # The intelligence module's scores and their reasons describe the person too.
                connection.execute(
                    "DELETE FROM person_predictions "
                    "WHERE person_id IN (SELECT UNNEST($ids::BIGINT[]))",
                    {"ids": ids},
                )
                connection.execute("COMMIT")
            except Exception:
                connection.execute("ROLLBACK")
                raise
        buffered = _buffer_scrub(event_ids=event_ids, person_ids=set(ids))
    return EraseReport(
        person_ids=tuple(ids),
        events=len(changed["event_id"]),
        buffered=buffered,
        tags=len(tags),
    )


def _buffer_scrub(*, event_ids: list[str], person_ids: set[int]) -> int:
    """The buffer's copies: flushed rows of the store's events (by id), and pending rows the
    system filed under one of the people (pending client rows carry sealed identifiers that
    no longer lead to the person; the flush scrubs any that land on them)."""
    one_ids = set(Person.objects.filter(pk__in=person_ids).values_list("one_id", flat=True))
    updated = 0
    for start in range(0, len(event_ids), 500):
        rows = BufferedEvent.objects.filter(event_id__in=event_ids[start : start + 500])
        for pk, payload in rows.values_list("pk", "payload"):
            updated += _buffer_row_scrub(pk, payload, owners=None)
    # Pending rows by primary-key pages, each read whole before any is rewritten (SQLite
    # cannot keep a read cursor open while the same connection writes the table).
    last = 0
    while True:
        page = list(
            BufferedEvent.objects.filter(flushed_at__isnull=True, pk__gt=last)
            .order_by("pk")
            .values_list("pk", "payload")[:2000]
        )
        if not page:
            return updated
        last = page[-1][0]
        for pk, payload in page:
            updated += _buffer_row_scrub(pk, payload, owners=(person_ids, one_ids))


def _buffer_row_scrub(pk: int, text: str, *, owners: tuple[set[int], set[str]] | None) -> int:
    """Rewrite one buffer row scrubbed; with `owners`, only if it is filed under one of those
    person ids or OneIDs. Returns 1 if the row changed."""
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        return 0
    if not isinstance(payload, dict):
        return 0
    owner = payload.get("person_id")
    if owners is not None and owner not in owners[0] and payload.get("one_id") not in owners[1]:
        return 0
    cleaned = buffer_payload_scrub(payload, person_id=owner if isinstance(owner, int) else None)
    if cleaned == payload:
        return 0
    rewritten = orjson.dumps(cleaned, option=orjson.OPT_NON_STR_KEYS).decode()
    return BufferedEvent.objects.filter(pk=pk).update(payload=rewritten)
