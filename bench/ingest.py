"""Event ingestion through POST /api/v1/track against a real uvicorn server on loopback:
events accepted per second (batches of 500), and how long after the last accepted batch every
event is queryable in the DuckDB store (the server's own flusher moves them there).

`lost` = events the server accepted that never appeared in the store (must be 0).

Usage: python bench/ingest.py [--quick] [--db sqlite|postgres] [--concurrency N]
                              [--flusher process|web]

`--flusher process` (default, the layout docs/datahub.md recommends for a busy server): the web
process only accepts (FRESHLOOP_DATAHUB_AUTOFLUSH=0) and `manage.py datahub_flusher` flushes
beside it; `--flusher web`: the web process's own background thread flushes.
Keys: events, events_per_s, lost, queryable_after_s (one JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, emit, setup_django
from _http import free_port

BATCH = 500
SOURCE_NAME = "压测商城"
NAMES = ["page_view", "product_view", "add_to_cart", "search", "share"]


def _batches(total: int, people: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    events: list[dict[str, Any]] = []
    for number in range(total):
        name = rng.choice(NAMES)
        properties: dict[str, Any] = {
            "page_view": {"path": f"/m/products/{rng.randint(1, 40)}"},
            "product_view": {"product_id": rng.randint(1, 40)},
            "add_to_cart": {"sku_id": rng.randint(1, 40), "quantity": rng.randint(1, 3)},
            "search": {"query": rng.choice(["牛奶", "鸡蛋", "大米", "水饺"])},
            "share": {"target": "wechat"},
        }[name]
        events.append(
            {
                "event_id": f"bench-{seed}-{number}",
                "name": name,
                "occurred_at": (start + dt.timedelta(milliseconds=number)).isoformat(),
                "identifiers": [
                    {"type": "device_id", "value": f"bench-device-{rng.randrange(people)}"}
                ],
                "properties": properties,
            }
        )
    return [json.dumps({"batch": events[i : i + BATCH]}).encode() for i in range(0, total, BATCH)]


async def _send(base: str, key: str, bodies: list[bytes], concurrency: int) -> tuple[int, float]:
    import httpx

    accepted = 0
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def sender() -> None:
            nonlocal accepted
            while queue:
                body = queue.pop()
                response = await client.post(
                    "/api/v1/track",
                    content=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                )
                if response.status_code != 200:
                    raise SystemExit(f"track failed: {response.status_code} {response.text[:300]}")
                accepted += int(response.json()["accepted"])

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return accepted, time.perf_counter() - started


def _stored(store_path: Path) -> int:
    """Events of the bench's own source in the store. The store also holds the system's facts
    the bench causes (one `person_created` per new device's OneID), which are not track events."""
    from freshloop.datahub.eventstore.selectors import EventStore

    found = EventStore(store_path).fetch(
        "SELECT count(*) FROM events WHERE source = $source", {"source": SOURCE_NAME}
    )
    return int(found[0][0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10,000 events (CI smoke)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--flusher", choices=["process", "web"], default="process")
    args = parser.parse_args()
    total = args.events or (10_000 if args.quick else 200_000)
    people = 200 if args.quick else 1_000

    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-ingest-")
    store_path = Path(data_dir) / "events.duckdb"
    env = {
        **os.environ,
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": bench_database_url(args.db, data_dir, "freshloop_bench_ingest"),
        "FRESHLOOP_DATAHUB_STORE": str(store_path),
        "FRESHLOOP_DATAHUB_AUTOFLUSH": "1" if args.flusher == "web" else "0",
        "FRESHLOOP_LOG_LEVEL": "WARNING",
        "FRESHLOOP_ENV": "development",
    }
    os.environ.update(env)
    setup_django()
    from django.core.management import call_command
    from django.db import connections

    from freshloop.core.audit import Actor
    from freshloop.core.tasks import worker_heartbeat_touch
    from freshloop.datahub.ingestion.services import event_source_create

    call_command("migrate", verbosity=0)
    key, _ = event_source_create(actor=Actor.system("bench"), name=SOURCE_NAME, channel="shop")
    worker_heartbeat_touch()
    connections.close_all()
    bodies = _batches(total, people, seed=int(time.time()))

    port = free_port()
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
    flusher = (
        subprocess.Popen(
            [sys.executable, "manage.py", "datahub_flusher", "--interval", "0.5"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        if args.flusher == "process"
        else None
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
        accepted, elapsed = asyncio.run(_send(base, key, bodies, args.concurrency))
        sent_at = time.perf_counter()
        stored = 0
        deadline = sent_at + 300
        while time.perf_counter() < deadline:
            stored = _stored(store_path)
            if stored >= accepted:
                break
            time.sleep(0.1)
        queryable_after = time.perf_counter() - sent_at
    finally:
        server.terminate()
        server.wait(timeout=30)
        if flusher is not None:
            flusher.terminate()
            flusher.wait(timeout=30)
    emit(
        {
            "db": args.db,
            "flusher": args.flusher,
            "events": total,
            "accepted": accepted,
            "batch": BATCH,
            "concurrency": args.concurrency,
            "events_per_s": round(accepted / elapsed, 1),
            "lost": accepted - stored,
            "queryable_after_s": round(queryable_after, 2),
        }
    )
    if accepted != total or stored != accepted:
        raise SystemExit(f"accepted {accepted} of {total}, stored {stored}")


if __name__ == "__main__":
    main()
