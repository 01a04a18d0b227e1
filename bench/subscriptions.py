"""Smart subscriptions (#17, FD-1): N active subscriptions due today turned into orders by the
subscription job, every order through `orders.services.order_create` (pricing with the
subscription price, stock reservation, timeline, audit, the pay-now message in the outbox),
one transaction per subscription; then the job runs again and must order nothing.

Ratio base in the same process and run, on the same database: the **minimal order
transaction** of the crowds issue (bench/_http.py's bare `/order`: three conditional stock
decrements in key order, one price read, an order row, its lines in one insert, an audit row,
an outbox row), executed in-process, one transaction per order, no HTTP.

Usage: python bench/subscriptions.py [--quick] [--db postgres|sqlite] (postgres by default) [--subscriptions N]
        [--lines L]
Keys: subscriptions, orders, seconds, orders_per_s, failed, duplicated, min_order_per_s,
ratio_to_min (one JSON line). `--quick`: 200 subscriptions on SQLite unless --db says otherwise (CI's `make bench-quick`);
default 100,000. Each subscription holds `--lines` SKUs (3, the base's shape). Aim: ratio ≥ 0.4.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_database_url, emit, setup_django

POSTGRES_BENCH_DB = "freshloop_bench_subscriptions"
SKUS = 30
TODAY = dt.date(2026, 12, 7)
NOW = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
ADDRESS = {
    "name": "压测",
    "phone": "13800000000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}

_parser = argparse.ArgumentParser()
_parser.add_argument("--quick", action="store_true")
_parser.add_argument("--db", choices=["postgres", "sqlite"], default=None)
_parser.add_argument("--subscriptions", type=int, default=0)
_parser.add_argument("--lines", type=int, default=3)
ARGS = _parser.parse_args()
# The figure is on PostgreSQL; CI's quick smoke run defaults to SQLite, as the other
# benches do, so it needs no database server.
ARGS.db = ARGS.db or ("sqlite" if ARGS.quick else "postgres")
_data_dir = tempfile.mkdtemp(prefix="freshloop-bench-subs-")
os.environ["FRESHLOOP_DATA_DIR"] = _data_dir
os.environ["DATABASE_URL"] = bench_database_url(ARGS.db, _data_dir, POSTGRES_BENCH_DB)
os.environ["FRESHLOOP_LOG_LEVEL"] = "WARNING"
setup_django()


def seed(n: int, lines: int) -> list[int]:
    """SKUs with deep stock, n households each with one subscription due in two days (the
    order lead time) — set-up, not measured. People are bulk-inserted: the identity service's
    per-person work is not what this measures."""
    from django.core.management import call_command

    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.core.audit import Actor
    from freshloop.core.ids import new_id
    from freshloop.food.models import Subscription
    from freshloop.food.services import subscription_discount_set
    from freshloop.identity.models import Person
    from freshloop.inventory.services import stock_receive, warehouse_upsert

    call_command("migrate", verbosity=0)
    actor = Actor.system("bench")
    warehouse = warehouse_upsert(
        code="sh", name="上海仓", province="上海", city="上海", chilled=True, frozen=True
    )
    category = category_upsert(code="dairy", name="乳品")
    sku_ids = []
    for number in range(SKUS):
        product = product_upsert(
            code=f"milk{number}",
            name=f"鲜牛奶{number}",
            category=category,
            storage=StorageCondition.CHILLED,
            shelf_life_days=7,
            channels=("shop",),
        )
        sku = sku_upsert(product=product, code=f"milk{number}", spec="250ml×12", price_fen=5990)
        stock_receive(sku=sku, warehouse=warehouse, quantity=n * lines, actor=actor)
        if number % 2 == 0:
            subscription_discount_set(product_id=product.pk, percent_off=5, actor=actor)
        sku_ids.append(sku.pk)
    people = Person.objects.bulk_create(
        [
            Person(one_id=new_id("P"), source="bench", created_at=NOW, updated_at=NOW)
            for _ in range(n)
        ],
        batch_size=2000,
    )
    due = TODAY + dt.timedelta(days=2)
    Subscription.objects.bulk_create(
        [
            Subscription(
                subscription_no=new_id("SUB"),
                person=person,
                items=[
                    {"sku_id": sku_ids[(index + k) % SKUS], "quantity": 1} for k in range(lines)
                ],
                title="鲜牛奶 250ml×12",
                address=ADDRESS,
                cadence_kind="every_days",
                cadence_value=9,
                next_delivery_date=due,
                created_at=NOW,
                updated_at=NOW,
            )
            for index, person in enumerate(people)
        ],
        batch_size=2000,
    )
    return sku_ids


def minimal_orders(n: int, sku_ids: list[int]) -> float:
    """bench/_http.py's minimal order transaction, in-process: orders per second."""
    from django.db import connection, transaction

    serial = "INTEGER" if connection.vendor == "sqlite" else "BIGSERIAL"
    tables = [
        "CREATE TABLE bare_stock (sku_id INTEGER PRIMARY KEY, available INTEGER NOT NULL)",
        "CREATE TABLE bare_price (sku_id INTEGER PRIMARY KEY, price_fen INTEGER NOT NULL)",
        f"CREATE TABLE bare_order (id {serial} PRIMARY KEY, order_no VARCHAR(40) UNIQUE NOT NULL, "
        "buyer VARCHAR(64) NOT NULL, total_fen INTEGER NOT NULL, created_at VARCHAR(40) NOT NULL)",
        f"CREATE TABLE bare_order_line (id {serial} PRIMARY KEY, order_id INTEGER NOT NULL, "
        "sku_id INTEGER NOT NULL, quantity INTEGER NOT NULL, price_fen INTEGER NOT NULL)",
        f"CREATE TABLE bare_audit (id {serial} PRIMARY KEY, action VARCHAR(40) NOT NULL, "
        "target VARCHAR(40) NOT NULL, created_at VARCHAR(40) NOT NULL)",
        f"CREATE TABLE bare_outbox (id {serial} PRIMARY KEY, topic VARCHAR(40) NOT NULL, "
        "payload TEXT NOT NULL, created_at VARCHAR(40) NOT NULL)",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for name in ("stock", "price", "order", "order_line", "audit", "outbox"):
            cursor.execute(f"DROP TABLE IF EXISTS bare_{name}")
        for statement in tables:
            cursor.execute(statement)
        cursor.executemany(
            "INSERT INTO bare_stock (sku_id, available) VALUES (%s, %s)",
            [(sku_id, n * 3) for sku_id in sku_ids],
        )
        cursor.executemany(
            "INSERT INTO bare_price (sku_id, price_fen) VALUES (%s, %s)",
            [(sku_id, 5990) for sku_id in sku_ids],
        )
    started = time.perf_counter()
    for number in range(n):
        items = sorted(sku_ids[(number + k) % len(sku_ids)] for k in range(3))
        now = dt.datetime.now(dt.UTC).isoformat()
        with transaction.atomic(), connection.cursor() as cursor:
            for sku_id in items:
                cursor.execute(
                    "UPDATE bare_stock SET available = available - %s "
                    "WHERE sku_id = %s AND available >= %s",
                    [1, sku_id, 1],
                )
                assert cursor.rowcount == 1
            marks = ", ".join(["%s"] * len(items))
            cursor.execute(
                f"SELECT sku_id, price_fen FROM bare_price WHERE sku_id IN ({marks})",  # noqa: S608
                items,
            )
            prices = dict(cursor.fetchall())
            total = sum(prices.values())
            cursor.execute(
                "INSERT INTO bare_order (order_no, buyer, total_fen, created_at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                [f"B{number}", f"buyer{number}", total, now],
            )
            order_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO bare_order_line (order_id, sku_id, quantity, price_fen) VALUES "  # noqa: S608
                + ", ".join(["(%s, %s, %s, %s)"] * len(items)),
                [v for sku_id in items for v in (order_id, sku_id, 1, prices[sku_id])],
            )
            cursor.execute(
                "INSERT INTO bare_audit (action, target, created_at) VALUES (%s, %s, %s)",
                ["order.create", str(order_id), now],
            )
            cursor.execute(
                "INSERT INTO bare_outbox (topic, payload, created_at) VALUES (%s, %s, %s)",
                ["order.created", json.dumps({"order_id": order_id, "total_fen": total}), now],
            )
    return n / (time.perf_counter() - started)


