"""Flash sale through the HTTP API: thousands of buyers (each a different person with a consumer
token) tap "buy" on one SKU at the same moment, against a real uvicorn server on loopback —
once embedded (the gate is a conditional UPDATE in the database) and once with the Redis gate
(atomic Lua reservation, settled to the database). The same server's trivial endpoint
(/healthz) is measured in the same run as the ratio base.

Every winner gets a real unpaid order at the flash price (price explained, stock reserved,
claim recorded, audit) in one transaction; losers get 409 flash_sale_sold_out. Units sold are
counted from the database afterwards; `oversold` is max(0, sold - units) plus every stock level
whose reservations exceed what is on hand, plus any mismatch between claims and order lines.

Usage: python bench/flash_sale.py [--quick] [--mode embedded|redis|both] [--db sqlite|postgres]
Keys (one JSON line per mode): mode, buyers, units, sold, oversold, orders_per_s, p50_ms,
p99_ms, trivial_rps, ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit, setup_django

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH_DB = "freshloop_bench_flash_sale"
REDIS_URL = "redis://127.0.0.1:6379/14"
LIST_PRICE_FEN = 2990
FLASH_PRICE_FEN = 990
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


def _seed(buyers: int, units: int) -> tuple[int, list[str]]:
    """One SKU with exactly `units` in stock, a live session with a flash sale of all of them
    (one per person), and `buyers` people with consumer tokens (set-up, not measured)."""
    from django.contrib.auth.models import User

    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.core import clock
    from freshloop.core.audit import Actor
    from freshloop.core.tasks import worker_heartbeat_touch
    from freshloop.identity.models import IdentifierType
    from freshloop.identity.services import (
        consumer_token_issue,
        person_resolve_identifier,
        phone_normalise,
    )
    from freshloop.inventory.services import stock_receive, warehouse_upsert
    from freshloop.live.flash_sale.services import flash_sale_start
    from freshloop.live.host.services import live_session_start
    from freshloop.live.room.services import live_session_create

    actor = Actor.system("bench")
    warehouse = warehouse_upsert(
        code="sh", name="上海仓", province="上海", city="上海", chilled=True, frozen=True
    )
    category = category_upsert(code="bench", name="压测")
    product = product_upsert(
        code="bench-flash",
        name="秒杀草莓",
        category=category,
        storage=StorageCondition.CHILLED,
        shelf_life_days=7,
    )
    sku = sku_upsert(product=product, code="bench-flash-1", spec="500g", price_fen=LIST_PRICE_FEN)
    stock_receive(sku=sku, warehouse=warehouse, quantity=units, actor=actor)
    host = User.objects.create_user(username="bench-host")
    session = live_session_create(
        title="压测直播", host=host, scheduled_at=clock.now(), sku_ids=[sku.pk], actor=actor
    )
    session = live_session_start(session=session, actor=actor)
    sale = flash_sale_start(
        session=session,
        sku=sku,
        price_fen=FLASH_PRICE_FEN,
        quantity=units,
        per_user_limit=1,
        duration_seconds=3600,
        actor=actor,
    )
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
    return sale.pk, tokens


async def _measure(
    base: str, sale_id: int, tokens: list[str], connections: int
) -> dict[str, float | int]:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        start_line = asyncio.Event()

        async def buyer(token: str) -> None:
            await start_line.wait()
            started = time.perf_counter()
            for attempt in range(3):
                try:
                    response = await client.post(
                        f"/api/v1/live/flash-sales/{sale_id}/buy",
                        json={"quantity": 1, "address": ADDRESS},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": token[:32]},
                    )
                    break
                except httpx.TransportError:
                    # A dropped connection: retry with the same key, as a real client would.
                    if attempt == 2:
                        raise
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code not in {201, 409} and statuses[response.status_code] <= 3:
                print(f"unexpected: {response.status_code} {response.text[:300]}", file=sys.stderr)

        tasks = [asyncio.create_task(buyer(token)) for token in tokens]
        await asyncio.sleep(0)
        started = time.perf_counter()
        start_line.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started

        trivial_requests = max(500, len(tokens))
        trivial_queue = list(range(trivial_requests))

        async def prober() -> None:
            while trivial_queue:
                trivial_queue.pop()
                await client.get("/healthz")

        trivial_started = time.perf_counter()
        await asyncio.gather(*(prober() for _ in range(min(connections, trivial_requests))))
        trivial_elapsed = time.perf_counter() - trivial_started

    latencies.sort()
    won = statuses.get(201, 0)
    orders_per_s = won / elapsed
    trivial_rps = trivial_requests / trivial_elapsed
    return {
        "won": won,
        "refused": statuses.get(409, 0),
        "errors": sum(count for status, count in statuses.items() if status not in {201, 409}),
        "elapsed_s": round(elapsed, 2),
        "orders_per_s": round(orders_per_s, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1),
        "trivial_rps": round(trivial_rps, 1),
        "ratio": round(orders_per_s / trivial_rps, 3),
    }


def _count_sold(sale_id: int, units: int) -> dict[str, int]:
    """What the database says after the run (the truth, not what the clients saw)."""
    from django.db.models import F, Sum

    from freshloop.inventory.models import StockLevel
    from freshloop.live.flash_sale.selectors import flash_sale_pending_count
    from freshloop.live.models import ClaimStatus, FlashSale, FlashSaleClaim
    from freshloop.orders.models import OrderLine

    sale = FlashSale.objects.get(pk=sale_id)
    claims = FlashSaleClaim.objects.filter(
        flash_sale=sale, status__in=[ClaimStatus.HELD, ClaimStatus.PAID]
    )
    sold = claims.aggregate(units=Sum("quantity"))["units"] or 0
    in_orders = (
        OrderLine.objects.filter(
            order__order_no__in=claims.values("order_ref"), sku_id=sale.sku_id
        ).aggregate(units=Sum("quantity"))["units"]
        or 0
    )
    stock_violations = StockLevel.objects.filter(reserved__gt=F("on_hand")).count()
    over_limit = sum(
        1
        for row in claims.values("person_id").annotate(units=Sum("quantity"))
        if row["units"] > sale.per_user_limit
    )
    oversold = (
        max(0, sold - units)
        + stock_violations
        + abs(in_orders - sold)
        + abs(sale.claimed - sold)
        + over_limit
    )
    pending = flash_sale_pending_count(flash_sale_id=sale_id)
    return {"sold": sold, "oversold": oversold, "pending_left": pending}


def run_mode(mode: str, *, quick: bool, db: str, connections: int) -> None:
    buyers, units = (300, 100) if quick else (2000, 500)
    data_dir = tempfile.mkdtemp(prefix=f"freshloop-bench-flash-{mode}-")
    env = {
        **os.environ,
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": _prepare_database(db, data_dir),
        "FRESHLOOP_LOG_LEVEL": "ERROR",  # 409 sold-out answers are expected here
        "FRESHLOOP_ENV": "development",
        "REDIS_URL": REDIS_URL if mode == "redis" else "",
    }
    if mode == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    os.environ.update(env)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    sale_id, tokens = _seed(buyers, units)
    from django.db import connections as db_connections

    db_connections.close_all()

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
            "--backlog",
            "4096",
            "--timeout-keep-alive",
            "120",
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
        figures = asyncio.run(_measure(base, sale_id, tokens, connections))
    finally:
        server.terminate()
        server.wait(timeout=10)
    counted = _count_sold(sale_id, units)
    emit(
        {
            "mode": mode,
            "buyers": buyers,
            "units": units,
            "sold": counted["sold"],
            "oversold": counted["oversold"],
            "orders_per_s": figures["orders_per_s"],
            "p50_ms": figures["p50_ms"],
            "p99_ms": figures["p99_ms"],
            "trivial_rps": figures["trivial_rps"],
            "ratio": figures["ratio"],
            "db": db,
            "won": figures["won"],
            "refused": figures["refused"],
            "errors": figures["errors"],
            "elapsed_s": figures["elapsed_s"],
            "pending_left": counted["pending_left"],
        }
    )
    if counted["oversold"] or counted["sold"] != units or figures["errors"]:
        raise SystemExit(f"{mode}: sold {counted['sold']} of {units}, {figures['errors']} errors")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="300 buyers on 100 units (CI smoke)")
    parser.add_argument("--mode", choices=["embedded", "redis", "both"], default="both")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    # All buyers fire at once; they share a bounded pool of keep-alive connections, as they
    # would behind a front proxy. A single uvicorn worker thrashes with hundreds of requests in
    # flight (one thread each for Django's middleware): 256 connections measured ~3x slower.
    parser.add_argument(
        "--connections", type=int, default=32, help="HTTP connections the buyers share"
    )
    args = parser.parse_args()
    if args.mode != "both":
        run_mode(args.mode, quick=args.quick, db=args.db, connections=args.connections)
        return
    # Each mode in its own process: Django reads REDIS_URL once, at start-up.
    failed = False
    for mode in ("embedded", "redis"):
        command = [sys.executable, __file__, "--mode", mode, "--db", args.db]
        command += ["--connections", str(args.connections)] + (["--quick"] if args.quick else [])
        failed |= subprocess.run(command, check=False).returncode != 0  # noqa: S603
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
