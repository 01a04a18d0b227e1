"""Computed tags (DH-4): 1,000,000 people / 20,000,000 events → `person_tags` in one SQL pass.

Builds a synthetic event store by SQL in a child process (so the parent's memory high-water
mark is the tag computation's, not the generator's): most events are page views and live-room
events, 10% paid orders (channel, amount, coupon use, region; 1–3 order lines each), 5% of
orders refunded, 1% of people merged into another OneID. Then it times `tags_recompute_all`,
recomputes the RFM scores with pandas from the same rows (only the pandas work is timed) and
checks both agree for every person; finally it refreshes 1,000 people incrementally and checks
their rows equal the full recompute's.

`seconds` is the whole `tags_recompute_all` (every tag, written to `person_tags`);
`pandas_seconds` is pandas scoring RFM alone from a frame already in memory (reading the rows
out of DuckDB is not counted), so `ratio` = pandas_seconds / seconds below 1 means one SQL pass
for every tag costs more than pandas spends on RFM alone.

Usage: python bench/tags.py [--quick] [--people N] [--events N]
Keys: people, events, seconds, peak_mb, pandas_seconds, ratio (+ agreement checks, refresh
timing, cut points, lifecycle counts, build time) — one JSON line. --quick runs 20,000 people /
400,000 events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, peak_mb, setup_django

NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
HISTORY_DAYS = 730
REFRESHED_PEOPLE = 1000

# The generator, in SQL. `i` numbers the events; i % 100 picks the kind, so every hundred
# events hold 10 paid orders, one refund (every other hundred) of the order ten rows earlier,
# live-room events and page views. Everything else comes from hashes of the event number
# (`src`: a refund takes its person, time and amount from the order it refunds).
_EVENTS_SQL = """
INSERT INTO events
WITH base AS (
    SELECT i,
           CASE WHEN i % 100 = 10 AND (i // 100) % 2 = 0 THEN i - 10 ELSE i END AS src,
           CASE
               WHEN i % 100 < 10 THEN 'order_paid'
               WHEN i % 100 = 10 AND (i // 100) % 2 = 0 THEN 'order_refunded'
               WHEN i % 100 BETWEEN 11 AND 17 THEN 'live_join'
               WHEN i % 100 BETWEEN 18 AND 35 THEN 'live_heartbeat'
               WHEN i % 100 BETWEEN 36 AND 41 THEN 'live_comment'
               WHEN i % 100 BETWEEN 42 AND 44 THEN 'live_add_to_cart'
               WHEN i % 100 = 45 THEN 'live_pay'
               WHEN i % 100 BETWEEN 46 AND 70 THEN 'product_view'
               ELSE 'page_view'
           END AS name
    FROM range($events) r(i)
), shaped AS (
    SELECT *,
           -- orders lean towards a minority of loyal people; browsing is spread evenly
           CASE WHEN name IN ('order_paid', 'order_refunded')
                THEN 1 + LEAST($people - 1, FLOOR($people * POW((hash(src, 'p') % 1000000007) / 1000000007.0, 1.6))::BIGINT)
                ELSE 1 + (hash(src, 'p') % $people)::BIGINT
           END AS person_id,
           $now::TIMESTAMP - to_seconds((hash(src, 't') % ($history_days * 86400))::BIGINT)
               + CASE WHEN name = 'order_refunded' THEN INTERVAL 2 DAY ELSE INTERVAL 0 DAY END
               AS occurred_at,
           (990 + hash(src, 'a') % 30000)::BIGINT AS order_amount
    FROM base
)
SELECT 'e' || i AS event_id,
       name,
       (occurred_at + INTERVAL 8 HOUR)::DATE AS day,
       occurred_at,
       occurred_at AS received_at,
       'bench' AS source,
       CASE
           WHEN name = 'order_paid' THEN ['shop', 'shop', 'shop', 'shop', 'live', 'live', 'live',
                                          'groupbuy', 'groupbuy', 'partner'][1 + (hash(src, 'c') % 10)::INTEGER]
           WHEN starts_with(name, 'live_') THEN 'live'
           ELSE 'shop'
       END AS channel,
       person_id,
       NULL AS session_id,
       CASE WHEN starts_with(name, 'live_')
            THEN 'L' || strftime(occurred_at + INTERVAL 8 HOUR, '%Y%m%d') || (hash(i, 's') % 2)::VARCHAR
       END AS live_session,
       CASE WHEN name IN ('order_paid', 'order_refunded') THEN 'o' || src END AS order_no,
       NULL AS sku_id,
       CASE
           WHEN name = 'order_paid' THEN order_amount
           WHEN name = 'order_refunded' THEN order_amount // (1 + hash(i, 'r') % 2)::BIGINT
       END AS amount_fen,
       false AS custom,
       CASE WHEN name = 'order_paid' THEN
           '{"coupon_used":' || CASE WHEN hash(src, 'k') % 8 < person_id % 7 THEN 'true' ELSE 'false' END
           || ',"province":"' || region[1] || '","city":"' || region[2]
           || '","discount_fen":' || (hash(src, 'd') % 500)::VARCHAR || '}'
       ELSE '{}' END AS properties
FROM (
    SELECT *,
           [['浙江', '杭州'], ['上海', '上海'], ['江苏', '南京'], ['广东', '广州'], ['北京', '北京'],
            ['四川', '成都'], ['湖北', '武汉'], ['山东', '青岛'], ['福建', '厦门'], ['广西', '柳州']]
           -- most orders ship to the person's home region, one in ten elsewhere
           [1 + (CASE WHEN hash(src, 'g') % 10 = 0 THEN hash(src, 'h') ELSE hash(person_id, 'home') END % 10)::INTEGER]
               AS region
    FROM shaped
)
"""

_ITEMS_SQL = """
INSERT INTO order_items
SELECT e.event_id, e.order_no, e.day, e.occurred_at, e.channel, e.person_id,
       NULL AS sku_id, NULL AS product_id,
       '商品' || (hash(e.event_id, n) % 500)::VARCHAR AS product_name,
       ['乳品', '水果', '蔬菜', '肉禽', '水产', '烘焙', '零食', '粮油', '饮品', '冻品', '调味', '熟食']
           [1 + ((hash(e.person_id, 'taste') + hash(e.event_id, n) % 4) % 12)::INTEGER] AS category,
       1 + (hash(e.event_id, n, 'q') % 3)::BIGINT AS quantity,
       e.amount_fen // lines AS amount_fen
FROM (
    SELECT *, UNNEST(range(lines)) AS n
    FROM (SELECT *, 1 + (hash(event_id, 'lines') % 3)::BIGINT AS lines FROM events WHERE name = 'order_paid')
) e
"""

# One person in a hundred was merged into the person before them.
_MERGES_SQL = """
INSERT INTO person_map
SELECT i, i - 1, $now::TIMESTAMP - INTERVAL 10 DAY FROM range(100, $people + 1, 100) r(i)
"""


def build_store(path: str, people: int, events: int) -> None:
    """Runs in a child process: fill a fresh store file."""
    setup_django()
    from freshloop.datahub.eventstore.selectors import EventStore, to_naive_utc

    parameters = {"people": people, "events": events, "now": to_naive_utc(NOW)}
    with EventStore(Path(path)).connect() as connection:
        connection.execute(_EVENTS_SQL, {**parameters, "history_days": HISTORY_DAYS})
        connection.execute(_ITEMS_SQL)
        connection.execute(_MERGES_SQL, {"people": people, "now": parameters["now"]})
        connection.execute("CHECKPOINT")


def pandas_rfm(orders: Any, today: dt.date) -> tuple[Any, float]:
    """The RFM definitions of `datahub.tags.computation`, in pandas; returns (per-person frame, seconds)."""
    import numpy as np

    from freshloop.datahub.tags.computation import QUINTILE_CUTS, RFM_WINDOW_DAYS

    started = time.perf_counter()
    paid = orders[orders["name"] == "order_paid"]
    refunds = orders[orders["name"] == "order_refunded"]
    refunded = refunds.dropna(subset=["order_no"]).groupby("order_no")["amount_fen"].sum()
    paid = paid[paid["pid"].notna()]
    days_ago = (np.datetime64(today, "D") - paid["day"].to_numpy().astype("datetime64[D]")).astype(
        np.int64
    )
    in_window = days_ago < RFM_WINDOW_DAYS
    window = paid.loc[in_window, ["pid", "order_no", "amount_fen"]].assign(
        days_ago=days_ago[in_window]
    )
    window["net_fen"] = window["amount_fen"].fillna(0) - window["order_no"].map(refunded).fillna(0)
    rfm = window.groupby("pid").agg(
        recency_days=("days_ago", "min"),
        frequency=("days_ago", "size"),
        monetary_fen=("net_fen", "sum"),
    )
    for column, score, best_high in (
        ("recency_days", "r_score", False),
        ("frequency", "f_score", True),
        ("monetary_fen", "m_score", True),
    ):
        values = rfm[column].to_numpy()
        cuts = np.quantile(values, QUINTILE_CUTS, method="inverted_cdf")
        below = np.searchsorted(cuts, values, side="left")  # cut points strictly below
        rfm[score] = below + 1 if best_high else 5 - below
    return rfm, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="20,000 people / 400,000 events (CI smoke run)"
    )
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    args = parser.parse_args()
    people = args.people or (20_000 if args.quick else 1_000_000)
    events = args.events or (400_000 if args.quick else 20_000_000)

    setup_django()
    import numpy as np

    from freshloop.datahub.eventstore.selectors import EventStore, business_day, to_naive_utc
    from freshloop.datahub.tags.services import tags_recompute_all, tags_refresh_people

    with tempfile.TemporaryDirectory(prefix="bench-tags-") as directory:
        path = Path(directory) / "events.duckdb"
        started = time.perf_counter()
        builder = multiprocessing.get_context("spawn").Process(
            target=build_store, args=(str(path), people, events)
        )
        builder.start()
        builder.join()
        if builder.exitcode != 0:
            raise SystemExit("building the synthetic store failed")
        build_seconds = time.perf_counter() - started
        store = EventStore(path)

        report = tags_recompute_all(store=store, now=NOW)
        tags_peak_mb = peak_mb()

        now = to_naive_utc(NOW)
        with store.connect() as connection:
            stored_events = connection.execute("SELECT COUNT(*) FROM events").fetchone()
            orders = connection.execute(
                "SELECT pid, name, order_no, day, amount_fen FROM events_resolved "
                "WHERE name IN ('order_paid', 'order_refunded') AND occurred_at <= $now",
                {"now": now},
            ).df()
            tagged = connection.execute(
                "SELECT person_id AS pid, recency_days, frequency, monetary_fen, "
                "r_score, f_score, m_score FROM person_tags"
            ).df()
        rfm, pandas_seconds = pandas_rfm(orders, business_day(now))
        del orders

        with_rfm = tagged[tagged["r_score"].notna()].set_index("pid").sort_index()
        rfm = rfm.sort_index()
        columns = ["recency_days", "frequency", "monetary_fen", "r_score", "f_score", "m_score"]
        agree = bool(
            with_rfm.index.equals(rfm.index)
            and all(
                np.array_equal(with_rfm[c].to_numpy(np.int64), rfm[c].to_numpy(np.int64))
                for c in columns
            )
        )

        # Incremental refresh of 1,000 people against the full recompute's rows.
        sample = [int(p) for p in tagged["pid"].sample(REFRESHED_PEOPLE, random_state=7)]
        snapshot_sql = (
            "SELECT * FROM person_tags WHERE person_id IN (SELECT UNNEST($ids)) ORDER BY person_id"
        )
        before = store.fetch(snapshot_sql, {"ids": sample})
        started = time.perf_counter()
        tags_refresh_people(person_ids=sample, store=store, now=NOW)
        refresh_seconds = time.perf_counter() - started
        refresh_agrees = store.fetch(snapshot_sql, {"ids": sample}) == before
        lifecycle = dict(
            store.fetch("SELECT lifecycle, COUNT(*) FROM person_tags GROUP BY 1 ORDER BY 2 DESC")
        )

    emit(
        {
            "people": people,
            "events": int(stored_events[0]) if stored_events else 0,
            "tagged": report.people,
            "with_rfm": report.with_rfm,
            "seconds": round(report.seconds, 3),
            "peak_mb": tags_peak_mb,
            "pandas_seconds": round(pandas_seconds, 3),
            "ratio": round(pandas_seconds / report.seconds, 2),
            "agree": agree,
            "refresh_people": REFRESHED_PEOPLE,
            "refresh_seconds": round(refresh_seconds, 3),
            "refresh_agrees": refresh_agrees,
            "cut_points": report.cut_points,
            "lifecycle": lifecycle,
            "build_seconds": round(build_seconds, 1),
            "peak_mb_with_pandas": peak_mb(),
        }
    )
    if not (agree and refresh_agrees):
        raise SystemExit("the SQL tags and the reference computation disagree")


if __name__ == "__main__":
    main()
