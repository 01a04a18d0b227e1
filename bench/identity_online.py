"""Online identify(): calls per second and p50/p99 latency with 100,000 people already stored,
on SQLite and on PostgreSQL (one JSON line per database).

Call mix per round: 50% a known phone, 30% a known phone with a new device (a link),
20% a brand-new person. `queries_by_kind`: the statements one more call of each kind sends
(BEGIN and COMMIT included, and whatever the after-commit handlers of other modules send),
counted outside the timed loop. The data hub flusher is off, as in the served layout (`make
demo` runs it in a process of its own).

Usage: python bench/identity_online.py [--quick] [--db sqlite|postgres]
(FRESHLOOP_BENCH_POSTGRES_DB names the PostgreSQL database it drops and re-creates.)
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
        connection.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB} WITH (FORCE)")
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
    os.environ["FRESHLOOP_DATAHUB_AUTOFLUSH"] = "0"
    setup_django()
    import random

    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from freshloop.identity.resolver import IdentifierInput, identify

    call_command("migrate", verbosity=0)
    phones = _seed(people)
    rng = random.Random(20260112)
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"known": [], "link": [], "new": []}
    started = time.perf_counter()

    def call_of(kind: str, call: int) -> list[IdentifierInput]:
        phone = rng.choice(phones)
        if kind == "known":
            return [IdentifierInput(type="phone", value=phone, verified=True)]
        if kind == "link":
            return [
                IdentifierInput(type="phone", value=phone, verified=True),
                IdentifierInput(type="device_id", value=f"bench-device-{call}"),
            ]
        return [IdentifierInput(type="device_id", value=f"bench-new-{call}")]

    for call in range(calls):
        roll = rng.random()
        kind = "known" if roll < 0.5 else "link" if roll < 0.8 else "new"
        identifiers = call_of(kind, call)
        before = time.perf_counter()
        identify(identifiers=identifiers, source="live")
        latencies.append(time.perf_counter() - before)
        by_kind[kind].append(latencies[-1])
    elapsed = time.perf_counter() - started
    queries_by_kind: dict[str, int] = {}
    for kind in by_kind:
        identifiers = call_of(kind, calls + len(queries_by_kind))
        with CaptureQueriesContext(connection) as captured:
            identify(identifiers=identifiers, source="live")
        queries_by_kind[kind] = len(captured.captured_queries)
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
            "queries_by_kind": queries_by_kind,
        }
    )
    if db == "postgres":
        from django.db import connection

        connection.close_pool()  # the pool keeps its connections open past close_all()
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB} WITH (FORCE)")


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
