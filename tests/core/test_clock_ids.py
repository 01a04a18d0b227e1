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


class TestClientTimeProblem:
    """The one check /track and identify share for a time a client sent."""

    NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

    @pytest.mark.parametrize(
        ("moment", "max_age", "problem"),
        [
            (NOW, None, None),
            (NOW + dt.timedelta(minutes=10), None, None),
            (NOW + dt.timedelta(minutes=10, seconds=1), None, "in_future"),
            (
                dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(-dt.timedelta(hours=14))),
                None,
                "in_future",
            ),
            (NOW - dt.timedelta(days=3000), None, None),
            (NOW - dt.timedelta(days=3000), dt.timedelta(days=1830), "too_old"),
            (
                dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
                None,
                "out_of_range",
            ),
        ],
    )
    def test_says_why_a_time_cannot_be_taken(
        self, moment: dt.datetime, max_age: dt.timedelta | None, problem: str | None
    ) -> None:
        assert clock.client_time_problem(moment, now=self.NOW, max_age=max_age) == problem

    def test_reads_the_frozen_clock_by_default(self) -> None:
        with clock.frozen(self.NOW):
            assert clock.client_time_problem(self.NOW + dt.timedelta(hours=1)) == "in_future"

    def test_a_naive_time_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            clock.client_time_problem(dt.datetime(2026, 1, 1))


class TestNewId:
    def test_prefixed_unique_and_time_ordered(self) -> None:
        first = new_id("P")
        ids = {new_id("P") for _ in range(1000)}
        assert len(ids) == 1000
        assert first.startswith("P_")
        assert len(first) == 28
        assert max(ids)[:12] >= first[:12]
