"""The one source of "now": aware UTC, freezable in tests.

Code reads time through `now()` so tests can pin it without patching the standard library.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC)


def to_shanghai(moment: dt.datetime) -> dt.datetime:
    """Convert an aware datetime to Asia/Shanghai for display."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not allowed; store aware UTC")
    return moment.astimezone(SHANGHAI)


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    """Pin `now()` to `at` inside the block (tests and replays)."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze the clock with an aware datetime")
    previous = _frozen
    _frozen = at.astimezone(dt.UTC)
    try:
        yield
    finally:
        _frozen = previous


def advance(delta: dt.timedelta) -> None:
    """Move a frozen clock forward; only valid inside `frozen()`."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock")
    _frozen = _frozen + delta