def main() -> None:
    from django.db.models import Count

    from freshloop.core import clock
    from freshloop.food.models import SubscriptionDelivery, SubscriptionDeliveryStatus
    from freshloop.food.services import subscriptions_run
    from freshloop.orders.models import Order

    n = ARGS.subscriptions or (200 if ARGS.quick else 100_000)
    sku_ids = seed(n, ARGS.lines)
    with clock.frozen(NOW):
        started = time.perf_counter()
        first = subscriptions_run(today=TODAY)
        seconds = time.perf_counter() - started
        second = subscriptions_run(today=TODAY)  # a rerun must order nothing
    min_order_per_s = minimal_orders(min(n, 20_000), sku_ids)
    orders = Order.objects.filter(source_ref__startswith="subscription:")
    duplicated = orders.values("source_ref").annotate(times=Count("pk")).filter(times__gt=1).count()
    placed = orders.count()
    failed = SubscriptionDelivery.objects.exclude(status=SubscriptionDeliveryStatus.PLACED).count()
    emit(
        {
            "bench": "subscriptions",
            "db": ARGS.db,
            "subscriptions": n,
            "lines": ARGS.lines,
            "orders": placed,
            "seconds": round(seconds, 2),
            "orders_per_s": round(len(first.placed) / seconds, 1),
            "failed": failed,
            "duplicated": duplicated,
            "rerun_orders": len(second.placed),
            "min_order_per_s": round(min_order_per_s, 1),
            "ratio_to_min": round(len(first.placed) / seconds / min_order_per_s, 3),
        }
    )


if __name__ == "__main__":
    main()
