"""Checkout through the HTTP API: orders per second and p50/p99 latency for many buyers (three
SKUs each) against the server as `manage.py serve` runs it, driven by wrk with 32 requests in
flight (bench/_http.py). Ratio bases in the same run, served the same way: the **minimal order
transaction** of a bare Django project (three conditional stock decrements, a price read, an
order row, its lines in one insert, an audit row, an outbox row) and its bare JSON view.

Every order goes the whole way: price (campaigns, member benefits), reserve stock, write the
order, its lines and timeline, audit — one transaction per request, as in production.

Usage: python bench/checkout.py [--quick] [--db sqlite|postgres] [--concurrency N] [--workers N]
Keys: orders_per_s, p50_ms, p99_ms, trivial_rps (/healthz), ratio (to it), bare_rps,
min_order_rps, ratio_to_min, cpu_ms_per_order and min_order_cpu_ms (CPU time per order by kind
of process: app, postgres, redis, wrk) (one JSON line). Aim (#13): ratio_to_min >= 0.4, p99 < 1 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, emit, setup_django
from _http import BareProject, Request, bare_rps, serving, web_workers, wrk

POSTGRES_BENCH_DB = "freshloop_bench_checkout"
REDIS_URL = "redis://127.0.0.1:6379/10"
ADDRESS = {
    "name": "压测",
    "phone": "13800000000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}


def _seed(buyers: int, skus: int) -> list[str]:
    """SKUs with deep stock in one warehouse, buyers with consumer tokens (set-up, not measured)."""
    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.core.audit import Actor
    from freshloop.core.tasks import worker_heartbeat_touch
    from freshloop.identity.models import IdentifierType
    from freshloop.identity.services import (
        consumer_token_issue,
        person_resolve_identifier,
        phone_normalise,
    )
    from freshloop.inventory.services import stock_receive, warehouse_upsert

    actor = Actor.system("bench")
    warehouse = warehouse_upsert(
        code="sh", name="上海仓", province="上海", city="上海", chilled=True, frozen=True
    )
    category = category_upsert(code="bench", name="压测")
    for number in range(skus):
        product = product_upsert(
            code=f"bench-{number}",
            name=f"压测商品{number}",
            category=category,
            storage=StorageCondition.CHILLED if number % 2 else StorageCondition.AMBIENT,
            shelf_life_days=30,
        )
        sku = sku_upsert(
            product=product, code=f"bench-sku-{number}", spec="1件", price_fen=990 + number * 10
        )
        stock_receive(sku=sku, warehouse=warehouse, quantity=100_000, actor=actor)
    worker_heartbeat_touch()
    tokens = []
    for number in range(buyers):
        person = person_resolve_identifier(
            identifier_type=IdentifierType.PHONE,
            value=phone_normalise(str(13900000000 + number)),
            verified=True,
            source="bench",
        ).person
        tokens.append(consumer_token_issue(person=person, method="bench")[0])
    return tokens


def _plans(tokens: list[str], sku_ids: list[int]) -> list[tuple[str, list[dict[str, int]]]]:
    """Each buyer's basket: three SKUs (the minimal order transaction's three decrements)."""
    rng = random.Random(20261125)
    return [
        (
            token,
            [
                {"sku_id": sku_id, "quantity": rng.randint(1, 3)}
                for sku_id in rng.sample(sku_ids, 3)
            ],
        )
        for token in tokens
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 buyers on 50 SKUs (CI smoke)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=web_workers())
    args = parser.parse_args()
    buyers, skus = (200, 50) if args.quick else (1000, 200)

    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-checkout-")
    env = {
        **os.environ,
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": bench_database_url(args.db, data_dir, POSTGRES_BENCH_DB),
        "FRESHLOOP_LOG_LEVEL": "WARNING",
        "FRESHLOOP_ENV": "development",
        "REDIS_URL": REDIS_URL,
    }
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    os.environ.update(env)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tokens = _seed(buyers, skus)
    from freshloop.catalog.models import Sku

    sku_ids = list(Sku.objects.values_list("pk", flat=True))
    from django.db import connections

    connections.close_all()

    plans = _plans(tokens, sku_ids)
    orders = [
        Request("/api/v1/shop/orders", token, {"items": items, "address": ADDRESS})
        for token, items in plans
    ]
    seconds = 5.0 if args.quick else 15.0
    with serving(
        "config.asgi:application", env=env, cwd=ROOT, workers=args.workers, ready_path="/livez"
    ) as base:
        wrk(base, orders[:50], connections=args.concurrency, seconds=1)  # warm-up
        placed = wrk(base, orders, connections=args.concurrency, seconds=seconds)
        trivial = wrk(base, [Request("/healthz")], connections=args.concurrency, seconds=seconds)

    bare = BareProject.write(env)
    bare.create_tables(sku_ids, stock=10_000_000)
    with bare.serving(args.workers) as base:
        minimal = [Request("/order", "", {"items": items}) for _, items in plans]
        wrk(base, minimal[:50], connections=args.concurrency, seconds=1)  # warm-up
        floor = wrk(base, minimal, connections=args.concurrency, seconds=seconds)
    base_rps = bare_rps(bare, workers=args.workers, connections=args.concurrency, seconds=seconds)

    orders_per_s = placed.count(201) / placed.seconds
    min_order_rps = floor.count(201) / floor.seconds
    failed = placed.other_than(201) + floor.other_than(201)
    emit(
        {
            "db": args.db,
            "buyers": buyers,
            "skus": skus,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "orders": placed.count(201),
            "failed": placed.other_than(201),
            "orders_per_s": round(orders_per_s, 1),
            "p50_ms": placed.p50_ms,
            "p99_ms": placed.p99_ms,
            "trivial_rps": round(trivial.rps, 1),
            "ratio": round(orders_per_s / trivial.rps, 3),
            "bare_rps": round(base_rps, 1),
            "min_order_rps": round(min_order_rps, 1),
            "min_order_p99_ms": floor.p99_ms,
            "ratio_to_min": round(orders_per_s / min_order_rps, 3),
            "cpu_ms_per_order": placed.cpu_ms_per(placed.count(201)),
            "min_order_cpu_ms": floor.cpu_ms_per(floor.count(201)),
        }
    )
    if failed:
        raise SystemExit(f"failed: {placed.statuses} (checkout), {floor.statuses} (minimal order)")


if __name__ == "__main__":
    main()
