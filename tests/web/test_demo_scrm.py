"""The demo's SCRM seed: the running win-back and welcome journeys, the sandbox's customers on
OneIDs (李先生 on the demo shopper with phone 13700001004), nothing twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from freshloop.core import clock
from freshloop.core.clock import SHANGHAI
from freshloop.messaging.models import MarketingDispatch
from freshloop.promotions.models import CouponTemplate
from freshloop.scrm.models import (
    Broadcast,
    BroadcastStatus,
    Journey,
    JourneyEnrollment,
    JourneyStatus,
    WecomContact,
)
from freshloop.web import demo_scrm
from tests.factories import make_person

# Transactional: the seed commits the contacts before it creates the journeys, as in
# `manage.py demo_seed`, and the callback events are handled on that commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sandbox_directory() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


class TestSeedScrm:
    def test_the_loop_is_ready_and_a_second_run_adds_nothing(self) -> None:
        shopper = make_person(phone=demo_scrm.LOOP_PHONE)
        first = demo_scrm.seed_scrm()
        assert first == {"journeys": 2, "winback_coupons": 1, "wecom_contacts": 3, "broadcasts": 2}
        winback = Journey.objects.get(name=demo_scrm.WINBACK_JOURNEY)
        assert winback.status == JourneyStatus.ACTIVE
        steps = winback.current_version.steps  # type: ignore[union-attr]
        assert [step["type"] for step in steps] == [
            "message",
            "coupon",
            "wait",
            "condition",
            "task",
        ]
        coupon = CouponTemplate.objects.get(pk=steps[1]["template_id"])
        assert (coupon.kind, coupon.threshold_fen, coupon.amount_off_fen) == ("fixed", 0, 500)
        assert steps[2]["minutes"] == 120
        assert steps[4]["title"] == "回访：直播间加购仍未支付"
        # the sandbox's three customers are contacts; 李先生 is the demo shopper
        contacts = dict(WecomContact.objects.values_list("external_userid", "person_id"))
        assert set(contacts) == {"wm_sandbox_0001", "wm_sandbox_0002", "wm_sandbox_0003"}
        assert contacts[demo_scrm.LOOP_CONTACT] == shopper.pk
        # and, customers from before the journeys, none is welcomed today (the day's cap is
        # left for the win-back message the demo shows)
        assert not JourneyEnrollment.objects.exists()
        # a mass message went to the three yesterday (today's cap stays free), one is scheduled
        sent = Broadcast.objects.get(title=demo_scrm.BROADCAST_SENT)
        assert sent.status == BroadcastStatus.SENT
        today = clock.now().astimezone(SHANGHAI).date()
        queued = MarketingDispatch.objects.filter(source=f"mass:{sent.pk}")
        assert queued.count() == 3
        assert {d.queued_at.astimezone(SHANGHAI).date() for d in queued if d.queued_at} == {
            today - dt.timedelta(days=1)
        }
        upcoming = Broadcast.objects.get(title=demo_scrm.BROADCAST_NEXT)
        assert upcoming.status == BroadcastStatus.SCHEDULED

        again = demo_scrm.seed_scrm()
        assert again == {"journeys": 0, "winback_coupons": 0, "wecom_contacts": 0, "broadcasts": 0}
        assert Journey.objects.count() == 2
        assert WecomContact.objects.count() == 3
        assert not JourneyEnrollment.objects.exists()
