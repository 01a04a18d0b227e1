"""The `DATABASES["default"]` entry for a database URL — shared by the project's settings and the
benchmarks' bare Django project, so that the ratio base talks to its database the same way.

PostgreSQL gets Django's connection pool (psycopg_pool) sized to the threads of one server
process: a plain request borrows a connection for its length and gives it back, so a request no
longer pays a new connection (about 2–3 ms on loopback, more over a network). SQLite keeps one
connection per thread (opening one per request costs the PRAGMAs each time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url


def database_settings(
    url: str, *, data_dir: Path, pool_max: int, persistent: bool = True
) -> dict[str, Any]:
    """Django's settings for the database at `url`.

    `pool_max` 0 turns PostgreSQL's pool off (then connections live up to a minute per thread);
    `persistent` False closes every connection at the end of its request (the test run, whose
    live servers and threads come and go).
    """
    database: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    database["CONN_MAX_AGE"] = 60 if persistent else 0
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = str(database["NAME"])
        if name not in {"", ":memory:"} and not name.startswith("file:"):
            data_dir.mkdir(parents=True, exist_ok=True)
        # WAL lets the web server and the worker read while one of them writes; IMMEDIATE
        # transactions take the write lock up front so two writers queue instead of deadlocking.
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif database["ENGINE"] == "django.db.backends.postgresql" and pool_max > 0:
        # The pool replaces persistent connections (Django refuses both at once).
        database["CONN_MAX_AGE"] = 0
        database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": pool_max,
            # A request waiting longer than this for a connection is answered 503, not queued.
            "timeout": 10,
        }
    return database
