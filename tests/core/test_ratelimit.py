from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from freshloop.core import clock
from freshloop.core.errors import RateLimited
from freshloop.core.models import RateLimitCounter
from freshloop.core.ratelimit import (
    DatabaseBackend,
    RateLimitBackend,
    RedisBackend,
    rate_limit_hit,
    rate_limit_purge_expired,
)

START = dt.datetime(2026, 3, 1, 8, 0, 0, tzinfo=dt.UTC)


def _exercise_window(backend: RateLimitBackend) -> None:
    with clock.frozen(START):
        assert rate_limit_hit("k", limit=2, window_seconds=60, backend=backend) == 1
        assert rate_limit_hit("k", limit=2, window_seconds=60, backend=backend) == 2
        with pytest.raises(RateLimited) as refused:
            rate_limit_hit("k", limit=2, window_seconds=60, backend=backend)
        assert refused.value.retry_after == 60
        assert refused.value.status == 429
        # other keys are counted apart
        assert rate_limit_hit("other", limit=2, window_seconds=60, backend=backend) == 1
    with clock.frozen(START + dt.timedelta(seconds=61)):
        # the next window starts fresh
        assert rate_limit_hit("k", limit=2, window_seconds=60, backend=backend) == 1


@pytest.mark.django_db
class TestDatabaseBackend:
    def test_counts_per_window(self) -> None:
        _exercise_window(DatabaseBackend())

    def test_purge_removes_only_expired_windows(self) -> None:
        with clock.frozen(START):
            rate_limit_hit("a", limit=5, window_seconds=60, backend=DatabaseBackend())
        with clock.frozen(START + dt.timedelta(minutes=10)):
            rate_limit_hit("b", limit=5, window_seconds=60, backend=DatabaseBackend())
            assert rate_limit_purge_expired() == 1
        assert list(RateLimitCounter.objects.values_list("key", flat=True)) == ["b"]


@pytest.mark.django_db(transaction=True)
class TestDatabaseBackendConcurrency:
    def test_parallel_hits_are_all_counted(self) -> None:
        # given 8 threads hitting one key 5 times each (separate DB connections)
        backend = DatabaseBackend()

        def hammer(_: int) -> list[int]:
            try:
                return [backend.increment("burst", 0, 3600) for _ in range(5)]
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=8) as pool:
            counts = [count for batch in pool.map(hammer, range(8)) for count in batch]
        # then no increment was lost and every count was handed out once
        assert sorted(counts) == list(range(1, 41))


@pytest.mark.redis
class TestRedisBackend:
    def test_counts_per_window_on_real_redis(self, redis_url: str) -> None:
        _exercise_window(RedisBackend(redis_url))

    def test_windows_expire_in_redis(self, redis_url: str) -> None:
        backend = RedisBackend(redis_url)
        backend.increment("ttl", 0, 30)
        assert 0 < backend.client.ttl("freshloop:rl:ttl:0") <= 35
