"""The flash sales' own lock: one writer at a time per sale on SQLite (see `writer_turn`),
taken before any row lock; the row locks are live's (`live/locks.py`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

from django.db import connection

from freshloop.live.models import FlashSale, FlashSaleStatus

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


def sale_units_take(*, flash_sale_id: int, quantity: int, now: dt.datetime) -> int | None:
    """Take `quantity` units of a running sale if it still has them; the units left after, or
    None when it is sold out or closed. One statement that locks the sale's row until the
    caller's commit (the row every settlement writes), and answers what is left in the same
    round trip, so the caller holds that lock as briefly as possible."""
    table = connection.ops.quote_name(FlashSale._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET claimed = claimed + %s "  # noqa: S608 (table name from the model)
            "WHERE id = %s AND status = %s AND ends_at > %s AND claimed + %s <= quantity "
            "RETURNING quantity - claimed",
            [
                quantity,
                flash_sale_id,
                FlashSaleStatus.RUNNING,
                # stored as the ORM stores it (SQLite keeps text in UTC)
                connection.ops.adapt_datetimefield_value(now),
                quantity,
            ],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])
