"""Database helpers shared by the modules: retrying a whole transaction after a transient
refusal, and a binary-parameter cursor for bulk statements on PostgreSQL."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
from django.db import OperationalError, connection

T = TypeVar("T")
TRANSIENT_RETRIES = 4


def is_transient(error: OperationalError) -> bool:
    """Refusals that a fresh attempt of the same transaction can get past.

    PostgreSQL aborts one of two transactions that lock rows in different orders (deadlock) or
    conflict under serializable isolation; SQLite in WAL mode may answer "database is locked"
    without waiting in the busy handler (e.g. while another connection checkpoints).
    """
    cause = error.__cause__
    name = type(cause).__name__ if cause is not None else ""
    text = str(error).lower()
    return (
        name in {"DeadlockDetected", "SerializationFailure"}
        or "deadlock" in text
        or "database is locked" in text
    )


def retry_transient(run: Callable[[], T], *, attempts: int = TRANSIENT_RETRIES) -> T:
    """Run `run` (which opens its own transaction) again after a transient refusal.

    Only the outermost transaction can be retried: inside someone else's transaction the
    error is re-raised for the owner to decide.
    """
    owns_transaction = not connection.in_atomic_block
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except OperationalError as error:
            if not owns_transaction or attempt == attempts or not is_transient(error):
                raise
            time.sleep(random.uniform(0.005, 0.03) * attempt)  # noqa: S311 (jitter, not security)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def postgresql_binary_cursor() -> Iterator[psycopg.Cursor[tuple[object, ...]]]:
    """A server-side binding cursor on Django's own PostgreSQL connection, so inside whatever
    transaction the caller is in; errors arrive as Django's database errors, as they would from
    `connection.cursor()` (so `retry_transient` still recognises a deadlock).

    For statements that pass a whole column as one binary array parameter (`%b`): Django's
    cursor binds on the client side and would quote every element in Python — ten times the
    CPU for a batch of 500 rows.
    """
    if connection.vendor != "postgresql":
        raise RuntimeError("postgresql_binary_cursor needs PostgreSQL")
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor
