"""The journey triggers' periodic jobs: when huey runs them (its crontab is in UTC) and that
they enrol through the services."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.identity.services import IdentifierInput, identify
from freshloop.scrm.models import JourneyEnrollment, JourneyTrigger
from freshloop.scrm.services import journey_create, journey_status_set
from freshloop.scrm.tasks import birthdays, coupons_expiring
from tests.factories import give_coupon, make_person, next_phone
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
STEPS = [{"type": "task", "title": "回访", "due_minutes": 60}]


def running(trigger: str) -> None:
    journey = journey_create(name="任务", trigger=trigger, steps=STEPS, actor=OPERATOR)
    journey_status_set(journey=journey, status="active", actor=OPERATOR)


class TestBirthdays:
    def test_runs_daily_at_nine_in_shanghai(self) -> None:
        # huey hands its periodic check a naive UTC time
        task = birthdays.s()
        assert task.name == "scrm.birthdays_enroll"
        assert task.validate_datetime(dt.datetime(2026, 12, 4, 1, 0))
        assert not task.validate_datetime(dt.datetime(2026, 12, 4, 9, 0))

    def test_enrols_todays_birthdays(self) -> None:
        running(JourneyTrigger.BIRTHDAY)
        identify(
            identifiers=[IdentifierInput(type="phone", value=next_phone(), verified=True)],
            traits={"birthday": "1988-12-04"},
            source="test",
        )
        with clock.frozen(dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC)):
            assert birthdays.call_local() == 1
        assert JourneyEnrollment.objects.get().trigger_key == "birthday:2026"


class TestCouponsExpiring:
    def test_runs_every_hour(self) -> None:
        task = coupons_expiring.s()
        assert task.name == "scrm.coupons_expiring_enroll"
        assert task.validate_datetime(dt.datetime(2026, 12, 4, 7, 5))
        assert not task.validate_datetime(dt.datetime(2026, 12, 4, 7, 6))

    def test_enrols_holders_of_coupons_about_to_end(self) -> None:
        now = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
        with clock.frozen(now):
            running(JourneyTrigger.COUPON_EXPIRING)
            coupon = give_coupon(
                make_person(), coupon_template("soon", valid_until=now + dt.timedelta(days=1))
            )
            assert coupons_expiring.call_local() == 1
        assert JourneyEnrollment.objects.get().trigger_key == f"coupon:{coupon.pk}"
