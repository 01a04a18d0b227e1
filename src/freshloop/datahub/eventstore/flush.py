"""Moving buffered events into the event store, in micro-batches.

One flush: read the oldest pending buffer rows, resolve each event's OneID (a per-process
cache, then the flush's unseen identifier sets together through `identity.batch.identify_many`),
write the batch into DuckDB in one transaction, then mark the rows flushed. A crash anywhere
before the mark leaves the rows pending and the next flush writes them again; the store skips
ids it already holds, so nothing is lost and nothing is counted twice.

Who flushes: `manage.py datahub_flusher` in a process of its own (what `make demo` runs), or,
where the web processes keep `FRESHLOOP_DATAHUB_AUTOFLUSH` on, a background thread in each of
them woken by every accepted batch; and the `datahub.flush` job every minute for whatever a
stopped process left behind. Events are queryable a second or two after they were accepted.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
from django.conf import settings
from django.db import close_old_connections, connection, connections

from freshloop.core import clock, crypto
from freshloop.core.db import postgresql_binary_cursor
from freshloop.core.errors import DomainError
from freshloop.datahub.eventstore.scrub import buffer_payload_scrub
from freshloop.datahub.eventstore.store import (
    EVENT_SCHEMA,
    ORDER_ITEM_SCHEMA,
    EventStore,
    business_day,
    event_store,
    to_naive_utc,
)
from freshloop.datahub.models import BufferedEvent
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.services import IdentifierInput, IdentifyCall, identify_many

logger = logging.getLogger(__name__)
_BUFFER_TABLE = BufferedEvent._meta.db_table

FLUSH_BATCH = 20000
MERGE_EVENT = "identity_merged"
IDENTITY_CACHE_SIZE = 100_000
_CHANNEL_TO_IDENTITY_SOURCE = {"store": "store_pos", "server": "shop", "partner": "crm_import"}


class _PendingRow(NamedTuple):
    """A buffer row as the flush reads it (a tuple: building model instances cost more than
    the rest of reading a flush's rows)."""

    pk: int
    event_id: str
    source: str
    payload: str
    received_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class FlushReport:
    read: int
    written: int
    person_ids: frozenset[int]


class _IdentityCache:
    """identifier-set key → person id. A stale entry (the person was merged since) is still
    right for analytics: the store's person map re-points it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[str, int] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> int | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: str, person_id: int) -> None:
        with self.lock:
            self.entries[key] = person_id
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


identity_cache = _IdentityCache(IDENTITY_CACHE_SIZE)


@contextlib.contextmanager
def _flush_lock(store: EventStore) -> Iterator[None]:
    """One flusher at a time across processes (the web thread and the worker's job)."""
    store.path.parent.mkdir(parents=True, exist_ok=True)
    with open(store.path.with_name(store.path.name + ".flush.lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _surviving_ids(person_ids: set[int]) -> dict[int, int]:
    """Follow `merged_into` to the survivor for people merged before the hub heard of it."""
    resolved: dict[int, int] = {}
    pending = {pid: pid for pid in person_ids}
    for _ in range(10):  # merge chains are short; bounded so a cycle cannot hang a flush
        if not pending:
            break
        rows = dict(
            Person.objects.filter(pk__in=set(pending.values())).values_list("pk", "merged_into_id")
        )
        next_pending = {}
        for original, current in pending.items():
            into = rows.get(current)
            if into is None:
                resolved[original] = current
            else:
                next_pending[original] = into
        pending = next_pending
    resolved.update(pending)
    return resolved


def _resolve_people(payloads: list[dict[str, Any]]) -> list[int | None]:
    one_ids = {p["one_id"] for p in payloads if p.get("one_id") and not p.get("identity")}
    by_one_id = (
        dict(Person.objects.filter(one_id__in=one_ids).values_list("one_id", "pk"))
        if one_ids
        else {}
    )
    by_identity = _identify_all(payloads)
    people: list[int | None] = []
    for payload in payloads:
        person_id: int | None = payload.get("person_id")
        if person_id is None and payload.get("identity"):
            person_id = by_identity.get(payload["identity_key"])
        if person_id is None and payload.get("one_id"):
            person_id = by_one_id.get(payload["one_id"])
        people.append(person_id)
    survivors = _surviving_ids({p for p in people if p is not None})
    return [survivors.get(p, p) if p is not None else None for p in people]


def _identify_all(payloads: list[dict[str, Any]]) -> dict[str, int]:
    """identifier-set key → person id for every identified event of a flush: the cache first,
    then the sets it has not seen, resolved together (`identity.batch.identify_many`)."""
    answers: dict[str, int] = {}
    first_seen: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        key = payload.get("identity_key")
        if not payload.get("identity") or not key or key in answers or key in first_seen:
            continue
        cached = identity_cache.get(key)
        if cached is not None:
            answers[key] = cached
        else:
            first_seen[key] = payload
    keys: list[str] = []
    calls: list[IdentifyCall] = []
    for key, payload in first_seen.items():
        try:
            identifiers = json.loads(crypto.decrypt(payload["identity"]))
            calls.append(
                IdentifyCall(
                    identifiers=[IdentifierInput(**item) for item in identifiers],
                    source=_CHANNEL_TO_IDENTITY_SOURCE.get(
                        payload.get("channel", ""), payload.get("channel", "shop")
                    ),
                    occurred_at=dt.datetime.fromisoformat(payload["occurred_at"]),
                )
            )
        except (ValueError, TypeError, crypto.CryptoError):
            # Validated at the door; a failure here (say, a key rotated away) keeps the event,
            # unattributed, rather than losing it.
            logger.exception("could not read the identifiers of a buffered event")
            continue
        keys.append(key)
    for key, result in zip(keys, identify_many(calls), strict=True):
        if isinstance(result, DomainError):
            logger.warning("identifiers of a buffered event refused: %s", result.code)
            continue
        identity_cache.put(key, result)
        answers[key] = result
    return answers


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tables(
    rows: list[_PendingRow], payloads: list[dict[str, Any]], people: list[int | None]
) -> tuple[pa.Table, pa.Table]:
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
    items: dict[str, list[Any]] = {name: [] for name in ORDER_ITEM_SCHEMA.names}
    for row, payload, person_id in zip(rows, payloads, people, strict=True):
        occurred = to_naive_utc(dt.datetime.fromisoformat(payload["occurred_at"]))
        day = business_day(occurred)
        properties = payload.get("properties") or {}
        order_no = payload.get("order_no") or properties.get("order_no")
        columns["event_id"].append(row.event_id)
        columns["name"].append(payload["name"])
        columns["day"].append(day)
        columns["occurred_at"].append(occurred)
        columns["received_at"].append(to_naive_utc(row.received_at))
        columns["source"].append(row.source)
        columns["channel"].append(payload.get("channel") or "server")
        columns["person_id"].append(person_id)
        columns["session_id"].append(payload.get("session_id") or None)
        columns["live_session"].append(payload.get("live_session") or None)
        columns["order_no"].append(order_no if isinstance(order_no, str) and order_no else None)
        columns["sku_id"].append(_int_or_none(properties.get("sku_id")))
        columns["amount_fen"].append(_int_or_none(properties.get("amount_fen")))
        columns["custom"].append(bool(payload.get("custom")))
        columns["properties"].append(
            orjson.dumps(properties, option=orjson.OPT_NON_STR_KEYS).decode()
        )
        if payload["name"] == "order_paid" and isinstance(properties.get("lines"), list):
            for line in properties["lines"]:
                if not isinstance(line, dict):
                    continue
                items["event_id"].append(row.event_id)
                items["order_no"].append(str(order_no or ""))
                items["day"].append(day)
                items["occurred_at"].append(occurred)
                items["channel"].append(payload.get("channel") or "server")
                items["person_id"].append(person_id)
                items["sku_id"].append(_int_or_none(line.get("sku_id")))
                items["product_id"].append(_int_or_none(line.get("product_id")))
                items["product_name"].append(str(line.get("product_name") or "")[:128])
                items["category"].append(str(line.get("category") or "")[:64])
                items["quantity"].append(_int_or_none(line.get("quantity")) or 0)
                items["amount_fen"].append(_int_or_none(line.get("amount_fen")) or 0)
    return (
        pa.Table.from_pydict(columns, schema=EVENT_SCHEMA),
        pa.Table.from_pydict(items, schema=ORDER_ITEM_SCHEMA),
    )


def _merges(payloads: list[dict[str, Any]]) -> list[tuple[int, int, dt.datetime]]:
    """OneID merges carried by the batch, in the order they happened."""
    merges = []
    for payload in payloads:
        if payload["name"] != MERGE_EVENT:
            continue
        properties = payload.get("properties") or {}
        from_id, into_id = properties.get("from_person_id"), properties.get("into_person_id")
        if isinstance(from_id, int) and isinstance(into_id, int):
            merges.append((from_id, into_id, dt.datetime.fromisoformat(payload["occurred_at"])))
    return merges


def buffer_flush(*, limit: int = FLUSH_BATCH, store: EventStore | None = None) -> FlushReport:
    """Write up to `limit` pending buffered events into the store (oldest first)."""
    store = store or event_store()
    with _flush_lock(store):
        rows = [
            _PendingRow(*values)
            for values in BufferedEvent.objects.filter(flushed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", "event_id", "source", "payload", "received_at")[:limit]
        ]
        if not rows:
            return FlushReport(read=0, written=0, person_ids=frozenset())
        payloads = [orjson.loads(row.payload) for row in rows]
        people = _resolve_people(payloads)
        payloads = _erased_scrubbed(payloads, people)
        events, order_items = _tables(rows, payloads, people)
        written = store.append(events, order_items, merges=_merges(payloads))
        _mark_flushed([row.pk for row in rows])
    touched = frozenset(p for p in people if p is not None)
    _after_flush(touched)
    return FlushReport(read=len(rows), written=written, person_ids=touched)


def _erased_scrubbed(
    payloads: list[dict[str, Any]], people: list[int | None]
) -> list[dict[str, Any]]:
    """Events that land on an erased person (a late server fact, a client naming the OneID)
    are stored scrubbed (`eventstore.scrub`), as the erasure left their earlier ones."""
    known = {person_id for person_id in people if person_id is not None}
    if not known:
        return payloads
    erased = set(
        Person.objects.filter(pk__in=known, status=PersonStatus.ERASED).values_list("pk", flat=True)
    )
    if not erased:
        return payloads
    return [
        buffer_payload_scrub(payload, person_id=person_id) if person_id in erased else payload
        for payload, person_id in zip(payloads, people, strict=True)
    ]


def _mark_flushed(pks: list[int]) -> None:
    """By primary key, not by range: on PostgreSQL a row with a smaller id can commit after
    this flush read the buffer, and must stay pending for the next one."""
    now = clock.now()
    if connection.vendor == "postgresql":
        with postgresql_binary_cursor() as cursor:
            cursor.execute(
                f"UPDATE {_BUFFER_TABLE} SET flushed_at = %s WHERE id = ANY(%b::bigint[])",  # noqa: S608 (table name from the model)
                [now, pks],
            )
        return
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        for start in range(0, len(pks), 2000):
            chunk = pks[start : start + 2000]
            cursor.execute(
                f"UPDATE {_BUFFER_TABLE} SET flushed_at = %s "  # noqa: S608 (table name from the model, values are parameters)
                f"WHERE id IN ({','.join(['%s'] * len(chunk))})",
                [at, *chunk],
            )


def buffer_flush_all(*, store: EventStore | None = None) -> int:
    """Flush until the buffer is empty; return the number of events read."""
    total = 0
    while True:
        report = buffer_flush(store=store)
        total += report.read
        if report.read < FLUSH_BATCH:
            return total


def _after_flush(person_ids: frozenset[int]) -> None:
    """Incremental tags for the people whose events just landed (DH-4)."""
    if not person_ids:
        return
    try:
        from freshloop.datahub.tags.services import tags_refresh_people

        tags_refresh_people(person_ids=sorted(person_ids))
    except Exception:
        # The events are safely stored; the nightly recompute repairs any tag left behind.
        logger.exception("incremental tag refresh failed")


def buffer_prune(*, now: dt.datetime | None = None) -> int:
    """Forget flushed rows older than the de-duplication window."""
    cutoff = (now or clock.now()) - dt.timedelta(days=settings.DATAHUB_DEDUPE_DAYS)
    deleted, _ = BufferedEvent.objects.filter(flushed_at__lt=cutoff).delete()
    return deleted


# --- the in-process flusher ------------------------------------------------------------


class _Flusher:
    def __init__(self) -> None:
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.exit_hook_registered = False

    def nudge(self) -> None:
        if not settings.DATAHUB_AUTOFLUSH:
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()
                self.thread = threading.Thread(
                    target=self._run, name="datahub-flusher", daemon=True
                )
                self.thread.start()
                if not self.exit_hook_registered:
                    atexit.register(self.stop)
                    self.exit_hook_registered = True
        self.wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the thread finish its flush and end before the interpreter shuts down: a daemon
        thread killed inside DuckDB's C++ aborts the whole process ("exception not rethrown").
        Whatever it did not flush stays in the buffer for the next process."""
        self.stopping.set()
        self.wake.set()
        thread = self.thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def _run(self) -> None:
        interval = float(settings.DATAHUB_FLUSH_INTERVAL_SECONDS)
        while not self.stopping.is_set():
            self.wake.wait(timeout=interval * 10)
            # Gather a little more: one flush per interval, not one per request.
            self.stopping.wait(interval)
            if self.stopping.is_set():
                return
            self.wake.clear()
            try:
                buffer_flush_all()
            except Exception:
                logger.exception("event flush failed; the buffer keeps the events for the next try")
            finally:
                close_old_connections()
                connections.close_all()


_flusher = _Flusher()


def flusher_nudge() -> None:
    _flusher.nudge()
