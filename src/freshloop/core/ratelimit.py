"""Fixed-window rate limiting and timed locks shared by every process: Redis when configured,
else the database.

Both backends increment atomically (Redis INCR; a conditional UPDATE or a unique INSERT in the
database), so N server processes enforce one limit, not N. A *lock* (a cool-down between two
login codes, a phone locked after wrong codes) holds a key until a moment; `lock_acquire` takes
it only when it is free, atomically (a Lua script in Redis, a conditional UPDATE or a unique
INSERT in the database), so two parallel requests never both pass a cool-down. Locks keep their
end as a timestamp of `core.clock`, so they age with the clock the rest of the code reads.

When Redis does not answer, every function here raises `RateLimiterUnavailable` (503 with
Retry-After): without its counters nothing may pass unlimited (a login code is an SMS we pay
for), and a 500 would tell the client the request itself was wrong.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterator
from functools import lru_cache
from typing import NoReturn, Protocol

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet

from freshloop.core import clock
from freshloop.core.errors import RateLimited, RateLimiterUnavailable, wait_phrase
from freshloop.core.models import RateLimitCounter
from freshloop.core.outages import outage_log


class RateLimitBackend(Protocol):
    def increment(self, key: str, window_start: int, window_seconds: int) -> int:
        """Add one hit to the window and return the hits counted in it so far."""
        ...

    def count(self, key: str, window_start: int) -> int:
        """The hits counted in the window so far, without adding one."""
        ...

    def lock_acquire(self, key: str, *, now: float, until: float) -> float | None:
        """Hold `key` until `until` if it is free at `now`; else return when it frees."""
        ...

    def lock_set(self, key: str, *, now: float, until: float) -> None:
        """Hold `key` until `until`, whoever held it before."""
        ...

    def lock_until(self, key: str, *, now: float) -> float | None:
        """When the lock on `key` frees, or None when it is free at `now`."""
        ...

    def lock_release(self, key: str) -> None: ...


# Locks live in the counter table with this window, which no fixed window can have (windows
# start at multiples of their length, and a lock's row is found by key alone).
_LOCK_WINDOW = -1


class DatabaseBackend:
    def increment(self, key: str, window_start: int, window_seconds: int) -> int:
        expires_at = dt.datetime.fromtimestamp(window_start + window_seconds, dt.UTC)
        counters = RateLimitCounter.objects.filter(key=key, window_start=window_start)
        for _ in range(3):
            # The UPDATE's row lock is held until commit, so the count read back in the same
            # transaction is exactly this hit's number, never a later writer's.
            with transaction.atomic():
                if counters.update(count=F("count") + 1):
                    return counters.values_list("count", flat=True).get()
            try:
                with transaction.atomic():
                    RateLimitCounter.objects.create(
                        key=key, window_start=window_start, count=1, expires_at=expires_at
                    )
                return 1
            except IntegrityError:
                # Another process created the window row between our UPDATE and INSERT.
                continue
        raise RuntimeError("rate limit counter kept disappearing")  # pragma: no cover

    def count(self, key: str, window_start: int) -> int:
        found = (
            RateLimitCounter.objects.filter(key=key, window_start=window_start)
            .values_list("count", flat=True)
            .first()
        )
        return int(found or 0)

    def _lock_row(self, key: str) -> QuerySet[RateLimitCounter]:
        return RateLimitCounter.objects.filter(key=key, window_start=_LOCK_WINDOW)

    def lock_acquire(self, key: str, *, now: float, until: float) -> float | None:
        expires_at = dt.datetime.fromtimestamp(until, dt.UTC)
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        for _ in range(3):
            # Take an expired lock over with one conditional UPDATE, or create it; a concurrent
            # taker loses on the condition or on the unique (key, window) constraint.
            with transaction.atomic():
                if (
                    self._lock_row(key)
                    .filter(expires_at__lte=moment)
                    .update(expires_at=expires_at, count=1)
                ):
                    return None
            try:
                with transaction.atomic():
                    RateLimitCounter.objects.create(
                        key=key, window_start=_LOCK_WINDOW, count=1, expires_at=expires_at
                    )
                return None
            except IntegrityError:
                pass
            held = self._lock_row(key).values_list("expires_at", flat=True).first()
            if held is not None and held > moment:
                return held.timestamp()
        raise RuntimeError("lock kept changing hands")  # pragma: no cover

    def lock_set(self, key: str, *, now: float, until: float) -> None:
        expires_at = dt.datetime.fromtimestamp(until, dt.UTC)
        for _ in range(3):
            with transaction.atomic():
                if self._lock_row(key).update(expires_at=expires_at, count=1):
                    return
            try:
                with transaction.atomic():
                    RateLimitCounter.objects.create(
                        key=key, window_start=_LOCK_WINDOW, count=1, expires_at=expires_at
                    )
                return
            except IntegrityError:
                continue
        raise RuntimeError("lock kept disappearing")  # pragma: no cover

    def lock_until(self, key: str, *, now: float) -> float | None:
        held = self._lock_row(key).values_list("expires_at", flat=True).first()
        if held is None or held.timestamp() <= now:
            return None
        return held.timestamp()

    def lock_release(self, key: str) -> None:
        self._lock_row(key).delete()


# Take the lock unless it is held past `now`: GET and SET in one script, so two takers can
# never both find it free. The value is the lock's end (a clock timestamp), the TTL only
# tidies up; `now` comes from the caller so a frozen test clock ages locks as it ages windows.
_LOCK_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and tonumber(held) > tonumber(ARGV[1]) then
  return held
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return false
"""


