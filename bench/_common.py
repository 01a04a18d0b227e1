"""Shared helpers for benchmarks: each benchmark prints exactly one JSON line per measurement."""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent

# bench/http.py shares its name with the standard library's `http`: with this folder first on the
# path (as it is for every script run from it), `import http.client` would find the benchmark.
# The folder goes last, so the standard library wins and `_common`/`_http` are still found.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.append(str(BENCH))


def setup_django(environment: str = "development") -> None:
    """Make the project importable and configure Django (benchmarks run outside pytest)."""
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("FRESHLOOP_ENV", environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, ensure_ascii=False), flush=True)


def bench_database_url(db: str, data_dir: str, postgres_name: str) -> str:
    """A fresh database for one benchmark run: a SQLite file in `data_dir`, or the PostgreSQL
    database `postgres_name` dropped (with its connections) and created again."""
    if db == "sqlite":
        return f"sqlite:///{data_dir}/bench.sqlite3"
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {postgres_name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {postgres_name}")
    return f"postgres://postgres@127.0.0.1:5432/{postgres_name}"
