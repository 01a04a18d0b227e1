"""A journey's wait can continue at each customer's best contact hour (intelligence's
prediction): customers with a prediction resume at their hour, the others after the plain wait."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.predictions.services import person_predictions_write
from freshloop.datahub.tags.selectors import manual_tags_list
from freshloop.scrm.errors import JourneyInvalid
from freshloop.scrm.journeys import steps_check
from freshloop.scrm.models import JourneyTrigger
from freshloop.scrm.runner import wait_until
from freshloop.scrm.services import (
    journey_create,
    journey_enroll,
    journey_status_set,
    journeys_run_due,
)
from tests.factories import make_person

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
START = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
BEST_HOUR_WAIT = {"type": "wait", "minutes": 60, "at_best_hour": True}


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
    return EventStore(settings.DATAHUB_STORE_PATH)


@pytest.fixture
def at(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[[float], Any]:
    @contextlib.contextmanager
    def moment(minutes: float) -> Iterator[None]:
        with (
            clock.frozen(START + dt.timedelta(minutes=minutes)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            yield

    return moment


def _best_hour(store: EventStore, person_id: int, hour: int) -> None:
    shares = [0.01] * 24
    shares[hour] = 0.77
    person_predictions_write(
        kind="contact_hour",
        scores=pa.table(
            {
                "person_id": pa.array([person_id], pa.int64()),
                "best_contact_hour": pa.array([hour], pa.int8()),
                "contact_hours": pa.array([shares], pa.list_(pa.float64())),
                "contact_events": pa.array([12], pa.int32()),
                "contact_hour_version": pa.array([1], pa.int32()),
            }
        ),
        store=store,
    )


class TestWaitUntil:
    @pytest.mark.parametrize(
        ("step", "best_hour", "expected"),
        [
            ({"type": "wait", "minutes": 60}, 20, START + dt.timedelta(hours=1)),
            (BEST_HOUR_WAIT, None, START + dt.timedelta(hours=1)),
            # 11:00 local after the wait; the customer's hour is 20:00 the same day
            (BEST_HOUR_WAIT, 20, dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)),
            # their hour (09:00) has passed today: tomorrow at 09:00
            (BEST_HOUR_WAIT, 9, dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)),
            # the wait already ends inside their hour: at once
            (BEST_HOUR_WAIT, 11, START + dt.timedelta(hours=1)),
        ],
    )
    def test_resumes_at_the_next_best_hour(
        self, step: dict[str, Any], best_hour: int | None, expected: dt.datetime
    ) -> None:
        assert wait_until(step, START, best_hour) == expected


class TestStepsCheck:
    def test_the_flag_is_kept_only_when_on_and_must_be_a_boolean(self) -> None:
        clean = steps_check(
            [
                BEST_HOUR_WAIT,
                {"type": "wait", "minutes": 5, "at_best_hour": False},
                {"type": "tag", "tag": "x"},
            ],
            trigger=JourneyTrigger.ORDER_PAID,
        )
        assert clean[:2] == [BEST_HOUR_WAIT, {"type": "wait", "minutes": 5}]
        with pytest.raises(JourneyInvalid) as raised:
            steps_check(
                [{"type": "wait", "minutes": 5, "at_best_hour": "yes"}],
                trigger=JourneyTrigger.ORDER_PAID,
            )
        assert raised.value.detail[0]["field"] == "steps.0.at_best_hour"


class TestBestHourWaitInAJourney:
    def test_each_customer_resumes_at_their_hour(
        self, store: EventStore, at: Callable[[float], Any]
    ) -> None:
        # given a journey "tag, wait an hour then until the best hour, tag", an evening
        # customer (best hour 20:00) and one without a prediction, both entering at 10:00
        evening, unknown = make_person(), make_person()
        _best_hour(store, evening.pk, 20)
        journey = journey_create(
            name="最佳时段跟进",
            trigger=JourneyTrigger.ORDER_PAID,
            steps=[{"type": "tag", "tag": "进入"}, BEST_HOUR_WAIT, {"type": "tag", "tag": "跟进"}],
            actor=OPERATOR,
        )
        journey_status_set(journey=journey, status="active", actor=OPERATOR)
        with at(0):
            for person in (evening, unknown):
                journey_enroll(
                    trigger=JourneyTrigger.ORDER_PAID,
                    person_id=person.pk,
                    trigger_key=f"order-{person.pk}",
                    context={},
                )
            journeys_run_due()
        # when the runner goes after the plain hour: only the one without a prediction goes on
        with at(61):
            journeys_run_due()
        assert sorted(manual_tags_list(person_id=unknown.pk)) == ["跟进", "进入"]
        assert manual_tags_list(person_id=evening.pk) == ["进入"]
        # then at 20:00 local the evening customer goes on too
        with at(10 * 60):
            journeys_run_due()
        assert sorted(manual_tags_list(person_id=evening.pk)) == ["跟进", "进入"]
