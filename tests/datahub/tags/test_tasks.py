"""Data hub periodic jobs, called the way the huey consumer calls them."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from freshloop.core import clock
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.tags.selectors import person_tags_get
from freshloop.datahub.tags.tasks import tags_recompute
from tests.datahub.helpers import record_server_event
from tests.factories import make_person

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 30, 4, 0, tzinfo=dt.UTC)


def paid(person_id: int, occurred_at: dt.datetime, order_no: str) -> None:
    record_server_event(
        "order_paid",
        person_id=person_id,
        occurred_at=occurred_at,
        properties={"order_no": order_no, "amount_fen": 1000, "lines": []},
        event_id=f"order_paid:{order_no}",
    )


class TestTagsRecompute:
    def test_rewrites_the_tags_the_day_moved_past_and_reports(
        self, store: EventStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        # given two customers tagged by the flush 30 days after their first (and only) order:
        # still new customers then
        first, second = make_person(), make_person()
        paid(first.pk, NOW - dt.timedelta(days=30), "J1")
        paid(second.pk, NOW - dt.timedelta(days=30), "J2")
        with clock.frozen(NOW):
            buffer_flush_all(store=store)
        tagged = person_tags_get(person_id=first.pk, store=store)
        assert tagged is not None
        assert tagged["lifecycle"] == "新客"
        # when the nightly job runs the next day
        with clock.frozen(NOW + dt.timedelta(days=1)), caplog.at_level(logging.INFO):
            report = tags_recompute.call_local()
        # then every row is recomputed for that day, and the report is returned and logged
        for person in (first, second):
            row = person_tags_get(person_id=person.pk, store=store)
            assert row is not None
            assert (row["lifecycle"], row["recency_days"]) == ("活跃", 31)
            assert row["computed_at"] == NOW + dt.timedelta(days=1)
        assert (report.people, report.with_rfm) == (2, 2)
        assert report.computed_at == NOW + dt.timedelta(days=1)
        assert "tags recomputed: 2 people, 2 with RFM" in caplog.text

    def test_is_scheduled_nightly_at_0240_shanghai(self) -> None:
        task = tags_recompute.s()

        assert task.name == "datahub.tags_recompute"
        assert task.validate_datetime(dt.datetime(2025, 6, 30, 18, 40))  # huey checks UTC
        assert not task.validate_datetime(dt.datetime(2025, 6, 30, 2, 40))
        assert not task.validate_datetime(dt.datetime(2025, 6, 30, 18, 41))
