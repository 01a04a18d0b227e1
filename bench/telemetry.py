"""Cold-chain telemetry through the HTTP API: loggers post batches of 100 readings
(POST /api/v1/fulfillment/telemetry/readings, device key as a bearer token) to the server as
`manage.py serve` runs it, driven by wrk with every batch sent exactly once; excursion
detection runs on every batch, as in production. Ratio base in the same run, served the same
way: the bare Django JSON view (bench/_http.py).

Each logger's series is mostly inside the chilled band (0–4 °C) with a few warm spells, some
longer than the 30 minutes tolerated: the excursions found must be exactly those. Batches
reach the server in an order that interleaves loggers, and 10 % of them are sent a second time
afterwards (a logger retrying): `duplicated` counts rows that replay added (must be 0), `lost`
readings sent but not stored (must be 0).

Usage: python bench/telemetry.py [--quick] [--db sqlite|postgres] [--connections N] [--workers N]
Keys (one JSON line): readings, batches, seconds, readings_per_s, lost, duplicated, bare_rps,
plus batches_per_s, ratio (batches/s to bare), p50_ms, p99_ms, excursions and expected.
Aim (#16): readings_per_s >= 20,000 (>= 200 batches/s, ~5 % of the bare view).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, emit, setup_django
from _http import BareProject, Request, bare_rps, serving, web_workers, wrk

POSTGRES_BENCH_DB = "freshloop_bench_telemetry"
REDIS_URL = "redis://127.0.0.1:6379/11"
BATCH = 100
ENDPOINT = "/api/v1/fulfillment/telemetry/readings"
ADDRESS = {
    "name": "压测",
    "phone": "13800000000",
    "province": "浙江",
    "city": "杭州",
    "district": "西湖区",
    "detail": "文三路 1 号",
}


def _seed(loggers: int) -> list[str]:
    """One paid order per logger, its chilled parcel, the logger in it (set-up, not measured)."""
    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.core import clock
    from freshloop.core.audit import Actor
    from freshloop.core.tasks import worker_heartbeat_touch
    from freshloop.fulfillment.models import Allocation, AllocationStatus, Carrier, Shipment
    from freshloop.fulfillment.services import device_create
    from freshloop.identity.models import IdentifierType
    from freshloop.identity.services import person_resolve_identifier, phone_normalise
    from freshloop.inventory.services import stock_receive, warehouse_upsert
    from freshloop.orders.services import (
        CheckoutItem,
        CheckoutRequest,
        order_create,
        order_payment_succeeded,
    )

    actor = Actor.system("bench")
    warehouse = warehouse_upsert(
        code="sh", name="上海青浦冷链仓", province="上海", city="上海", chilled=True, frozen=True
    )
    product = product_upsert(
        code="bench-milk",
        name="压测鲜牛奶",
        category=category_upsert(code="dairy", name="乳品"),
        storage=StorageCondition.CHILLED,
        shelf_life_days=7,
    )
    sku = sku_upsert(product=product, code="bench-milk-1", spec="950ml", price_fen=1290)
    stock_receive(sku=sku, warehouse=warehouse, quantity=loggers * 2, actor=actor)
    carrier = Carrier.objects.create(
        code="sf-cold", name="顺丰冷运", supports_chilled=True, supports_frozen=True
    )
    worker_heartbeat_touch()
    keys = []
    for number in range(loggers):
        person = person_resolve_identifier(
            identifier_type=IdentifierType.PHONE,
            value=phone_normalise(str(13900000000 + number)),
            verified=True,
            source="bench",
        ).person
        order, _ = order_create(
            request=CheckoutRequest(
                person=person,
                channel="shop",
                items=[CheckoutItem(sku_id=sku.pk, quantity=1)],
                address=dict(ADDRESS),
            )
        )
        order_payment_succeeded(
            order_no=order.order_no,
            amount_fen=order.total_fen,
            provider="sandbox",
            transaction_id=f"T{order.order_no}",
            paid_at=clock.now(),
        )
        now = clock.now()
        # Payment opened the order's allocation (pending); the bench decides it at once.
        allocation, _ = Allocation.objects.update_or_create(
            order=order,
            defaults={"status": AllocationStatus.ALLOCATED, "decided_at": now},
            create_defaults={
                "status": AllocationStatus.ALLOCATED,
                "created_at": now,
                "decided_at": now,
            },
        )
        shipment = Shipment.objects.create(
            shipment_no=f"PB{number:06d}",
            allocation=allocation,
            order=order,
            warehouse=warehouse,
            carrier=carrier,
            storage=StorageCondition.CHILLED,
            created_at=now,
            updated_at=now,
        )
        code = WARM_UP_LOGGER if number == loggers - 1 else f"BENCH-{number}"
        _, key = device_create(code=code, actor=actor, shipment_id=shipment.pk)
        keys.append(key)
    return keys


def _series(logger: int, count: int, rng: random.Random) -> tuple[list[dict[str, object]], int]:
    """One logger's readings (a minute apart) and how many excursions they hold: every 400
    readings a warm spell, alternately 45 minutes (an excursion) and 20 (tolerated)."""
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    readings = []
    expected = 0
    for minute in range(count):
        spell = minute % 400
        long_spell = (minute // 400) % 2 == 0
        warm = 200 <= spell < (245 if long_spell else 220)
        if spell == 200 and long_spell and minute + 45 < count:
            expected += 1
        celsius = rng.uniform(6.0, 9.0) if warm else rng.uniform(1.0, 3.5)
        readings.append(
            {
                "reading_id": f"{logger}-{minute}",
                "recorded_at": (start + dt.timedelta(minutes=minute)).isoformat(),
                "celsius": round(celsius, 2),
                "humidity": round(rng.uniform(60, 90), 1),
            }
        )
    return readings, expected


def _requests(keys: list[str], per_logger: int) -> tuple[list[Request], int]:
    """Every batch once, loggers interleaved, and within a logger a few batches swapped
    (out of order)."""
    rng = random.Random(20261206)
    per_logger_batches = []
    expected = 0
    for number, key in enumerate(keys):
        readings, found = _series(number, per_logger, rng)
        expected += found
        batches = [readings[i : i + BATCH] for i in range(0, len(readings), BATCH)]
        for index in range(0, len(batches) - 1, 7):
            batches[index], batches[index + 1] = batches[index + 1], batches[index]
        per_logger_batches.append([Request(ENDPOINT, key, {"readings": b}) for b in batches])
    interleaved = []
    for position in range(max(len(b) for b in per_logger_batches)):
        for batches in per_logger_batches:
            if position < len(batches):
                interleaved.append(batches[position])
    return interleaved, expected


WARM_UP_LOGGER = "BENCH-warm"


def _stored() -> tuple[int, int]:
    """Readings and excursions of the measured loggers (the warm-up logger's left out)."""
    from freshloop.fulfillment.models import Excursion, TemperatureReading

    return (
        TemperatureReading.objects.exclude(device__code=WARM_UP_LOGGER).count(),
        Excursion.objects.exclude(shipment__devices__code=WARM_UP_LOGGER).count(),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="20,000 readings (CI smoke)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=web_workers())
    args = parser.parse_args()
    loggers, per_logger = (10, 2_000) if args.quick else (40, 5_000)
    seconds = 3.0 if args.quick else 10.0

    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-telemetry-")
    env = {
        **os.environ,
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": bench_database_url(args.db, data_dir, POSTGRES_BENCH_DB),
        "FRESHLOOP_LOG_LEVEL": "WARNING",
        "FRESHLOOP_ENV": "development",
        "FRESHLOOP_DATAHUB_AUTOFLUSH": "0",
        "REDIS_URL": REDIS_URL,
    }
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    os.environ.update(env)
    setup_django()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    keys = _seed(loggers + 1)
    connections.close_all()
    # The last logger warms every server process up (imports, URL resolver, connections,
    # prepared statements) with real batches before the clock starts; it is not counted.
    warm_up, _ = _requests(keys[-1:], 3_000)
    batches, expected = _requests(keys[:-1], per_logger)
    total = loggers * per_logger
    replay = batches[:: max(1, len(batches) // max(1, len(batches) // 10))]

    with serving(
        "config.asgi:application", env=env, cwd=ROOT, workers=args.workers, ready_path="/livez"
    ) as base:
        wrk(base, warm_up, connections=args.connections, seconds=120, once=True)
        sent = wrk(base, batches, connections=args.connections, seconds=600, once=True)
        stored, excursions = _stored()
        connections.close_all()
        replayed = wrk(base, replay, connections=args.connections, seconds=120, once=True)
        stored_after, excursions_after = _stored()
        connections.close_all()

    bare = BareProject.write(env)
    base_rps = bare_rps(bare, workers=args.workers, connections=args.connections, seconds=seconds)

    batches_per_s = sent.count(200) / sent.seconds
    figures = {
        "db": args.db,
        "workers": args.workers,
        "connections": args.connections,
        "loggers": loggers,
        "readings": total,
        "batches": len(batches),
        "seconds": round(sent.seconds, 2),
        "readings_per_s": round(total / sent.seconds, 1),
        "batches_per_s": round(batches_per_s, 1),
        "p50_ms": sent.p50_ms,
        "p99_ms": sent.p99_ms,
        "lost": total - stored,
        "duplicated": stored_after - stored,
        "replayed_batches": len(replay),
        "excursions": excursions,
        "expected_excursions": expected,
        "bare_rps": round(base_rps, 1),
        "ratio": round(batches_per_s / base_rps, 3),
    }
    emit(figures)
    failed = sent.other_than(200) + replayed.other_than(200)
    if failed or figures["lost"] or figures["duplicated"] or excursions != expected:
        raise SystemExit(
            f"answers {sent.statuses} / replay {replayed.statuses}; lost {figures['lost']}, "
            f"duplicated {figures['duplicated']}, excursions {excursions} "
            f"(after replay {excursions_after}) of {expected}"
        )


if __name__ == "__main__":
    main()
