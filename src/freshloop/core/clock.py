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

# How far ahead of our clock a client-supplied time may be (device clocks drift a little). Later
# is refused: a time in year 9999 would win every "latest write wins" comparison for ever.
CLIENT_CLOCK_SKEW = dt.timedelta(minutes=10)


def now() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC)


_current_time = now  # for functions whose `now` parameter shadows the function


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


def client_time_problem(
    moment: dt.datetime, *, now: dt.datetime | None = None, max_age: dt.timedelta | None = None
) -> str | None:
    """Why a time a client sent (an event's or a trait's `occurred_at`) cannot be taken, as a
    machine code, or None: "in_future" (beyond `CLIENT_CLOCK_SKEW`), "too_old" (beyond
    `max_age`, when given), "out_of_range" (not representable in UTC, e.g. year 1 at +14:00).

    The one check `/track` and `identify` share, so both refuse the same times.
    """
    if moment.utcoffset() is None:
        raise ValueError("client_time_problem takes an aware datetime")
    current = now if now is not None else _current_time()
    # Aware comparisons work on the offsets, so they cannot overflow at the calendar's ends.
    if moment > current + CLIENT_CLOCK_SKEW:
        return "in_future"
    if max_age is not None and moment < current - max_age:
        return "too_old"
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        return "out_of_range"
    return None
