from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.ids import new_id


class TestClock:
    def test_now_is_aware_utc(self) -> None:
        assert clock.now().tzinfo == dt.UTC

    def test_frozen_and_advanced(self) -> None:
        moment = dt.datetime(2026, 1, 12, 6, 17, tzinfo=dt.UTC)
        with clock.frozen(moment):
            assert clock.now() == moment
            clock.advance(dt.timedelta(minutes=5))
            assert clock.now() == moment + dt.timedelta(minutes=5)
        assert clock.now() != moment

    def test_shanghai_display(self) -> None:
        moment = dt.datetime(2026, 1, 12, 16, 0, tzinfo=dt.UTC)
        assert clock.to_shanghai(moment).hour == 0

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            clock.to_shanghai(dt.datetime(2026, 1, 1))


class TestNewId:
    def test_prefixed_unique_and_time_ordered(self) -> None:
        first = new_id("P")
        ids = {new_id("P") for _ in range(1000)}
        assert len(ids) == 1000
        assert first.startswith("P_")
        assert len(first) == 28
        assert max(ids)[:12] >= first[:12]
