"""Fixed-window rate limiting shared by every process: Redis when configured, else the database.

Both backends increment atomically (Redis INCR; a conditional UPDATE or a unique INSERT in the
database), so N server processes enforce one limit, not N.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from freshloop.core import clock
from freshloop.core.errors import RateLimited
from freshloop.core.models import RateLimitCounter


class RateLimitBackend(Protocol):
    def increment(self, key: str, window_start: int, window_seconds: int) -> int:
        """Add one hit to the window and return the hits counted in it so far."""
        ...


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


class RedisBackend:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def increment(self, key: str, window_start: int, window_seconds: int) -> int:
        redis_key = f"freshloop:rl:{key}:{window_start}"
        pipe = self.client.pipeline()
        pipe.incr(redis_key)
        pipe.expire(redis_key, window_seconds + 5)
        count, _ = pipe.execute()
        return int(count)


@lru_cache(maxsize=1)
def default_backend() -> RateLimitBackend:
    url = settings.FRESHLOOP.redis_url
    return RedisBackend(url) if url else DatabaseBackend()


def rate_limit_hit(
    key: str,
    *,
    limit: int,
    window_seconds: int,
    message: str | None = None,
    backend: RateLimitBackend | None = None,
) -> int:
    """Count one hit for `key`; raise RateLimited (429) once more than `limit` fall in the window."""
    now = clock.now().timestamp()
    window_start = int(now // window_seconds * window_seconds)
    count = (backend or default_backend()).increment(key, window_start, window_seconds)
    if count > limit:
        retry_after = max(1, math.ceil(window_start + window_seconds - now))
        raise RateLimited(message, retry_after=retry_after)
    return count


def rate_limit_purge_expired() -> int:
    """Delete database counters whose window has passed; returns how many were removed."""
    deleted, _ = RateLimitCounter.objects.filter(expires_at__lt=clock.now()).delete()
    return deleted
