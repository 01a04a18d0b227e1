"""promotions.selectors: wallets, quotes built from the database, people lookup."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from freshloop.core import clock
from freshloop.core.errors import InvalidInput
from freshloop.promotions.models import CouponStatus
from freshloop.promotions.pricing import MemberBenefits
from freshloop.promotions.selectors import (
    coupons_for_person,
    coupons_usable_for_cart,
    people_resolve,
    price_quote_for_cart,
)
from freshloop.promotions.services import coupons_lock
from tests.factories import make_person
from tests.promotions.helpers import T0, give, make_campaign, make_shelf, make_template, quote_line

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _at_t0() -> Iterator[None]:
    """Every fact in these tests happens at T0 (coupons issued, campaigns running, quotes):
    a coupon issued at the real time would not be valid yet at a T0 in the past."""
    with clock.frozen(T0):
        yield


class TestCouponsForPerson:
    def test_filters_by_status_and_reports_lapsed_coupons_as_expired(self) -> None:
        person = make_person()
        short = make_template(valid_days=1)
        long = make_template(valid_days=30)
        with clock.frozen(T0):
            lapsed, fresh, locked = (
                give(short, person),
                give(long, person),
                give(make_template(), person),
            )
            coupons_lock(
                person_id=person.pk, coupon_ids=[locked.pk], order_ref="O", discount_by_coupon={}
            )
            clock.advance(dt.timedelta(days=2))
            assert [c.pk for c in coupons_for_person(person_id=person.pk, status="available")] == [
                fresh.pk
            ]
            assert [c.pk for c in coupons_for_person(person_id=person.pk, status="expired")] == [
                lapsed.pk
            ]
            assert [c.pk for c in coupons_for_person(person_id=person.pk, status="locked")] == [
                locked.pk
            ]
        assert coupons_for_person(person_id=person.pk).count() == 3
        assert coupons_for_person(person_id=make_person().pk).count() == 0

    def test_unknown_status(self) -> None:
        with pytest.raises(InvalidInput):
            coupons_for_person(person_id=1, status="gone")


class TestPriceQuoteForCart:
    def test_quotes_with_running_campaigns_and_the_buyers_coupons(self) -> None:
        shelf = make_shelf()
        make_campaign(kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: 2500})
        make_campaign(
            code="ended",
            tiers=[{"threshold_fen": 100, "off_fen": 50}],
            starts_at=T0 - dt.timedelta(days=3),
            ends_at=T0 - dt.timedelta(days=2),
        )
        person = make_person()
        mine = give(
            make_template(
                kind="fixed", amount_off_fen=500, threshold_fen=0, stackable_with_campaigns=True
            ),
            person,
        )
        theirs = give(
            make_template(kind="fixed", amount_off_fen=500, threshold_fen=0), make_person()
        )
        with clock.frozen(T0):
            result = price_quote_for_cart(
                person_id=person.pk,
                lines=[quote_line(shelf.milk_sku, 2), quote_line(shelf.apple_sku, 1)],
                channel="shop",
                live_session_id=None,
                coupon_ids=[mine.pk, theirs.pk],
                member=MemberBenefits("金卡", 0),
                is_new_customer=False,
                points_redeem_fen=0,
                shipping_fee_fen=800,
                free_shipping_threshold_fen=9900,
            )
        # 2×2500 + 5000 = 10000 - 500 coupon = 9500 < 9900 -> shipping 800
        assert [a.code for a in result.adjustments] == ["flash_price", "coupon"]
        assert result.total_fen == 9500 + 800
        assert result.discount_by_coupon == {mine.pk: 500}
        assert {r.coupon_id: r.reason for r in result.rejected_coupons} == {
            theirs.pk: "优惠券不存在"
        }


class TestCouponsUsableForCart:
    def test_usable_first_with_reasons_for_the_rest(self) -> None:
        shelf = make_shelf()
        person = make_person()
        small = give(make_template(kind="fixed", amount_off_fen=300, threshold_fen=0), person)
        big = give(make_template(kind="fixed", amount_off_fen=800, threshold_fen=0), person)
        live = give(make_template(live_only=True), person)
        far = give(make_template(threshold_fen=50000, amount_off_fen=5000), person)
        with clock.frozen(T0):
            result = coupons_usable_for_cart(
                person_id=person.pk,
                lines=[quote_line(shelf.apple_sku, 2)],
                channel="shop",
                live_session_id=None,
            )
        assert [(r.coupon.pk, r.usable, r.reason, r.discount_fen) for r in result] == [
            (big.pk, True, "", 800),
            (small.pk, True, "", 300),
            (live.pk, False, "仅限直播间使用", 0),
            (far.pk, False, "未满500元", 0),
        ]
        assert all(r.coupon.status == CouponStatus.AVAILABLE for r in result)


class TestPeopleResolve:
    def test_one_ids_and_phones_with_unknowns(self) -> None:
        by_phone = make_person(phone="13912345678")
        by_id = make_person()
        result = people_resolve(
            entries=["139 1234 5678", by_id.one_id.lower(), "P_NOSUCH", "12", "", by_id.one_id]
        )
        assert sorted(p.pk for p in result.people) == sorted([by_phone.pk, by_id.pk])
        assert result.unknown == ["P_NOSUCH", "12"]
