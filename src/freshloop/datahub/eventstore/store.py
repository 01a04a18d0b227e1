"""The analytics event store: one DuckDB file under the data directory.

Tables (all times naive UTC; `day` is the business day in Asia/Shanghai, the partition key of
the Parquet export):

- `events`       one row per accepted event, never rewritten;
- `order_items`  the lines of paid orders (top products, category preference);
- `person_map`   merged-away person id → surviving person id (kept flat: every entry points at
                 a survivor), so a OneID merge re-points history without rewriting it;
- `person_tags`  computed tags per person (written by `datahub.tags.services`);
- `person_predictions`  the intelligence module's scores per person (churn risk, purchase
                 propensity, lifetime value, best contact hour), with their explanations,
                 written through `datahub.predictions.services`.

Views `events_resolved` / `order_items_resolved` add `pid`, the surviving person id; every
analytics query reads them, never the raw tables.

DuckDB lets one process write a file and nobody else open it meanwhile, and the web server and
the worker are two processes. So every use opens the file, works and closes it under an
exclusive lock on a side file (`<file>.lock`); opening costs ~10 ms, and the embedded default
serves one brand's dashboards and micro-batches comfortably that way.

Private to `datahub.eventstore`: the rest of the data hub reaches the store through
`eventstore.selectors` (reads) and `eventstore.services` (flushing, reconciling).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from django.conf import settings

from freshloop.datahub.eventstore.errors import EventStoreBusy

# Asia/Shanghai has had no daylight saving since 1991: a fixed offset gives the business day.
BUSINESS_DAY_OFFSET = dt.timedelta(hours=8)
LOCK_WAIT_SECONDS = 30.0

EVENT_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("event_id", pa.string()),
    ("name", pa.string()),
    ("day", pa.date32()),
    ("occurred_at", pa.timestamp("us")),
    ("received_at", pa.timestamp("us")),
    ("source", pa.string()),
    ("channel", pa.string()),
    ("person_id", pa.int64()),
    ("session_id", pa.string()),
    ("live_session", pa.string()),
    ("order_no", pa.string()),
    ("sku_id", pa.int64()),
    ("amount_fen", pa.int64()),
    ("custom", pa.bool_()),
    ("properties", pa.string()),
]
ORDER_ITEM_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("event_id", pa.string()),
    ("order_no", pa.string()),
    ("day", pa.date32()),
    ("occurred_at", pa.timestamp("us")),
    ("channel", pa.string()),
    ("person_id", pa.int64()),
    ("sku_id", pa.int64()),
    ("product_id", pa.int64()),
    ("product_name", pa.string()),
    ("category", pa.string()),
    ("quantity", pa.int64()),
    ("amount_fen", pa.int64()),
]
EVENT_SCHEMA = pa.schema(EVENT_COLUMNS)
ORDER_ITEM_SCHEMA = pa.schema(ORDER_ITEM_COLUMNS)

_DDL = """
CREATE TABLE IF NOT EXISTS events (
    event_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    day DATE NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    person_id BIGINT,
    session_id VARCHAR,
    live_session VARCHAR,
    order_no VARCHAR,
    sku_id BIGINT,
    amount_fen BIGINT,
    custom BOOLEAN NOT NULL DEFAULT false,
    properties VARCHAR
);
CREATE TABLE IF NOT EXISTS order_items (
    event_id VARCHAR NOT NULL,
    order_no VARCHAR NOT NULL,
    day DATE NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    channel VARCHAR NOT NULL,
    person_id BIGINT,
    sku_id BIGINT,
    product_id BIGINT,
    product_name VARCHAR,
    category VARCHAR,
    quantity BIGINT,
    amount_fen BIGINT
);
CREATE TABLE IF NOT EXISTS person_map (
    from_person_id BIGINT PRIMARY KEY,
    into_person_id BIGINT NOT NULL,
    merged_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS person_tags (
    person_id BIGINT PRIMARY KEY,
    recency_days INTEGER,
    frequency INTEGER,
    monetary_fen BIGINT,
    r_score TINYINT,
    f_score TINYINT,
    m_score TINYINT,
    rfm_score VARCHAR,
    rfm_segment VARCHAR,
    lifecycle VARCHAR,
    top_categories VARCHAR[],
    preferred_channel VARCHAR,
    province VARCHAR,
    city VARCHAR,
    price_sensitivity VARCHAR,
    coupon_share DOUBLE,
    live_engagement VARCHAR,
    live_sessions_30d INTEGER,
    computed_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS person_predictions (
    person_id BIGINT PRIMARY KEY,
    churn_risk DOUBLE,
    churn_reasons VARCHAR,
    churn_version INTEGER,
    purchase_propensity DOUBLE,
    propensity_reasons VARCHAR,
    propensity_version INTEGER,
    clv_fen BIGINT,
    clv_percentile DOUBLE,
    expected_orders_365d DOUBLE,
    probability_alive DOUBLE,
    clv_version INTEGER,
    best_contact_hour TINYINT,
    contact_hours DOUBLE[],
    contact_events INTEGER,
    contact_hour_version INTEGER,
    computed_at TIMESTAMP NOT NULL
);
CREATE OR REPLACE VIEW events_resolved AS
    SELECT e.*, COALESCE(m.into_person_id, e.person_id) AS pid
    FROM events e LEFT JOIN person_map m ON m.from_person_id = e.person_id;
CREATE OR REPLACE VIEW order_items_resolved AS
    SELECT i.*, COALESCE(m.into_person_id, i.person_id) AS pid
    FROM order_items i LEFT JOIN person_map m ON m.from_person_id = i.person_id;
"""

_process_lock = threading.RLock()
_schema_ready: set[str] = set()


def business_day(moment: dt.datetime) -> dt.date:
    """The Asia/Shanghai calendar day of an aware or naive-UTC moment."""
    return (to_naive_utc(moment) + BUSINESS_DAY_OFFSET).date()


def to_naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


class EventStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the store for one unit of work, holding the cross-process lock throughout."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _process_lock, self._file_lock():
            connection = duckdb.connect(str(self.path))
            try:
                key = str(self.path)
                if key not in _schema_ready:
                    connection.execute(_DDL)
                    _schema_ready.add(key)
                yield connection
            finally:
                connection.close()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+b") as handle:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EventStoreBusy() from None
                    time.sleep(0.005)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def append(
        self,
        events: pa.Table,
        order_items: pa.Table | None = None,
        merges: Sequence[tuple[int, int, dt.datetime]] = (),
    ) -> int:
        """Insert events whose id the store does not hold yet; return how many were new.

        A crash between this commit and the buffer being marked flushed replays the batch:
        the anti-join on (day, event_id) makes that harmless. Order lines follow their event;
        OneID merges `(from, into, at)` are applied in the same transaction.
        """
        if events.num_rows == 0 and not merges:
            return 0
        inserted: tuple[Any, ...] | None = (0,)
        with self.connect() as connection:
            connection.execute("BEGIN")
            try:
                if events.num_rows:
                    connection.register("staged_events", events)
                    connection.execute(
                        """
                        CREATE TEMP TABLE fresh AS
                        SELECT DISTINCT ON (s.event_id) s.* FROM staged_events s
                        WHERE NOT EXISTS (
                            SELECT 1 FROM events e
                            WHERE e.day BETWEEN (SELECT min(day) FROM staged_events)
                                            AND (SELECT max(day) FROM staged_events)
                              AND e.event_id = s.event_id
                        )
                        """
                    )
                    inserted = connection.execute("SELECT count(*) FROM fresh").fetchone()
                    connection.execute("INSERT INTO events SELECT * FROM fresh")
                    if order_items is not None and order_items.num_rows:
                        connection.register("staged_items", order_items)
                        connection.execute(
                            "INSERT INTO order_items SELECT i.* FROM staged_items i "
                            "WHERE i.event_id IN (SELECT event_id FROM fresh)"
                        )
                    connection.execute("DROP TABLE fresh")
                for from_person_id, into_person_id, at in merges:
                    _person_merge(connection, from_person_id, into_person_id, at)
                connection.execute("COMMIT")
            except Exception:
                connection.execute("ROLLBACK")
                raise
        return int(inserted[0]) if inserted else 0

    def fetch(
        self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with self.connect() as connection:
            return connection.execute(sql, params or {}).fetchall()

    def fetch_dicts(
        self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        with self.connect() as connection:
            cursor = connection.execute(sql, params or {})
            names = [column[0] for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def export_parquet(self, destination: Path) -> list[Path]:
        """Write events and order lines as Parquet partitioned by day (Hive layout), and the
        OneID merge map beside them (`person_map.parquet`): a reader of the lake joins it the
        way the `*_resolved` views do, or sees a merged customer as two people."""
        destination.mkdir(parents=True, exist_ok=True)
        with self.connect() as connection:
            for table in ("events", "order_items"):
                target = destination / table
                connection.execute(
                    f"COPY (SELECT * FROM {table}) TO '{_sql_path(target)}' "  # noqa: S608
                    "(FORMAT PARQUET, PARTITION_BY (day), OVERWRITE_OR_IGNORE true)"
                )
            connection.execute(
                "COPY (SELECT * FROM person_map ORDER BY from_person_id) "  # noqa: S608
                f"TO '{_sql_path(destination / 'person_map.parquet')}' (FORMAT PARQUET)"
            )
        return sorted(destination.rglob("*.parquet"))


def _person_merge(
    connection: duckdb.DuckDBPyConnection, from_person_id: int, into_person_id: int, at: dt.datetime
) -> None:
    """Record that `from` now lives on as `into`, keeping every mapping pointed at a survivor
    (a later merge of the survivor re-points the earlier ones too)."""
    # `into` may itself have been merged away since (a merge recorded late, or applied by the
    # reconciliation before its own event arrived): point at whoever survives it, so the map
    # stays flat whatever order merges arrive in.
    survivor = connection.execute(
        "SELECT into_person_id FROM person_map WHERE from_person_id = $into",
        {"into": into_person_id},
    ).fetchone()
    if survivor is not None:
        into_person_id = int(survivor[0])
    if from_person_id == into_person_id:
        return
    connection.execute(
        "UPDATE person_map SET into_person_id = $into WHERE into_person_id = $from",
        {"into": into_person_id, "from": from_person_id},
    )
    connection.execute(
        "INSERT INTO person_map VALUES ($from, $into, $at) "
        "ON CONFLICT (from_person_id) DO UPDATE SET into_person_id = excluded.into_person_id, "
        "merged_at = excluded.merged_at",
        {"from": from_person_id, "into": into_person_id, "at": to_naive_utc(at)},
    )
    # The merged-away person's computed tags describe half a person; the survivor's are
    # refreshed by the flush that carried the merge.
    connection.execute("DELETE FROM person_tags WHERE person_id = $from", {"from": from_person_id})


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def event_store() -> EventStore:
    """The store configured for this process (`DATAHUB_STORE_PATH`)."""
    return EventStore(Path(settings.DATAHUB_STORE_PATH))
