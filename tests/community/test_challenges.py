"""社群挑战: members' paid orders in the period reach the target; everyone gets a coupon once."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.community.models import ChallengeStatus
from freshloop.community.services import (
    challenge_check,
    challenge_create,
    challenge_progress,
    challenges_check_all,
)
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.promotions.models import Coupon
from tests.community.helpers import committed, make_group, person_of
from tests.factories import make_order, make_person, make_sku
from tests.orders.helpers import coupon_template, pay

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")


def paid(person, price_fen: int):  # type: ignore[no-untyped-def]
    sku = make_sku(price_fen=price_fen, stock=5)
    order = make_order(person, (sku, 1))
    with committed():
        return pay(order)


def setup_challenge(target_fen: int = 5000):  # type: ignore[no-untyped-def]
    group = make_group("wr_a", customers=3)
    template = coupon_template(code="group-10", per_user_limit=5)
    challenge = challenge_create(
        group=group,
        name="本周团购冲 ¥50",
        target_fen=target_fen,
        starts_at=clock.now() - dt.timedelta(hours=1),
        ends_at=clock.now() + dt.timedelta(days=7),
        coupon_template=template,
        actor=OPERATOR,
    )
    return group, challenge


class TestChallengeCheck:
    def test_reaching_the_target_gives_every_customer_member_one_coupon_once(self) -> None:
        _, challenge = setup_challenge(target_fen=5000)
        buyer = person_of("wr_a", "wm_group_0001")
        paid(buyer, 3000)
        paid(make_person(), 9000)  # not a member: does not count
        challenge.refresh_from_db()
        assert challenge.status == ChallengeStatus.ACTIVE
        assert challenge_progress(challenge=challenge).gmv_fen == order_total(buyer)

        paid(person_of("wr_a", "wm_group_0002"), 3000)  # the OrderPaid handler checks

        challenge.refresh_from_db()
        assert challenge.status == ChallengeStatus.REWARDED
        assert challenge.rewarded_count == 3
        source = f"community:challenge:{challenge.pk}"
        assert Coupon.objects.filter(source_ref=source).count() == 3
        # checked again (the sweep, a replayed event): nothing more is issued
        challenge_check(challenge_id=challenge.pk)
        challenges_check_all()
        assert Coupon.objects.filter(source_ref=source).count() == 3

    def test_a_period_that_ends_short_of_the_target_ends_without_coupons(self) -> None:
        _, challenge = setup_challenge(target_fen=100000)
        paid(person_of("wr_a", "wm_group_0001"), 3000)

        challenge_check(challenge_id=challenge.pk, now=clock.now() + dt.timedelta(days=8))

        challenge.refresh_from_db()
        assert challenge.status == ChallengeStatus.ENDED
        assert not Coupon.objects.filter(source_ref__startswith="community:").exists()


def order_total(person) -> int:  # type: ignore[no-untyped-def]
    from freshloop.orders.models import Order

    return sum(order.paid_fen for order in Order.objects.filter(person=person))
