"""Online identify(): calls per second and p50/p99 latency with 100,000 people already stored,
on SQLite and on PostgreSQL (one JSON line per database).

Call mix per round: 50% a known phone, 30% a known phone with a new device (a link),
20% a brand-new person. Usage: python bench/identity_online.py [--quick] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, setup_django

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# The bench drops and re-creates this database; several people benchmarking on one server
# each name their own (FRESHLOOP_BENCH_POSTGRES_DB).
POSTGRES_BENCH_DB = os.environ.get("FRESHLOOP_BENCH_POSTGRES_DB", "freshloop_bench_identity")


def _prepare_postgres() -> str:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB}")
        connection.execute(f"CREATE DATABASE {POSTGRES_BENCH_DB}")
    return f"postgres://postgres@127.0.0.1:5432/{POSTGRES_BENCH_DB}"


def _seed(people: int) -> list[str]:
    """Bulk-load people with one verified phone each (setup only, not what is measured)."""
    from freshloop.core import clock
    from freshloop.identity.models import Identifier, Person
    from freshloop.identity.resolver import identifier_index

    now = clock.now()
    phones = [f"+86139{index:08d}" for index in range(people)]
    batch = 5000
    for start in range(0, people, batch):
        chunk = phones[start : start + batch]
        created = Person.objects.bulk_create(
            [Person(source="bench", created_at=now, updated_at=now) for _ in chunk]
        )
        Identifier.objects.bulk_create(
            [
                Identifier(
                    person=person,
                    type="phone",
                    scope="",
                    value=phone,
                    value_index=identifier_index("phone", phone),
                    verified=True,
                    source="bench",
                    created_at=now,
                )
                for person, phone in zip(created, chunk, strict=True)
            ]
        )
    return phones


def _percentile_ms(ordered: list[float], fraction: float) -> float:
    return round(ordered[max(0, int(len(ordered) * fraction) - 1)] * 1000, 2) if ordered else 0.0


def run_one(db: str, people: int, calls: int) -> None:
    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-")
    os.environ["FRESHLOOP_DATA_DIR"] = data_dir
    if db == "postgres":
        os.environ["DATABASE_URL"] = _prepare_postgres()
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{data_dir}/bench.sqlite3"
    os.environ["FRESHLOOP_LOG_LEVEL"] = "WARNING"
    setup_django()
    import random

    from django.core.management import call_command

    from freshloop.identity.resolver import IdentifierInput, identify

    call_command("migrate", verbosity=0)
    phones = _seed(people)
    rng = random.Random(20260112)
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"known": [], "link": [], "new": []}
    started = time.perf_counter()
    for call in range(calls):
        roll = rng.random()
        phone = rng.choice(phones)
        if roll < 0.5:
            kind = "known"
            identifiers = [IdentifierInput(type="phone", value=phone, verified=True)]
        elif roll < 0.8:
            kind = "link"
            identifiers = [
                IdentifierInput(type="phone", value=phone, verified=True),
                IdentifierInput(type="device_id", value=f"bench-device-{call}"),
            ]
        else:
            kind = "new"
            identifiers = [IdentifierInput(type="device_id", value=f"bench-new-{call}")]
        before = time.perf_counter()
        identify(identifiers=identifiers, source="live")
        latencies.append(time.perf_counter() - before)
        by_kind[kind].append(latencies[-1])
    elapsed = time.perf_counter() - started
    latencies.sort()
    emit(
        {
            "db": db,
            "people": people,
            "calls": calls,
            "calls_per_s": round(calls / elapsed, 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": _percentile_ms(latencies, 0.99),
            "p99_ms_by_kind": {
                kind: _percentile_ms(sorted(values), 0.99) for kind, values in by_kind.items()
            },
        }
    )
    if db == "postgres":
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10,000 people, 300 calls")
    parser.add_argument("--db", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    people, calls = (10_000, 300) if args.quick else (100_000, 3_000)
    if args.db:
        run_one(args.db, people, calls)
        return
    # Each database in its own process: Django settings are fixed once per process.
    for db in ("sqlite", "postgres"):
        command = [sys.executable, __file__, "--db", db] + (["--quick"] if args.quick else [])
        subprocess.run(command, check=True)  # noqa: S603 (re-runs this very script)


if __name__ == "__main__":
    main()
