"""Checkout through the HTTP API: orders per second and p50/p99 latency for many buyers on many
SKUs, against a real uvicorn server on loopback; the same server's trivial endpoint (/healthz)
is measured in the same run as the ratio base.

Every order goes the whole way: price (campaigns, member benefits), reserve stock, write the
order, its lines and timeline, audit — one transaction per request, as in production.

Usage: python bench/checkout.py [--quick] [--db sqlite|postgres] [--concurrency N]
Keys: orders_per_s, p50_ms, p99_ms, trivial_rps, ratio (one JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit, setup_django

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH_DB = "freshloop_bench_checkout"
ADDRESS = {
    "name": "压测",
    "phone": "13800000000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare_database(db: str, data_dir: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{data_dir}/bench.sqlite3"
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB}")
        connection.execute(f"CREATE DATABASE {POSTGRES_BENCH_DB}")
    return f"postgres://postgres@127.0.0.1:5432/{POSTGRES_BENCH_DB}"


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


async def _measure(
    base: str, tokens: list[str], sku_ids: list[int], concurrency: int
) -> dict[str, float]:
    import httpx

    rng = random.Random(20261125)
    plans = [
        (
            token,
            [
                {"sku_id": sku_id, "quantity": rng.randint(1, 3)}
                for sku_id in rng.sample(sku_ids, rng.randint(1, 3))
            ],
        )
        for token in tokens
    ]
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[tuple[str, list[dict[str, int]]]] = asyncio.Queue()
    for plan in plans:
        queue.put_nowait(plan)

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def buyer() -> None:
            nonlocal failures
            while not queue.empty():
                token, items = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/shop/orders",
                    json={"items": items, "address": ADDRESS},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": token[:32]},
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    failures += 1
                    if failures <= 3:
                        print(
                            f"failed order: {response.status_code} {response.text[:300]}",
                            file=sys.stderr,
                        )

        started = time.perf_counter()
        await asyncio.gather(*(buyer() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started

        trivial_requests = max(500, len(tokens))
        trivial_queue = list(range(trivial_requests))

        async def prober() -> None:
            while trivial_queue:
                trivial_queue.pop()
                await client.get("/healthz")

        trivial_started = time.perf_counter()
        await asyncio.gather(*(prober() for _ in range(concurrency)))
        trivial_elapsed = time.perf_counter() - trivial_started

    latencies.sort()
    orders_per_s = (len(plans) - failures) / elapsed
    trivial_rps = trivial_requests / trivial_elapsed
    return {
        "orders": len(plans),
        "failed": failures,
        "orders_per_s": round(orders_per_s, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1),
        "trivial_rps": round(trivial_rps, 1),
        "ratio": round(orders_per_s / trivial_rps, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 buyers on 50 SKUs (CI smoke)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    buyers, skus = (200, 50) if args.quick else (1000, 200)

    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-checkout-")
    env = {
        **os.environ,
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": _prepare_database(args.db, data_dir),
        "FRESHLOOP_LOG_LEVEL": "WARNING",
        "FRESHLOOP_ENV": "development",
    }
    os.environ.update(env)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tokens = _seed(buyers, skus)
    from freshloop.catalog.models import Sku

    sku_ids = list(Sku.objects.values_list("pk", flat=True))
    from django.db import connections

    connections.close_all()

    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        import httpx

        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code in {200, 503}:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        figures = asyncio.run(_measure(base, tokens, sku_ids, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)
    emit(
        {"db": args.db, "buyers": buyers, "skus": skus, "concurrency": args.concurrency, **figures}
    )
    if figures["failed"]:
        raise SystemExit(f"{figures['failed']} orders failed")


if __name__ == "__main__":
    main()
