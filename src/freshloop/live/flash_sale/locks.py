"""The flash sales' own lock: one writer at a time per sale on SQLite (see `writer_turn`),
taken before any row lock; the row locks are live's (`live/locks.py`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from django.db import connection

_writer_locks: dict[int, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


@contextlib.contextmanager
def writer_turn(flash_sale_id: int) -> Iterator[None]:
    """On SQLite, let one thread of this process at a time into a sale's write transaction.

    SQLite has one writer for the whole file; hundreds of request threads waiting for it in
    the busy handler (not first come, first served) run past its timeout and fail. Queueing
    them here instead is fair and keeps the database's lock for the ones holding the turn.
    Correctness does not depend on it (the conditional UPDATE decides); PostgreSQL queues on
    the sale's row lock and needs no help.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with _writer_locks_guard:
        lock = _writer_locks.setdefault(flash_sale_id, threading.Lock())
    with lock:
        yield
