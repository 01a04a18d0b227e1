"""promotions.services against the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.core.models import AuditLog
from freshloop.identity.models import Person
from freshloop.identity.privacy import person_export
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.promotions.errors import (
    CampaignBudgetExhausted,
    CampaignInvalid,
    CouponBudgetExhausted,
    CouponLimitReached,
    CouponNotForLive,
    CouponSoldOut,
    CouponTemplateInactive,
    CouponTemplateInvalid,
    CouponTemplateLocked,
    CouponUnavailable,
    RedeemCodeExhausted,
    RedeemCodeExpired,
    RedeemCodeInvalid,
    RedeemCodeNotFound,
)
from freshloop.promotions.events import CouponsIssued, CouponUsed
from freshloop.promotions.models import (
    BudgetChargeStatus,
    Campaign,
    CampaignBudgetCharge,
    Coupon,
    CouponIssueCount,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    RedeemCode,
)
from freshloop.promotions.services import (
    CampaignSpec,
    campaign_budget_charge,
    campaign_budget_release,
    campaign_update,
    coupon_claim_by_code,
    coupon_issue,
    coupon_issue_in_live,
    coupon_template_update,
    coupon_void,
    coupons_expire,
    coupons_lock,
    coupons_redeem,
    coupons_release,
    promotions_person_repoint,
    redeem_code_create,
)
from tests.concurrency import errors_of, run_at_once
from tests.factories import make_person
from tests.promotions.helpers import (
    SYSTEM,
    T0,
    give,
    make_campaign,
    make_shelf,
    make_template,
    template_spec,
)

pytestmark = pytest.mark.django_db


def reload(template: CouponTemplate) -> CouponTemplate:
    return CouponTemplate.objects.get(pk=template.pk)


class TestCouponTemplateCreate:
    def test_creates_and_audits(self) -> None:
        shelf = make_shelf()
        template = make_template(product_ids=[shelf.milk.pk], category_ids=[shelf.fruit.pk])
        assert list(template.products.all()) == [shelf.milk]
        assert list(template.categories.all()) == [shelf.fruit]
        log = AuditLog.objects.get(action="coupon_template.create")
        assert log.target_id == str(template.pk)
        assert log.after is not None
        assert log.after["amount_off_fen"] == 2000

    @pytest.mark.parametrize(
        "overrides",
        [
            {"code": "Bad Code"},
            {"name": ""},
            {"kind": "gift"},
            {"kind": "fixed", "amount_off_fen": 0, "threshold_fen": 0},
            {"kind": "threshold", "amount_off_fen": 2000, "threshold_fen": 1000},
            {"kind": "percent", "amount_off_fen": 0, "threshold_fen": 0, "percent_off_bp": 0},
            {"kind": "percent", "amount_off_fen": 0, "percent_off_bp": 10000},
            {"kind": "percent", "amount_off_fen": 0, "percent_off_bp": 1000, "cap_fen": 0},
            {"kind": "fixed", "percent_off_bp": 1000},
            {"kind": "free_shipping", "amount_off_fen": 100},
            {"valid_days": None},
            {"valid_from": T0, "valid_until": T0},
            {"valid_until": dt.datetime(2027, 1, 1)},
            {"live_session_id": "L1"},
            {"per_user_limit": 0},
            {"total_limit": 0},
            {"budget_fen": -1},
            {"amount_off_fen": True},
            {"product_ids": [987654]},
        ],
    )
    def test_refuses_bad_settings_and_writes_nothing(self, overrides: dict[str, Any]) -> None:
        with pytest.raises(CouponTemplateInvalid):
            make_template(**overrides)
        assert CouponTemplate.objects.count() == 0
        assert AuditLog.objects.count() == 0

    def test_code_must_be_unique(self) -> None:
        make_template(code="milk-10")
        with pytest.raises(CouponTemplateInvalid):
            make_template(code="milk-10")


class TestCouponTemplateUpdate:
    def test_value_is_frozen_once_issued_but_wording_is_not(self) -> None:
        template = make_template(code="tpl-x")
        give(template, make_person())
        with pytest.raises(CouponTemplateLocked):
            coupon_template_update(
                actor=SYSTEM, template=template, spec=template_spec(code="tpl-x", amount_off_fen=1)
            )
        updated = coupon_template_update(
            actor=SYSTEM, template=template, spec=template_spec(code="tpl-x", name="年货满减")
        )
        assert updated.name == "年货满减"
        assert updated.issued_count == 1
        assert AuditLog.objects.filter(action="coupon_template.update").count() == 1

    def test_limits_cannot_drop_below_what_was_issued(self) -> None:
        template = make_template(code="tpl-y", total_limit=5)
        give(template, make_person())
        give(template, make_person())
        with pytest.raises(CouponTemplateInvalid):
            coupon_template_update(
                actor=SYSTEM, template=template, spec=template_spec(code="tpl-y", total_limit=1)
            )

    def test_code_cannot_change(self) -> None:
        template = make_template(code="tpl-z")
        with pytest.raises(CouponTemplateInvalid):
            coupon_template_update(actor=SYSTEM, template=template, spec=template_spec(code="z"))


class TestCouponIssue:
    def test_issued_coupon_window_from_valid_days(self) -> None:
        template = make_template(valid_days=7)
        with clock.frozen(T0):
            coupon = give(template, make_person())
        assert (coupon.valid_from, coupon.valid_until) == (T0, T0 + dt.timedelta(days=7))
        assert coupon.status == CouponStatus.AVAILABLE

    def test_window_ends_at_the_earlier_of_template_end_and_valid_days(self) -> None:
        template = make_template(valid_days=30, valid_until=T0 + dt.timedelta(days=3))
        with clock.frozen(T0):
            coupon = give(template, make_person())
        assert coupon.valid_until == T0 + dt.timedelta(days=3)

    def test_window_starts_at_the_template_start(self) -> None:
        start = T0 + dt.timedelta(days=2)
        template = make_template(valid_from=start, valid_days=1)
        with clock.frozen(T0):
            coupon = give(template, make_person())
        assert (coupon.valid_from, coupon.valid_until) == (start, start + dt.timedelta(days=1))

    def test_people_over_the_per_user_limit_are_skipped_and_reported(self) -> None:
        template = make_template(per_user_limit=1)
        first, second = make_person(), make_person()
        give(template, first)
        result = coupon_issue(
            template=template,
            people=[first, second, second],
            source=CouponSource.SEGMENT,
            source_ref="seg-1",
            actor=SYSTEM,
        )
        assert [c.person_id for c in result.issued] == [second.pk]
        assert [(s.person_id, s.reason, s.label) for s in result.skipped] == [
            (first.pk, "per_user_limit", "已达到每人领取上限")
        ]
        assert reload(template).issued_count == 2

    def test_per_user_limit_above_one(self) -> None:
        template = make_template(per_user_limit=2)
        person = make_person()
        give(template, person)
        give(template, person)
        result = coupon_issue(
            template=template, people=[person], source=CouponSource.MANUAL, actor=SYSTEM
        )
        assert result.issued == []
        assert Coupon.objects.filter(person=person).count() == 2

    def test_total_limit_stops_issuing(self) -> None:
        template = make_template(total_limit=2)
        people = [make_person() for _ in range(4)]
        result = coupon_issue(
            template=template, people=people, source=CouponSource.SEGMENT, actor=SYSTEM
        )
        assert len(result.issued) == 2
        assert [s.reason for s in result.skipped] == ["total_limit", "total_limit"]
        assert reload(template).issued_count == 2
        # the skipped people's per-user counters were rolled back
        assert CouponIssueCount.objects.filter(issued__gt=0).count() == 2

    def test_inactive_or_ended_template_cannot_be_issued(self) -> None:
        inactive = make_template(is_active=False)
        ended = make_template(valid_until=T0)
        for template in (inactive, ended):
            with clock.frozen(T0), pytest.raises(CouponTemplateInactive):
                give(template, make_person())

    def test_merged_person_is_skipped(self) -> None:
        template = make_template()
        person = make_person()
        Person.objects.filter(pk=person.pk).update(status="merged")
        person.refresh_from_db()
        result = coupon_issue(
            template=template, people=[person], source=CouponSource.MANUAL, actor=SYSTEM
        )
        assert [s.reason for s in result.skipped] == ["person_inactive"]

    def test_announced_once_after_commit(self, django_capture_on_commit_callbacks: Any) -> None:
        template = make_template()
        seen: list[CouponsIssued] = []
        from freshloop.core.events import subscribe, unsubscribe

        handler = subscribe(CouponsIssued)(seen.append)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                people = [make_person(), make_person()]
                coupon_issue(
                    template=template, people=people, source=CouponSource.SEGMENT, actor=SYSTEM
                )
        finally:
            unsubscribe(CouponsIssued, handler)
        assert len(seen) == 1
        assert sorted(seen[0].person_ids) == sorted(p.pk for p in people)

    def test_unknown_source_is_refused(self) -> None:
        with pytest.raises(InvalidInput):
            coupon_issue(
                template=make_template(), people=[make_person()], source="spam", actor=SYSTEM
            )


class TestCouponClaimByCode:
    def test_claims_one_coupon_case_insensitively(self) -> None:
        template = make_template()
        redeem_code_create(actor=SYSTEM, template=template, code="MILK2026", max_claims=10)
        person = make_person()
        coupon = coupon_claim_by_code(person=person, code=" milk2026 ")
        assert (coupon.person_id, coupon.source, coupon.source_ref) == (
            person.pk,
            CouponSource.CODE,
            "MILK2026",
        )
        assert RedeemCode.objects.get().claimed_count == 1
        assert AuditLog.objects.filter(action="coupon.issue", actor_type="consumer").count() == 1

    def test_unknown_code(self) -> None:
        with pytest.raises(RedeemCodeNotFound):
            coupon_claim_by_code(person=make_person(), code="NOPE")

    def test_expired_or_disabled_code(self) -> None:
        template = make_template()
        redeem_code_create(
            actor=SYSTEM, template=template, code="OLD1", valid_until=T0 - dt.timedelta(days=1)
        )
        redeem_code_create(actor=SYSTEM, template=template, code="OFF1", is_active=False)
        with clock.frozen(T0):
            for code in ("OLD1", "OFF1"):
                with pytest.raises(RedeemCodeExpired):
                    coupon_claim_by_code(person=make_person(), code=code)

    def test_code_of_an_ended_template_is_expired(self) -> None:
        template = make_template(valid_until=T0 + dt.timedelta(hours=1))
        redeem_code_create(actor=SYSTEM, template=template, code="LATE1")
        with clock.frozen(T0 + dt.timedelta(hours=2)), pytest.raises(RedeemCodeExpired):
            coupon_claim_by_code(person=make_person(), code="LATE1")

    def test_exhausted_code(self) -> None:
        template = make_template()
        redeem_code_create(actor=SYSTEM, template=template, code="ONCE", max_claims=1)
        coupon_claim_by_code(person=make_person(), code="ONCE")
        with pytest.raises(RedeemCodeExhausted):
            coupon_claim_by_code(person=make_person(), code="ONCE")

    def test_over_the_per_user_limit_uses_up_no_claim(self) -> None:
        template = make_template(per_user_limit=1)
        redeem_code_create(actor=SYSTEM, template=template, code="TWICE")
        person = make_person()
        coupon_claim_by_code(person=person, code="TWICE")
        with pytest.raises(CouponLimitReached):
            coupon_claim_by_code(person=person, code="TWICE")
        assert RedeemCode.objects.get().claimed_count == 1

    def test_sold_out_template(self) -> None:
        template = make_template(total_limit=1)
        redeem_code_create(actor=SYSTEM, template=template, code="LAST1")
        coupon_claim_by_code(person=make_person(), code="LAST1")
        with pytest.raises(CouponSoldOut):
            coupon_claim_by_code(person=make_person(), code="LAST1")

    @pytest.mark.parametrize("code", ["", "ab", "has space", "x" * 33])
    def test_redeem_code_format(self, code: str) -> None:
        with pytest.raises(RedeemCodeInvalid):
            redeem_code_create(actor=SYSTEM, template=make_template(), code=code)


class TestCouponIssueInLive:
    def test_issued_for_its_session_or_any(self) -> None:
        bound = make_template(live_only=True, live_session_id="L1")
        any_room = make_template(live_only=True)
        person = make_person()
        coupon = coupon_issue_in_live(template=bound, live_session_id="L1", person=person)
        assert (coupon.source, coupon.source_ref) == (CouponSource.LIVE, "L1")
        assert coupon_issue_in_live(template=any_room, live_session_id="L9", person=person)

    def test_refused_for_other_sessions_and_shop_coupons(self) -> None:
        with pytest.raises(CouponNotForLive):
            coupon_issue_in_live(
                template=make_template(live_only=True, live_session_id="L1"),
                live_session_id="L2",
                person=make_person(),
            )
        with pytest.raises(CouponNotForLive):
            coupon_issue_in_live(
                template=make_template(), live_session_id="L1", person=make_person()
            )

    def test_respects_the_per_user_limit(self) -> None:
        template = make_template(live_only=True)
        person = make_person()
        coupon_issue_in_live(template=template, live_session_id="L1", person=person)
        with pytest.raises(CouponLimitReached):
            coupon_issue_in_live(template=template, live_session_id="L1", person=person)


class TestCouponsLock:
    def test_locks_and_charges_the_budget(self) -> None:
        template = make_template(budget_fen=10000)
        person = make_person()
        coupon = give(template, person)
        coupons_lock(
            person_id=person.pk,
            coupon_ids=[coupon.pk],
            order_ref="O-1",
            discount_by_coupon={coupon.pk: 2000},
        )
        coupon.refresh_from_db()
        assert (coupon.status, coupon.locked_order_ref, coupon.discount_fen) == (
            CouponStatus.LOCKED,
            "O-1",
            2000,
        )
        assert reload(template).spent_fen == 2000
        assert AuditLog.objects.filter(action="coupon.lock").count() == 1

    def test_repeating_the_same_order_is_harmless(self) -> None:
        template = make_template(budget_fen=10000)
        person = make_person()
        coupon = give(template, person)
        for _ in range(2):
            coupons_lock(
                person_id=person.pk,
                coupon_ids=[coupon.pk],
                order_ref="O-1",
                discount_by_coupon={coupon.pk: 2000},
            )
        assert reload(template).spent_fen == 2000

    def test_another_persons_coupon(self) -> None:
        coupon = give(make_template(), make_person())
        with pytest.raises(CouponUnavailable) as caught:
            coupons_lock(
                person_id=make_person().pk,
                coupon_ids=[coupon.pk],
                order_ref="O-1",
                discount_by_coupon={},
            )
        assert caught.value.text == "优惠券不存在"

    def test_used_and_locked_coupons(self) -> None:
        person = make_person()
        coupon = give(make_template(), person)
        coupons_lock(
            person_id=person.pk, coupon_ids=[coupon.pk], order_ref="O-1", discount_by_coupon={}
        )
        with pytest.raises(CouponUnavailable) as caught:
            coupons_lock(
                person_id=person.pk, coupon_ids=[coupon.pk], order_ref="O-2", discount_by_coupon={}
            )
        assert caught.value.text == "优惠券已被其他订单占用"
        coupons_redeem(order_ref="O-1")
        with pytest.raises(CouponUnavailable) as caught:
            coupons_lock(
                person_id=person.pk, coupon_ids=[coupon.pk], order_ref="O-3", discount_by_coupon={}
            )
        assert caught.value.text == "优惠券已使用"

    def test_validity_window_with_a_frozen_clock(self) -> None:
        template = make_template(valid_days=1, valid_from=T0 + dt.timedelta(hours=1))
        person = make_person()
        with clock.frozen(T0):
            coupon = give(template, person)
            with pytest.raises(CouponUnavailable) as early:
                coupons_lock(
                    person_id=person.pk,
                    coupon_ids=[coupon.pk],
                    order_ref="O",
                    discount_by_coupon={},
                )
            assert early.value.text == "优惠券未到使用时间"
            clock.advance(dt.timedelta(hours=25))
            with pytest.raises(CouponUnavailable) as late:
                coupons_lock(
                    person_id=person.pk,
                    coupon_ids=[coupon.pk],
                    order_ref="O",
                    discount_by_coupon={},
                )
            assert late.value.text == "优惠券已过期"
            clock.advance(dt.timedelta(seconds=-1))
            coupons_lock(
                person_id=person.pk, coupon_ids=[coupon.pk], order_ref="O", discount_by_coupon={}
            )

    def test_budget_exhausted_leaves_every_coupon_available(self) -> None:
        roomy = make_template(budget_fen=100000)
        tight = make_template(budget_fen=1000)
        person = make_person()
        first, second = give(roomy, person), give(tight, person)
        with pytest.raises(CouponBudgetExhausted):
            coupons_lock(
                person_id=person.pk,
                coupon_ids=[first.pk, second.pk],
                order_ref="O-1",
                discount_by_coupon={first.pk: 500, second.pk: 1001},
            )
        assert set(Coupon.objects.values_list("status", flat=True)) == {CouponStatus.AVAILABLE}
        assert (reload(roomy).spent_fen, reload(tight).spent_fen) == (0, 0)

    def test_disabled_template(self) -> None:
        template = make_template()
        person = make_person()
        coupon = give(template, person)
        CouponTemplate.objects.filter(pk=template.pk).update(is_active=False)
        with pytest.raises(CouponUnavailable):
            coupons_lock(
                person_id=person.pk, coupon_ids=[coupon.pk], order_ref="O", discount_by_coupon={}
            )

    @pytest.mark.parametrize(
        ("order_ref", "ids", "discounts"),
        [
            ("", [1], {}),
            ("O", [1, 1], {}),
            ("O", [1], {2: 100}),
            ("O", [1], {1: -5}),
        ],
    )
    def test_bad_arguments(self, order_ref: str, ids: list[int], discounts: dict[int, int]) -> None:
        with pytest.raises(InvalidInput):
            coupons_lock(
                person_id=1, coupon_ids=ids, order_ref=order_ref, discount_by_coupon=discounts
            )


class TestCouponsRedeem:
    def test_marks_used_once_and_announces(self, django_capture_on_commit_callbacks: Any) -> None:
        template = make_template(budget_fen=5000)
        person = make_person()
        coupon = give(template, person)
        coupons_lock(
            person_id=person.pk,
            coupon_ids=[coupon.pk],
            order_ref="O-9",
            discount_by_coupon={coupon.pk: 2000},
        )
        from freshloop.core.events import subscribe, unsubscribe

        seen: list[CouponUsed] = []
        handler = subscribe(CouponUsed)(seen.append)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                coupons_redeem(order_ref="O-9")
                coupons_redeem(order_ref="O-9")
        finally:
            unsubscribe(CouponUsed, handler)
        coupon.refresh_from_db()
        assert (coupon.status, coupon.used_order_ref, coupon.discount_fen) == (
            CouponStatus.USED,
            "O-9",
            2000,
        )
        assert [(e.coupon_id, e.discount_fen) for e in seen] == [(coupon.pk, 2000)]
        assert reload(template).spent_fen == 2000
        coupons_release(order_ref="O-9")  # too late: a paid order keeps its coupon
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.USED


class TestCouponsRelease:
    def test_gives_the_coupon_and_the_budget_back_once(self) -> None:
        template = make_template(budget_fen=5000)
        person = make_person()
        coupon = give(template, person)
        coupons_lock(
            person_id=person.pk,
            coupon_ids=[coupon.pk],
            order_ref="O-1",
            discount_by_coupon={coupon.pk: 2000},
        )
        coupons_release(order_ref="O-1")
        coupons_release(order_ref="O-1")
        coupon.refresh_from_db()
        assert (coupon.status, coupon.locked_order_ref, coupon.discount_fen) == (
            CouponStatus.AVAILABLE,
            "",
            0,
        )
        assert reload(template).spent_fen == 0
        # and it can be used for the next order
        coupons_lock(
            person_id=person.pk, coupon_ids=[coupon.pk], order_ref="O-2", discount_by_coupon={}
        )

    def test_coupon_that_expired_meanwhile_becomes_expired(self) -> None:
        template = make_template(valid_days=1)
        person = make_person()
        with clock.frozen(T0):
            coupon = give(template, person)
            coupons_lock(
                person_id=person.pk, coupon_ids=[coupon.pk], order_ref="O", discount_by_coupon={}
            )
            clock.advance(dt.timedelta(days=2))
            coupons_release(order_ref="O")
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.EXPIRED


class TestCouponsExpire:
    def test_only_available_coupons_past_their_end(self) -> None:
        template = make_template(valid_days=1)
        person = make_person()
        with clock.frozen(T0):
            stale, locked = give(template, make_person()), give(template, person)
            coupons_lock(
                person_id=person.pk, coupon_ids=[locked.pk], order_ref="O", discount_by_coupon={}
            )
            assert coupons_expire() == 0
            clock.advance(dt.timedelta(days=1))
            assert coupons_expire() == 1
        assert Coupon.objects.get(pk=stale.pk).status == CouponStatus.EXPIRED
        assert Coupon.objects.get(pk=locked.pk).status == CouponStatus.LOCKED


class TestCouponVoid:
    def test_voids_available_only(self) -> None:
        person = make_person()
        coupon = give(make_template(), person)
        assert coupon_void(actor=SYSTEM, coupon=coupon, reason="发错了").status == "void"
        with pytest.raises(CouponUnavailable):
            coupon_void(actor=SYSTEM, coupon=coupon, reason="again")


class TestCampaignCreate:
    def test_flash_price_campaign(self) -> None:
        shelf = make_shelf()
        campaign = make_campaign(kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: 1990})
        assert list(campaign.prices.values_list("sku_id", "price_fen")) == [
            (shelf.milk_sku.pk, 1990)
        ]
        assert AuditLog.objects.filter(action="campaign.create").count() == 1

    @pytest.mark.parametrize(
        "overrides",
        [
            {"tiers": []},
            {
                "tiers": [
                    {"threshold_fen": 9900, "off_fen": 2000},
                    {"threshold_fen": 9900, "off_fen": 3000},
                ]
            },
            {
                "tiers": [
                    {"threshold_fen": 9900, "off_fen": 3000},
                    {"threshold_fen": 19900, "off_fen": 2000},
                ]
            },
            {"tiers": [{"threshold_fen": 1000, "off_fen": 2000}]},
            {"tiers": [{"threshold_fen": 1000, "off_fen": 0}]},
            {"tiers": [{"threshold_fen": 1000}]},
            {"tiers": [{"threshold_fen": "99", "off_fen": 20}]},
            {"channels": []},
            {"channels": ["tv"]},
            {"ends_at": T0 - dt.timedelta(days=2)},
            {"kind": "flash_price", "tiers": []},
            {"code": "带中文"},
        ],
    )
    def test_refuses_bad_settings(self, overrides: dict[str, Any]) -> None:
        with pytest.raises(CampaignInvalid):
            make_campaign(**overrides)
        assert Campaign.objects.count() == 0

    def test_flash_price_must_be_below_list_price(self) -> None:
        shelf = make_shelf()
        for price in (3000, 0):
            with pytest.raises(CampaignInvalid):
                make_campaign(kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: price})


class TestCampaignUpdate:
    def test_prices_replaced_and_budget_floor(self) -> None:
        shelf = make_shelf()
        campaign = make_campaign(
            code="flash-1", kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: 1990}
        )
        spec = CampaignSpec(
            code="flash-1",
            name="秒杀",
            kind="flash_price",
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            channels=["live"],
            prices={shelf.apple_sku.pk: 3990},
            budget_fen=100,
        )
        updated = campaign_update(actor=SYSTEM, campaign=campaign, spec=spec)
        assert list(updated.prices.values_list("sku_id", flat=True)) == [shelf.apple_sku.pk]
        assert updated.channels == ["live"]
        campaign_budget_charge(order_ref="O-1", discount_by_campaign={campaign.pk: 80})
        with pytest.raises(CampaignInvalid):
            campaign_update(
                actor=SYSTEM, campaign=campaign, spec=dataclasses.replace(spec, budget_fen=50)
            )


class TestCampaignBudget:
    def test_charge_is_idempotent_and_bounded(self) -> None:
        campaign = make_campaign(budget_fen=3000)
        campaign_budget_charge(order_ref="O-1", discount_by_campaign={campaign.pk: 2000})
        campaign_budget_charge(order_ref="O-1", discount_by_campaign={campaign.pk: 2000})
        assert Campaign.objects.get(pk=campaign.pk).spent_fen == 2000
        with pytest.raises(CampaignBudgetExhausted):
            campaign_budget_charge(order_ref="O-2", discount_by_campaign={campaign.pk: 1001})
        assert CampaignBudgetCharge.objects.count() == 1

    def test_release_gives_back_once(self) -> None:
        campaign = make_campaign(budget_fen=3000)
        campaign_budget_charge(order_ref="O-1", discount_by_campaign={campaign.pk: 2000})
        campaign_budget_release(order_ref="O-1")
        campaign_budget_release(order_ref="O-1")
        assert Campaign.objects.get(pk=campaign.pk).spent_fen == 0
        assert CampaignBudgetCharge.objects.get().status == BudgetChargeStatus.RELEASED

    def test_unknown_campaign(self) -> None:
        with pytest.raises(CampaignInvalid):
            campaign_budget_charge(order_ref="O-1", discount_by_campaign={424242: 1})


class TestPromotionsPersonRepoint:
    def test_merge_moves_coupons_and_adds_up_claim_counts(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        template = make_template(per_user_limit=2)
        older = identify(
            identifiers=[IdentifierInput(type="phone", value="13900000001", verified=True)],
            source="shop",
        ).person
        newer = identify(
            identifiers=[IdentifierInput(type="wechat_unionid", value="u-9", verified=True)],
            source="shop",
        ).person
        give(template, older)
        moved = give(template, newer)
        with django_capture_on_commit_callbacks(execute=True):
            identify(
                identifiers=[
                    IdentifierInput(type="phone", value="13900000001", verified=True),
                    IdentifierInput(type="wechat_unionid", value="u-9", verified=True),
                ],
                source="shop",
            )
        assert Coupon.objects.get(pk=moved.pk).person_id == older.pk
        assert list(CouponIssueCount.objects.values_list("person_id", "issued")) == [(older.pk, 2)]
        result = coupon_issue(
            template=template, people=[older], source=CouponSource.MANUAL, actor=SYSTEM
        )
        assert [s.reason for s in result.skipped] == ["per_user_limit"]

    def test_repoint_without_survivor_counter_moves_it(self) -> None:
        template = make_template()
        gone, survivor = make_person(), make_person()
        give(template, gone)
        promotions_person_repoint(from_person_id=gone.pk, into_person_id=survivor.pk)
        assert CouponIssueCount.objects.get().person_id == survivor.pk


class TestExportSection:
    def test_pipl_export_lists_coupons(self) -> None:
        person = make_person()
        coupon = give(make_template(name="新客立减"), person)
        document = person_export(actor=Actor.system("tests"), one_id=person.one_id)
        assert document["sections"]["coupons"][0]["code"] == coupon.code
        assert document["sections"]["coupons"][0]["name"] == "新客立减"


# --- concurrency ----------------------------------------------------------------------------


def run_concurrently(calls: list[Callable[[], object]]) -> list[BaseException]:
    return errors_of(run_at_once(calls, in_transaction=True))


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_one_coupon_used_by_two_orders_at_once_succeeds_exactly_once(self) -> None:
        template = make_template(per_user_limit=1, budget_fen=100000)
        person = make_person()
        coupon = give(template, person)
        for round_number in range(3):
            Coupon.objects.filter(pk=coupon.pk).update(
                status=CouponStatus.AVAILABLE, locked_order_ref="", discount_fen=0
            )
            CouponTemplate.objects.filter(pk=template.pk).update(spent_fen=0)
            errors = run_concurrently(
                [
                    lambda ref=f"O-{round_number}-{n}": coupons_lock(  # type: ignore[misc]
                        person_id=person.pk,
                        coupon_ids=[coupon.pk],
                        order_ref=ref,
                        discount_by_coupon={coupon.pk: 2000},
                    )
                    for n in range(4)
                ]
            )
            assert len(errors) == 3
            assert all(isinstance(error, CouponUnavailable) for error in errors)
            assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.LOCKED
            assert reload(template).spent_fen == 2000

    def test_one_per_user_claimed_twice_at_once_gives_one_coupon(self) -> None:
        template = make_template(per_user_limit=1)
        redeem_code_create(actor=SYSTEM, template=template, code="RACE1")
        person = make_person()
        errors = run_concurrently(
            [lambda: coupon_claim_by_code(person=person, code="RACE1") for _ in range(4)]
        )
        assert len(errors) == 3
        assert all(isinstance(error, CouponLimitReached) for error in errors)
        assert Coupon.objects.filter(person=person).count() == 1
        assert RedeemCode.objects.get().claimed_count == 1

    def test_total_limit_holds_under_a_crowd(self) -> None:
        template = make_template(total_limit=3)
        people = [make_person() for _ in range(6)]
        errors = run_concurrently(
            [
                lambda p=person: coupon_issue(  # type: ignore[misc]
                    template=template, people=[p], source=CouponSource.SEGMENT, actor=SYSTEM
                )
                for person in people
            ]
        )
        assert errors == []
        assert Coupon.objects.count() == 3
        assert reload(template).issued_count == 3

    def test_budget_for_one_discount_is_granted_once(self) -> None:
        template = make_template(budget_fen=2500)
        people = [make_person() for _ in range(4)]
        coupons = [give(template, person) for person in people]
        errors = run_concurrently(
            [
                lambda c=coupon: coupons_lock(  # type: ignore[misc]
                    person_id=c.person_id,
                    coupon_ids=[c.pk],
                    order_ref=f"O-{c.pk}",
                    discount_by_coupon={c.pk: 2000},
                )
                for coupon in coupons
            ]
        )
        assert len(errors) == 3
        assert all(isinstance(error, CouponBudgetExhausted) for error in errors)
        assert reload(template).spent_fen == 2000
        assert Coupon.objects.filter(status=CouponStatus.LOCKED).count() == 1
