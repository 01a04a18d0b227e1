from __future__ import annotations

import datetime as dt
from collections.abc import Callable
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
    lock_acquire,
    lock_release,
    lock_remaining,
    lock_set,
    rate_limit_check,
    rate_limit_hit,
    rate_limit_purge_expired,
    wait_phrase,
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


def _exercise_locks(backend: RateLimitBackend) -> None:
    with clock.frozen(START):
        # a free lock is taken; a held one answers how long it still holds
        assert lock_acquire("cool", seconds=60, backend=backend) == 0
        assert lock_acquire("cool", seconds=60, backend=backend) == 60
        assert lock_remaining("cool", backend=backend) == 60
        assert lock_remaining("other", backend=backend) == 0
    with clock.frozen(START + dt.timedelta(seconds=45)):
        assert lock_acquire("cool", seconds=60, backend=backend) == 15
    with clock.frozen(START + dt.timedelta(seconds=60)):
        # it ages with the clock the code reads, and is free again
        assert lock_remaining("cool", backend=backend) == 0
        assert lock_acquire("cool", seconds=60, backend=backend) == 0
        # set holds it whoever held it; release frees it
        lock_set("cool", seconds=900, backend=backend)
        assert lock_remaining("cool", backend=backend) == 900
        lock_release("cool", backend=backend)
        assert lock_remaining("cool", backend=backend) == 0


def _exercise_check(backend: RateLimitBackend) -> None:
    with clock.frozen(START):
        # checking counts nothing
        for _ in range(3):
            assert rate_limit_check("fails", limit=2, window_seconds=60, backend=backend) == 0
        rate_limit_hit("fails", limit=100, window_seconds=60, backend=backend)
        rate_limit_hit("fails", limit=100, window_seconds=60, backend=backend)
        with pytest.raises(RateLimited) as refused:
            rate_limit_check("fails", limit=2, window_seconds=60, backend=backend)
        assert refused.value.retry_after == 60


@pytest.mark.django_db
class TestLocksAndChecksInTheDatabase:
    def test_locks(self) -> None:
        _exercise_locks(DatabaseBackend())

    def test_check_without_counting(self) -> None:
        _exercise_check(DatabaseBackend())

    def test_lock_rows_are_not_counter_windows(self) -> None:
        backend = DatabaseBackend()
        with clock.frozen(START):
            lock_acquire("k", seconds=60, backend=backend)
            assert rate_limit_hit("k", limit=5, window_seconds=60, backend=backend) == 1


@pytest.mark.redis
class TestLocksAndChecksInRedis:
    def test_locks(self, redis_url: str) -> None:
        _exercise_locks(RedisBackend(redis_url))

    def test_check_without_counting(self, redis_url: str) -> None:
        _exercise_check(RedisBackend(redis_url))

    def test_redis_tidies_locks_away(self, redis_url: str) -> None:
        backend = RedisBackend(redis_url)
        lock_acquire("tidy", seconds=30, backend=backend)
        assert 30 < backend.client.ttl("freshloop:lock:tidy") <= 35


def _race(backend_for: Callable[[], RateLimitBackend]) -> list[int]:
    def take(_: int) -> int:
        try:
            return lock_acquire("race", seconds=60, backend=backend_for())
        finally:
            connection.close()

    # frozen once for every thread (the clock is process-wide)
    with clock.frozen(START), ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(take, range(8)))


@pytest.mark.django_db(transaction=True)
class TestLockAcquireConcurrency:
    def test_one_taker_wins_in_the_database(self) -> None:
        waits = _race(DatabaseBackend)
        assert sorted(waits) == [0] + [60] * 7

    @pytest.mark.redis
    def test_one_taker_wins_in_redis(self, redis_url: str) -> None:
        waits = _race(lambda: RedisBackend(redis_url))
        assert sorted(waits) == [0] + [60] * 7


class TestWaitPhrase:
    @pytest.mark.parametrize(
        ("seconds", "rounded", "phrase"),
        [
            (1, 1, "1 秒"),
            (60, 60, "60 秒"),
            (90, 90, "90 秒"),
            (91, 120, "2 分钟"),
            (900, 900, "15 分钟"),
            (3600, 3600, "60 分钟"),
            (5401, 7200, "2 小时"),
            (46800, 46800, "13 小时"),
        ],
    )
    def test_the_number_told_is_the_number_carried(
        self, seconds: int, rounded: int, phrase: str
    ) -> None:
        assert wait_phrase(seconds) == (rounded, phrase)


@pytest.mark.django_db
class TestRefusalSaysHowLongToWait:
    def test_the_default_message_names_the_seconds_left_in_the_window(self) -> None:
        # given a limit of one hit a minute, used up 15 s into the window
        backend = DatabaseBackend()
        with clock.frozen(START + dt.timedelta(seconds=15)):
            rate_limit_hit("w", limit=1, window_seconds=60, backend=backend)
            # when the caller tries again
            with pytest.raises(RateLimited) as refused:
                rate_limit_hit("w", limit=1, window_seconds=60, backend=backend)
        # then the message says how long to wait, the same number retry_after carries
        assert refused.value.text == "操作太频繁，请 45 秒后再试"
        assert refused.value.retry_after == 45
        assert refused.value.detail == {"retry_after": 45}

    def test_a_long_wait_is_rounded_and_said_in_minutes(self) -> None:
        backend = DatabaseBackend()
        with clock.frozen(START):
            rate_limit_hit("h", limit=1, window_seconds=3600, backend=backend)
            with pytest.raises(RateLimited) as refused:
                rate_limit_hit("h", limit=1, window_seconds=3600, backend=backend)
        assert refused.value.text == "操作太频繁，请 60 分钟后再试"
        assert refused.value.retry_after == 3600

    def test_a_callers_own_message_gets_the_wait_filled_in(self) -> None:
        backend = DatabaseBackend()
        with clock.frozen(START + dt.timedelta(seconds=50)):
            rate_limit_hit(
                "c",
                limit=1,
                window_seconds=60,
                backend=backend,
                message="发言太快了，请 {wait}后再发",
            )
            with pytest.raises(RateLimited) as refused:
                rate_limit_hit(
                    "c",
                    limit=1,
                    window_seconds=60,
                    backend=backend,
                    message="发言太快了，请 {wait}后再发",
                )
        assert refused.value.text == "发言太快了，请 10 秒后再发"

    def test_a_message_without_a_placeholder_is_kept_as_given(self) -> None:
        refused = RateLimited("今日次数已用完", retry_after=7)
        assert refused.text == "今日次数已用完"
        assert refused.retry_after == 7
