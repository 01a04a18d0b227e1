"""Best contact hour: each person's hourly responses, shrunk toward their segment's pattern."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.intelligence.contact_hours import (
    HourlyCounts,
    hour_evaluation,
    hour_profiles,
    hourly_counts,
)
from tests.intelligence.conftest import NOW
from tests.intelligence.helpers import append_events, event_row


def _at_local_hour(days_ago: int, hour: int) -> dt.datetime:
    # NOW is a Shanghai midnight: local hour h of a day is h hours after it.
    return NOW - dt.timedelta(days=days_ago) + dt.timedelta(hours=hour)


class TestHourlyCounts:
    def test_counts_responses_by_local_hour_within_the_window(self, store: EventStore) -> None:
        append_events(
            store,
            [
                event_row("live_join", person_id=1, at=_at_local_hour(3, 20), channel="live"),
                event_row(
                    "order_paid",
                    person_id=1,
                    at=_at_local_hour(2, 20),
                    channel="live",
                    amount_fen=100,
                ),
                event_row("page_view", person_id=1, at=_at_local_hour(1, 9), channel="h5"),
                # a staff message to the customer is not the customer responding
                event_row(
                    "wecom_message",
                    person_id=1,
                    at=_at_local_hour(1, 10),
                    properties={"direction": "out"},
                ),
                # too old for the window
                event_row("page_view", person_id=1, at=_at_local_hour(200, 9)),
            ],
        )
        with store.connect() as connection:
            counts = hourly_counts(connection, since=NOW - dt.timedelta(days=90), until=NOW)
        assert counts.person_ids.tolist() == [1]
        assert counts.counts[0, 20] == 2
        assert counts.counts[0, 9] == 1
        assert counts.counts.sum() == 3
        assert counts.segments.tolist() == ["live"]


class TestHourProfiles:
    def test_shrinks_toward_the_segment_by_prior_strength(self) -> None:
        # given a segment whose everybody-else responds at 20:00, and a newcomer with 2
        # responses at 09:00
        counts = np.zeros((3, 24))
        counts[0, 20] = 30
        counts[1, 20] = 30
        counts[2, 9] = 2
        data = HourlyCounts(
            person_ids=np.array([1, 2, 3]),
            counts=counts,
            segments=np.array(["live", "live", "live"], dtype=object),
        )
        # when profiles are built with K = 8
        profiles = hour_profiles(data, prior_strength=8.0)
        # then the segment pattern is (counts + 1) / (total + 24) and the newcomer's hour
        # is (n + K·q) / (N + K): 20:00 still wins for them
        pattern = (counts.sum(axis=0) + 1) / (62 + 24)
        assert profiles.segment_patterns["live"][20] == pytest.approx(pattern[20], abs=1e-4)
        expected = (counts[2] + 8 * pattern) / (2 + 8)
        np.testing.assert_allclose(profiles.profiles[2], expected)
        assert profiles.best_hour.tolist() == [20, 20, 20]
        assert profiles.profiles.sum(axis=1) == pytest.approx([1, 1, 1])

    def test_many_own_responses_outweigh_the_segment(self) -> None:
        counts = np.zeros((2, 24))
        counts[0, 20] = 40
        counts[1, 7] = 40
        profiles = hour_profiles(
            HourlyCounts(
                person_ids=np.array([1, 2]),
                counts=counts,
                segments=np.array(["wecom", "h5"], dtype=object),
            )
        )
        assert profiles.best_hour.tolist() == [20, 7]


class TestHourEvaluation:
    def test_hit_rates_of_personal_and_population_hours(self) -> None:
        before = np.zeros((2, 24))
        before[0, 20] = 50
        before[1, 8] = 10
        fitted = hour_profiles(
            HourlyCounts(
                person_ids=np.array([1, 2]),
                counts=before,
                segments=np.array(["a", "b"], dtype=object),
            )
        )
        later = np.zeros((2, 24))
        later[0, 21] = 3  # within an hour of 20:00
        later[1, 8] = 1
        later[1, 15] = 1
        result = hour_evaluation(
            fitted,
            HourlyCounts(
                person_ids=np.array([1, 2]),
                counts=later,
                segments=np.array(["a", "b"], dtype=object),
            ),
        )
        # personal hours catch 3 + 1 of 5; the population's hour (20:00) catches 3 of 5
        assert result["hit_rate"] == 0.8
        assert result["population_best_hour"] == 20
        assert result["population_hit_rate"] == 0.6