class RedisBackend:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self._acquire = self.client.register_script(_LOCK_ACQUIRE)

    @staticmethod
    def _lock_key(key: str) -> str:
        return f"freshloop:lock:{key}"

    @staticmethod
    def _ttl(now: float, until: float) -> int:
        # Kept a little past the end so a clock slightly ahead of Redis never loses a lock early.
        return max(1, math.ceil(until - now)) + 5

    def increment(self, key: str, window_start: int, window_seconds: int) -> int:
        redis_key = f"freshloop:rl:{key}:{window_start}"
        pipe = self.client.pipeline()
        pipe.incr(redis_key)
        pipe.expire(redis_key, window_seconds + 5)
        count, _ = pipe.execute()
        return int(count)

    def count(self, key: str, window_start: int) -> int:
        return int(self.client.get(f"freshloop:rl:{key}:{window_start}") or 0)

    def lock_acquire(self, key: str, *, now: float, until: float) -> float | None:
        held = self._acquire(
            keys=[self._lock_key(key)], args=[repr(now), repr(until), self._ttl(now, until)]
        )
        return float(held) if held is not None else None

    def lock_set(self, key: str, *, now: float, until: float) -> None:
        self.client.set(self._lock_key(key), repr(until), ex=self._ttl(now, until))

    def lock_until(self, key: str, *, now: float) -> float | None:
        held = self.client.get(self._lock_key(key))
        if held is None or float(held) <= now:
            return None
        return float(held)

    def lock_release(self, key: str) -> None:
        self.client.delete(self._lock_key(key))


@contextlib.contextmanager
def _answering() -> Iterator[None]:
    """Redis not answering is `RateLimiterUnavailable` (503), never a 500."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:
        unavailable = RateLimiterUnavailable()
        outage_log.warn(unavailable, error)
        raise unavailable from error


@lru_cache(maxsize=1)
def default_backend() -> RateLimitBackend:
    url = settings.FRESHLOOP.redis_url
    return RedisBackend(url) if url else DatabaseBackend()


def _window(window_seconds: int) -> tuple[float, int]:
    """Now, and the start of the fixed window it falls in."""
    now = clock.now().timestamp()
    return now, int(now // window_seconds * window_seconds)


def _refuse(message: str | None, *, now: float, window_end: int) -> NoReturn:
    """429, saying when the window ends (the wait the message and Retry-After agree on): the
    message is RateLimited's own ("操作太频繁，请 45 秒后再试") unless the caller gave one,
    where `{wait}` is filled in the same way."""
    raise RateLimited(message, retry_after=max(1, math.ceil(window_end - now)))


def rate_limit_hit(
    key: str,
    *,
    limit: int,
    window_seconds: int,
    message: str | None = None,
    backend: RateLimitBackend | None = None,
) -> int:
    """Count one hit for `key`; raise RateLimited (429) once more than `limit` fall in the window."""
    now, window_start = _window(window_seconds)
    with _answering():
        count = (backend or default_backend()).increment(key, window_start, window_seconds)
    if count > limit:
        _refuse(message, now=now, window_end=window_start + window_seconds)
    return count


def rate_limit_check(
    key: str,
    *,
    limit: int,
    window_seconds: int,
    message: str | None = None,
    backend: RateLimitBackend | None = None,
) -> int:
    """Raise RateLimited when `limit` hits already fall in the window, without counting one.

    For limits on failures (wrong passwords): check before the attempt, `rate_limit_hit` after
    a failure, so successes never use up the allowance.
    """
    now, window_start = _window(window_seconds)
    with _answering():
        count = (backend or default_backend()).count(key, window_start)
    if count >= limit:
        _refuse(message, now=now, window_end=window_start + window_seconds)
    return count


def lock_acquire(key: str, *, seconds: int, backend: RateLimitBackend | None = None) -> int:
    """Hold `key` for `seconds` if it is free; else return the seconds until it frees (> 0)."""
    now = clock.now().timestamp()
    with _answering():
        held_until = (backend or default_backend()).lock_acquire(key, now=now, until=now + seconds)
    return 0 if held_until is None else max(1, math.ceil(held_until - now))


def lock_set(key: str, *, seconds: int, backend: RateLimitBackend | None = None) -> None:
    """Hold `key` for `seconds` from now, whoever held it before."""
    now = clock.now().timestamp()
    with _answering():
        (backend or default_backend()).lock_set(key, now=now, until=now + seconds)


def lock_remaining(key: str, *, backend: RateLimitBackend | None = None) -> int:
    """Seconds until the lock on `key` frees; 0 when it is free."""
    now = clock.now().timestamp()
    with _answering():
        held_until = (backend or default_backend()).lock_until(key, now=now)
    return 0 if held_until is None else max(1, math.ceil(held_until - now))


def lock_release(key: str, *, backend: RateLimitBackend | None = None) -> None:
    with _answering():
        (backend or default_backend()).lock_release(key)


def rate_limit_purge_expired() -> int:
    """Delete database counters whose window has passed; returns how many were removed."""
    deleted, _ = RateLimitCounter.objects.filter(expires_at__lt=clock.now()).delete()
    return deleted


__all__ = [
    "DatabaseBackend",
    "RateLimitBackend",
    "RedisBackend",
    "default_backend",
    "lock_acquire",
    "lock_release",
    "lock_remaining",
    "lock_set",
    "rate_limit_check",
    "rate_limit_hit",
    "rate_limit_purge_expired",
    "wait_phrase",
]
