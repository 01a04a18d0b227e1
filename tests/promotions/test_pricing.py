"""price_quote(): pure pricing, every number computed by hand in the comments."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freshloop.core.errors import InvalidInput
from freshloop.promotions.pricing import (
    CampaignOffer,
    CouponOffer,
    LineDiscount,
    MemberBenefits,
    PriceQuote,
    QuoteLine,
    SpecialPrice,
    SpecialPriceKind,
    price_quote,
    yuan_label,
    zhe_label,
)
from tests.promotions.helpers import T0, coupon, flash, line, special, tiered


def quote(lines: list[QuoteLine], **kw: Any) -> PriceQuote:
    values: dict[str, Any] = {
        "channel": "shop",
        "live_session_id": None,
        "coupons": [],
        "campaigns": [],
        "member": None,
        "is_new_customer": False,
        "shipping_fee_fen": 0,
        "free_shipping_threshold_fen": 0,
        "points_redeem_fen": 0,
        "now": T0,
    }
    values.update(kw)
    return price_quote(lines=lines, **values)


def explained(result: PriceQuote) -> list[tuple[str, str, int, str | int]]:
    return [(a.code, a.label, a.amount_fen, a.target) for a in result.adjustments]


def rejections(result: PriceQuote) -> dict[int, str]:
    return {r.coupon_id: r.reason for r in result.rejected_coupons}


class TestLabels:
    def test_yuan_and_zhe(self) -> None:
        assert [yuan_label(9900), yuan_label(9950), yuan_label(1), yuan_label(0)] == [
            "99",
            "99.5",
            "0.01",
            "0",
        ]
        assert [zhe_label(1000), zhe_label(1200), zhe_label(500), zhe_label(250)] == [
            "9",
            "8.8",
            "9.5",
            "9.75",
        ]


class TestPriceQuoteBasics:
    def test_no_promotions_charges_list_price_and_shipping(self) -> None:
        result = quote([line(1, 3000, 2), line(2, 5000)], shipping_fee_fen=800)
        assert (result.subtotal_fen, result.shipping_fen, result.total_fen) == (11000, 800, 11800)
        assert result.adjustments == ()
        assert [item.final_fen for item in result.lines] == [6000, 5000]

    @pytest.mark.parametrize(
        ("kw", "lines"),
        [
            ({"channel": "tv"}, [line(1, 100)]),
            ({}, [line(1, 100, 0)]),
            ({}, [line(1, -1)]),
            ({}, [line(1, 100), line(1, 200)]),
            ({"shipping_fee_fen": -1}, [line(1, 100)]),
            ({"points_redeem_fen": -1}, [line(1, 100)]),
            ({"points_cap_percent": 101}, [line(1, 100)]),
            ({"member": MemberBenefits("金卡", 120)}, [line(1, 100)]),
            ({"now": dt.datetime(2026, 1, 1)}, [line(1, 100)]),
        ],
    )
    def test_bad_input_is_refused(self, kw: dict[str, Any], lines: list[QuoteLine]) -> None:
        with pytest.raises(InvalidInput):
            quote(lines, **kw)


class TestFlashPrice:
    def test_lowest_active_flash_price_wins(self) -> None:
        # 3000×2; campaign 1 sells at 2500, campaign 2 at 2200 -> 2200, saves (3000-2200)×2 = 1600
        result = quote(
            [line(1, 3000, 2)],
            campaigns=[flash(1, {1: 2500}), flash(2, {1: 2200}, name="直播秒杀")],
        )
        assert explained(result) == [("flash_price", "限时特价 (直播秒杀)", -1600, 1)]
        assert result.lines[0].campaign_unit_price_fen == 2200
        assert result.total_fen == 4400
        assert result.discount_by_campaign == {2: 1600}

    def test_flash_price_not_below_list_or_not_running_is_ignored(self) -> None:
        campaigns = [
            flash(1, {1: 3000}),  # not cheaper
            flash(2, {1: 1000}, is_active=False),
            flash(3, {1: 1000}, starts_at=T0 + dt.timedelta(minutes=1)),
            flash(4, {1: 1000}, ends_at=T0),  # the end is exclusive
            flash(5, {1: 1000}, channels=frozenset({"live"})),
        ]
        assert quote([line(1, 3000)], campaigns=campaigns).total_fen == 3000

    def test_campaign_without_enough_budget_gives_way_to_the_next_price(self) -> None:
        # campaign 2 would save 1600 but only 1000 fen of budget remain -> campaign 1 (1000 off)
        result = quote(
            [line(1, 3000, 2)],
            campaigns=[flash(1, {1: 2500}), flash(2, {1: 2200}, budget_left_fen=1000)],
        )
        assert result.discount_by_campaign == {1: 1000}
        assert result.total_fen == 5000


class TestTieredCampaign:
    def test_best_reached_tier_spread_over_lines_by_amount(self) -> None:
        # 6000 + 5000 = 11000 reaches 满99减20 but not 满199减50.
        # 2000 split 6000:5000 -> 1090.9 and 909.1 -> 1091 / 909 (largest remainder)
        result = quote(
            [line(1, 3000, 2), line(2, 5000)],
            campaigns=[tiered(7, [(9900, 2000), (19900, 5000)])],
        )
        assert explained(result) == [("tiered", "满99减20 (双十二满减)", -2000, "order")]
        assert [item.final_fen for item in result.lines] == [4909, 4091]
        assert result.total_fen == 9000

    def test_below_the_first_tier_nothing_applies(self) -> None:
        result = quote([line(1, 9899)], campaigns=[tiered(7, [(9900, 2000)])])
        assert result.adjustments == ()

    def test_only_eligible_lines_count_and_the_biggest_saving_wins(self) -> None:
        lines = [line(1, 6000, category_id=1), line(2, 5000, category_id=2)]
        fruit_only = tiered(1, [(5000, 3000)], category_ids=frozenset({2}), name="水果节")
        everything = tiered(2, [(9900, 2000)])
        result = quote(lines, campaigns=[fruit_only, everything])
        # fruit: 5000 reaches 满50减30 -> 3000 (beats 2000), taken from the fruit line only
        assert explained(result) == [("tiered", "满50减30 (水果节)", -3000, "order")]
        assert [item.final_fen for item in result.lines] == [6000, 2000]

    def test_tiers_use_flash_prices(self) -> None:
        # 2 × 5000 = 10000 at list price, 2 × 4900 = 9800 on flash: below 满99
        result = quote(
            [line(1, 5000, 2)], campaigns=[flash(1, {1: 4900}), tiered(2, [(9900, 2000)])]
        )
        assert [a.code for a in result.adjustments] == ["flash_price"]


class TestMemberDiscount:
    def test_percent_of_remaining_goods(self) -> None:
        result = quote([line(1, 10000)], member=MemberBenefits("金卡", 5))
        assert explained(result) == [("member_discount", "会员折扣 (金卡 9.5折)", -500, "order")]
        assert result.total_fen == 9500


class TestCoupons:
    def test_fixed(self) -> None:
        result = quote([line(1, 5000)], coupons=[coupon(1, "fixed", amount_off_fen=1000)])
        assert explained(result) == [("coupon", "立减10元 (券1)", -1000, "order")]
        assert result.discount_by_coupon == {1: 1000}
        assert result.applied_coupon_ids == (1,)

    def test_fixed_never_below_zero(self) -> None:
        result = quote([line(1, 500)], coupons=[coupon(1, "fixed", amount_off_fen=1000)])
        assert result.total_fen == 0
        assert result.discount_by_coupon == {1: 500}

    def test_percent_with_and_without_cap(self) -> None:
        # 8.8折 on 10000 = 1200 off; capped at 1000
        uncapped = quote([line(1, 10000)], coupons=[coupon(1, "percent", percent_off_bp=1200)])
        capped = quote(
            [line(1, 10000)], coupons=[coupon(1, "percent", percent_off_bp=1200, cap_fen=1000)]
        )
        assert explained(uncapped) == [("coupon", "8.8折券 (券1)", -1200, "order")]
        assert capped.total_fen == 9000

    def test_threshold_reached_and_not(self) -> None:
        offer = coupon(1, "threshold", amount_off_fen=2000, threshold_fen=9900)
        reached = quote([line(1, 9900)], coupons=[offer])
        assert explained(reached) == [("coupon", "满99减20 (券1)", -2000, "order")]
        missed = quote([line(1, 9899)], coupons=[offer])
        assert rejections(missed) == {1: "未满99元"}
        assert missed.total_fen == 9899

    def test_threshold_is_measured_after_campaigns(self) -> None:
        # 10000 - 满99减20 campaign = 8000 < 99 -> the stackable coupon is rejected
        offer = coupon(
            1, "threshold", amount_off_fen=1000, threshold_fen=9900, stackable_with_campaigns=True
        )
        result = quote([line(1, 10000)], coupons=[offer], campaigns=[tiered(5, [(9900, 2000)])])
        assert rejections(result) == {1: "未满99元"}

    @pytest.mark.parametrize(
        ("offer", "kw", "reason"),
        [
            (coupon(1, "fixed", amount_off_fen=100, live_only=True), {}, "仅限直播间使用"),
            (
                coupon(1, "fixed", amount_off_fen=100, live_only=True, live_session_id="L1"),
                {"channel": "live", "live_session_id": "L2"},
                "仅限指定直播间使用",
            ),
            (coupon(1, "fixed", amount_off_fen=100, new_customer_only=True), {}, "仅限新客"),
            (coupon(1, "fixed", amount_off_fen=100, status="used"), {}, "优惠券已使用"),
            (coupon(1, "fixed", amount_off_fen=100, status="locked"), {}, "优惠券已被其他订单占用"),
            (coupon(1, "fixed", amount_off_fen=100, status="void"), {}, "优惠券已作废"),
            (coupon(1, "fixed", amount_off_fen=100, valid_until=T0), {}, "优惠券已过期"),
            (
                coupon(1, "fixed", amount_off_fen=100, valid_from=T0 + dt.timedelta(seconds=1)),
                {},
                "优惠券未到使用时间",
            ),
            (coupon(1, "fixed", amount_off_fen=100, is_active=False), {}, "优惠券已停用"),
            (
                coupon(1, "fixed", amount_off_fen=100, product_ids=frozenset({999})),
                {},
                "购物车中没有适用商品",
            ),
            (coupon(1, "fixed", amount_off_fen=100, budget_left_fen=99), {}, "优惠券预算已用完"),
        ],
    )
    def test_rejection_reasons(self, offer: CouponOffer, kw: dict[str, Any], reason: str) -> None:
        result = quote([line(1, 5000)], coupons=[offer], **kw)
        assert rejections(result) == {1: reason}
        assert result.total_fen == 5000
        assert result.applied_coupon_ids == ()

    def test_live_coupon_in_its_live_room(self) -> None:
        offer = coupon(1, "fixed", amount_off_fen=100, live_only=True, live_session_id="L1")
        result = quote([line(1, 5000)], coupons=[offer], channel="live", live_session_id="L1")
        assert result.total_fen == 4900

    def test_new_customer_coupon_for_a_new_customer(self) -> None:
        offer = coupon(1, "fixed", amount_off_fen=100, new_customer_only=True)
        assert quote([line(1, 5000)], coupons=[offer], is_new_customer=True).total_fen == 4900

    def test_product_restricted_coupon_discounts_only_its_lines(self) -> None:
        # 8折 on the milk line only: 20% of 3000 = 600, apple untouched
        offer = coupon(1, "percent", percent_off_bp=2000, product_ids=frozenset({10}))
        result = quote(
            [line(1, 3000, product_id=10), line(2, 5000, product_id=20)], coupons=[offer]
        )
        assert [item.final_fen for item in result.lines] == [2400, 5000]

    def test_not_stackable_with_a_campaign(self) -> None:
        offer = coupon(1, "fixed", amount_off_fen=500)
        result = quote([line(1, 3000)], coupons=[offer], campaigns=[flash(9, {1: 2500})])
        assert rejections(result) == {1: "不可与活动优惠同享"}
        stackable = coupon(1, "fixed", amount_off_fen=500, stackable_with_campaigns=True)
        result = quote([line(1, 3000)], coupons=[stackable], campaigns=[flash(9, {1: 2500})])
        assert result.total_fen == 2000

    def test_one_order_coupon_the_best_one(self) -> None:
        small = coupon(1, "fixed", amount_off_fen=500)
        big = coupon(2, "percent", percent_off_bp=1000)  # 9折 on 10000 = 1000
        result = quote([line(1, 10000)], coupons=[small, big])
        assert result.applied_coupon_ids == (2,)
        assert rejections(result) == {1: "每单限用一张优惠券"}
        assert result.total_fen == 9000

    def test_free_shipping_coupon(self) -> None:
        offer = coupon(3, "free_shipping")
        result = quote([line(1, 5000)], coupons=[offer], shipping_fee_fen=1000)
        assert explained(result) == [("coupon", "免运费券 (券3)", -1000, "shipping")]
        assert (result.shipping_fen, result.total_fen) == (0, 5000)
        assert result.discount_by_coupon == {3: 1000}

    def test_free_shipping_coupon_with_an_order_coupon(self) -> None:
        result = quote(
            [line(1, 5000)],
            coupons=[coupon(1, "fixed", amount_off_fen=500), coupon(2, "free_shipping")],
            shipping_fee_fen=1000,
        )
        assert result.applied_coupon_ids == (1, 2)
        assert result.total_fen == 4500

    def test_free_shipping_coupon_not_spent_when_shipping_is_free_anyway(self) -> None:
        offers = [coupon(3, "free_shipping"), coupon(4, "free_shipping")]
        by_threshold = quote(
            [line(1, 9900)], coupons=offers, shipping_fee_fen=1000, free_shipping_threshold_fen=9900
        )
        assert rejections(by_threshold) == {3: "本单已免运费", 4: "本单已免运费"}
        assert explained(by_threshold) == [
            ("threshold_free_shipping", "满99元包邮", -1000, "shipping")
        ]
        no_fee = quote([line(1, 100)], coupons=offers[:1])
        assert rejections(no_fee) == {3: "本单已免运费"}

    def test_second_free_shipping_coupon_is_rejected(self) -> None:
        offers = [coupon(3, "free_shipping"), coupon(4, "free_shipping")]
        result = quote([line(1, 100)], coupons=offers, shipping_fee_fen=1000)
        assert result.applied_coupon_ids == (3,)
        assert rejections(result) == {4: "每单限用一张免运费券"}


class TestPointsAndShipping:
    def test_points_capped_at_half_of_what_remains(self) -> None:
        result = quote([line(1, 10000)], points_redeem_fen=8000)
        assert explained(result) == [("points", "积分抵扣50元", -5000, "order")]
        assert result.points_applied_fen == 5000

    def test_points_cap_chosen_by_the_caller(self) -> None:
        result = quote([line(1, 10000)], points_redeem_fen=8000, points_cap_percent=20)
        assert result.points_applied_fen == 2000

    def test_threshold_free_shipping_uses_goods_after_discounts(self) -> None:
        # 10000 - 2000 coupon = 8000 < 9900: shipping stays
        result = quote(
            [line(1, 10000)],
            coupons=[coupon(1, "fixed", amount_off_fen=2000)],
            shipping_fee_fen=800,
            free_shipping_threshold_fen=9900,
        )
        assert (result.shipping_fen, result.total_fen) == (800, 8800)

    def test_member_free_shipping(self) -> None:
        result = quote([line(1, 100)], member=MemberBenefits("黑金", 0, True), shipping_fee_fen=800)
        assert explained(result) == [("member_free_shipping", "会员包邮 (黑金)", -800, "shipping")]
        assert result.total_fen == 100


class TestPriceQuoteExplainsEveryFen:
    def test_full_stack_line_by_line(self) -> None:
        # milk 3000×2 (flash 2500 -> 5000), apple 5000: subtotal 11000, after flash 10000
        # 满99减20: 2000 split 5000:5000 -> 1000 each -> 4000 / 4000
        # member 5%: 400 of 8000 -> 200 each -> 3800 / 3800
        # 立减5元 (stackable): 500 -> 250 each -> 3550 / 3550
        # points: 1000 asked, cap 50% of 7100 = 3550 -> 1000 -> 500 each -> 3050 / 3050
        # shipping 800; goods after promotions 7100 < 9900 -> charged; total 6100 + 800 = 6900
        result = quote(
            [line(1, 3000, 2, name="鲜牛奶"), line(2, 5000, name="苹果")],
            campaigns=[flash(1, {1: 2500}), tiered(2, [(9900, 2000)])],
            member=MemberBenefits("金卡", 5),
            coupons=[coupon(7, "fixed", amount_off_fen=500, stackable_with_campaigns=True)],
            points_redeem_fen=1000,
            shipping_fee_fen=800,
            free_shipping_threshold_fen=9900,
        )
        assert explained(result) == [
            ("flash_price", "限时特价 (限时秒杀)", -1000, 1),
            ("tiered", "满99减20 (双十二满减)", -2000, "order"),
            ("member_discount", "会员折扣 (金卡 9.5折)", -400, "order"),
            ("coupon", "立减5元 (券7)", -500, "order"),
            ("points", "积分抵扣10元", -1000, "order"),
        ]
        milk, apple = result.lines
        assert [(d.code, d.amount_fen) for d in milk.discounts] == [
            ("flash_price", -1000),
            ("tiered", -1000),
            ("member_discount", -200),
            ("coupon", -250),
            ("points", -500),
        ]
        assert (milk.final_fen, apple.final_fen) == (3050, 3050)
        assert (result.subtotal_fen, result.shipping_fen, result.total_fen) == (11000, 800, 6900)
        assert result.discount_fen == 4900
        assert result.discount_by_campaign == {1: 1000, 2: 2000}
        assert result.discount_by_coupon == {7: 500}


class TestSpecialPrices:
    """`price_quote(special_prices=...)`: a granted unit price for one SKU (live flash sale,
    group-deal tier, presale, subscription, member price), an input of its own."""

    def test_each_kind_is_explained_on_its_own_line(self) -> None:
        # five ¥30 SKUs, each with a special price of another kind, ¥1 cheaper per kind
        kinds = list(SpecialPriceKind)
        lines = [line(number, 3000) for number in range(1, len(kinds) + 1)]
        grants = {
            number: special(3000 - 100 * number, kind) for number, kind in enumerate(kinds, start=1)
        }
        result = quote(lines, special_prices=grants)
        assert [
            (a.code, a.label, a.amount_fen, a.target, a.source_id, a.source_ref)
            for a in result.adjustments
        ] == [
            ("flash_price", "直播秒杀价", -100, 1, None, "flash_sale:1"),
            ("group_deal_price", "拼团价", -200, 2, None, "group_deal_tier:1"),
            ("presale_price", "预售价", -300, 3, None, "presale:1"),
            ("subscription_price", "订阅价", -400, 4, None, "subscription:1"),
            ("member_price", "会员价", -500, 5, None, "member_price:1"),
        ]
        assert [q.campaign_unit_price_fen for q in result.lines] == [2900, 2800, 2700, 2600, 2500]
        assert result.lines[0].discounts == (LineDiscount("flash_price", None, -100),)
        # no campaign is charged and none is reported as applied
        assert (result.discount_by_campaign, result.applied_campaign_ids) == ({}, ())
        assert result.total_fen == 15000 - 1500

    def test_a_special_price_above_list_is_capped_at_list(self) -> None:
        """Capped, not refused: the grant (a flash sale set up before the show) can outlive a
        list-price cut; the buyer then pays the lower list price instead of failing checkout.
        Nothing was taken off, so no line is shown and coupons stack as without it."""
        offer = coupon(1, "fixed", amount_off_fen=500)
        for price in (3500, 3000):
            result = quote([line(1, 3000)], special_prices={1: special(price)}, coupons=[offer])
            assert result.lines[0].campaign_unit_price_fen == 3000
            assert explained(result) == [("coupon", "立减5元 (券1)", -500, "order")]
            assert result.total_fen == 2500

    def test_it_owns_its_sku_even_against_a_lower_flash_campaign(self) -> None:
        # campaign 1: sku 1 at 2000, sku 2 at 4000, 1000 fen of budget left. Sku 1 is the
        # buyer's at 2500 (special), so the campaign prices sku 2 only: 1000 off, within budget
        # (were sku 1 counted, 2000 off would exceed it and the campaign would not apply).
        campaign = flash(1, {1: 2000, 2: 4000}, budget_left_fen=1000)
        result = quote(
            [line(1, 3000), line(2, 5000)],
            campaigns=[campaign],
            special_prices={1: special(2500)},
        )
        assert explained(result) == [
            ("flash_price", "直播秒杀价", -500, 1),
            ("flash_price", "限时特价 (限时秒杀)", -1000, 2),
        ]
        assert result.discount_by_campaign == {1: 1000}
        # capped at list, it still owns the SKU: the campaign does not price it either
        capped = quote([line(1, 3000)], campaigns=[campaign], special_prices={1: special(3100)})
        assert (capped.adjustments, capped.total_fen) == ((), 3000)

    def test_covers_only_its_max_quantity(self) -> None:
        # 3 × 3000 with 2 units granted at 2000: (3000 - 2000) × 2 = 2000 off, 1 unit at list
        result = quote([line(1, 3000, 3)], special_prices={1: special(2000, max_quantity=2)})
        assert explained(result) == [("flash_price", "直播秒杀价", -2000, 1)]
        assert result.lines[0].campaign_unit_price_fen == 2000
        assert result.total_fen == 7000
        # a cap at or above the quantity covers every unit
        whole = quote([line(1, 3000, 3)], special_prices={1: special(2000, max_quantity=3)})
        assert whole.total_fen == 6000

    def test_stacks_as_a_flash_campaign_price_does(self) -> None:
        # the full stack of TestPriceQuoteExplainsEveryFen with milk's flash campaign price
        # granted as a special price instead: every number is the same, only the flash line
        # is the special price's own and no campaign is charged for it
        result = quote(
            [line(1, 3000, 2, name="鲜牛奶"), line(2, 5000, name="苹果")],
            campaigns=[tiered(2, [(9900, 2000)])],
            special_prices={1: special(2500)},
            member=MemberBenefits("金卡", 5),
            coupons=[coupon(7, "fixed", amount_off_fen=500, stackable_with_campaigns=True)],
            points_redeem_fen=1000,
            shipping_fee_fen=800,
            free_shipping_threshold_fen=9900,
        )
        assert explained(result) == [
            ("flash_price", "直播秒杀价", -1000, 1),
            ("tiered", "满99减20 (双十二满减)", -2000, "order"),
            ("member_discount", "会员折扣 (金卡 9.5折)", -400, "order"),
            ("coupon", "立减5元 (券7)", -500, "order"),
            ("points", "积分抵扣10元", -1000, "order"),
        ]
        assert [q.final_fen for q in result.lines] == [3050, 3050]
        assert result.total_fen == 6900
        assert result.discount_by_campaign == {2: 2000}
        # a coupon that does not stack with campaigns does not stack with a special price
        plain = coupon(8, "fixed", amount_off_fen=500)
        alone = quote([line(1, 3000)], special_prices={1: special(2500)}, coupons=[plain])
        assert rejections(alone) == {8: "不可与活动优惠同享"}
        # and tiers are reached on the specially priced amount: 2 × 4900 = 9800 < 9900
        below = quote(
            [line(1, 5000, 2)],
            campaigns=[tiered(2, [(9900, 2000)])],
            special_prices={1: special(4900, SpecialPriceKind.PRESALE)},
        )
        assert [a.code for a in below.adjustments] == ["presale_price"]

    @pytest.mark.parametrize(
        "grants",
        [
            {1: special(-1)},
            {1: special(100, max_quantity=0)},
            {1: special(100, kind="clearance")},
            {2: special(100)},  # not a SKU of the cart
        ],
    )
    def test_bad_special_price_is_refused(self, grants: dict[int, SpecialPrice]) -> None:
        with pytest.raises(InvalidInput):
            quote([line(1, 3000)], special_prices=grants)

    @pytest.mark.parametrize("campaign_id", [0, -1])
    def test_a_campaign_without_a_real_id_is_refused(self, campaign_id: int) -> None:
        """Special prices are never disguised as campaigns with made-up ids again."""
        with pytest.raises(InvalidInput, match="活动编号不正确"):
            quote([line(1, 3000)], campaigns=[flash(campaign_id, {1: 2500})])


# --- property: every fen explained --------------------------------------------------------

_lines = st.lists(
    st.tuples(st.integers(0, 50000), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3)),
    min_size=1,
    max_size=5,
)


@st.composite
def _coupons(draw: st.DrawFn) -> list[CouponOffer]:
    offers = []
    for coupon_id in range(1, draw(st.integers(0, 4)) + 1):
        kind = draw(st.sampled_from(["fixed", "percent", "threshold", "free_shipping"]))
        offers.append(
            coupon(
                coupon_id,
                kind,
                amount_off_fen=draw(st.integers(1, 20000)) if kind in {"fixed", "threshold"} else 0,
                percent_off_bp=draw(st.integers(1, 9999)) if kind == "percent" else 0,
                cap_fen=draw(st.none() | st.integers(1, 5000)) if kind == "percent" else None,
                threshold_fen=draw(st.integers(0, 30000)),
                stackable_with_campaigns=draw(st.booleans()),
                category_ids=draw(st.sampled_from([frozenset(), frozenset({2})])),
                budget_left_fen=draw(st.none() | st.integers(0, 5000)),
            )
        )
    return offers


@st.composite
def _campaigns(draw: st.DrawFn) -> list[CampaignOffer]:
    result: list[CampaignOffer] = []
    for campaign_id in range(1, draw(st.integers(0, 2)) + 1):
        prices = draw(st.dictionaries(st.integers(1, 5), st.integers(0, 50000), max_size=3))
        result.append(
            flash(campaign_id, prices, budget_left_fen=draw(st.none() | st.integers(0, 9999)))
        )
    for campaign_id in range(10, 10 + draw(st.integers(0, 2))):
        first = draw(st.integers(1, 30000))
        tiers = [(first, draw(st.integers(1, first)))]
        tiers.append((first + 10000, tiers[0][1] + draw(st.integers(1, 5000))))
        result.append(tiered(campaign_id, tiers))
    return result


_specials = st.dictionaries(
    st.integers(1, 5),
    st.builds(
        special,
        st.integers(0, 60000),  # above list too: capped
        st.sampled_from(list(SpecialPriceKind)),
        max_quantity=st.integers(1, 6),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    raw_lines=_lines,
    coupons=_coupons(),
    campaigns=_campaigns(),
    specials=_specials,
    member=st.none()
    | st.builds(MemberBenefits, st.just("金卡"), st.integers(0, 30), st.booleans()),
    is_new=st.booleans(),
    shipping=st.integers(0, 2000),
    threshold=st.integers(0, 30000),
    points=st.integers(0, 100000),
    cap=st.integers(0, 100),
)
def test_every_fen_is_explained_by_exactly_one_adjustment(
    raw_lines: list[tuple[int, int, int, int]],
    coupons: list[CouponOffer],
    campaigns: list[CampaignOffer],
    specials: dict[int, SpecialPrice],
    member: MemberBenefits | None,
    is_new: bool,
    shipping: int,
    threshold: int,
    points: int,
    cap: int,
) -> None:
    lines = [
        line(index + 1, price, quantity, category_id=category, product_id=product)
        for index, (price, quantity, category, product) in enumerate(raw_lines)
    ]
    specials = {sku_id: grant for sku_id, grant in specials.items() if sku_id <= len(lines)}
    result = quote(
        lines,
        coupons=coupons,
        campaigns=campaigns,
        special_prices=specials,
        member=member,
        is_new_customer=is_new,
        shipping_fee_fen=shipping,
        free_shipping_threshold_fen=threshold,
        points_redeem_fen=points,
        points_cap_percent=cap,
    )
    adjustments = sum(a.amount_fen for a in result.adjustments)
    assert adjustments == result.total_fen - result.subtotal_fen - result.shipping_base_fen
    assert result.total_fen >= 0
    assert all(a.amount_fen < 0 for a in result.adjustments)
    for quoted in result.lines:
        assert quoted.final_fen >= 0
        assert quoted.final_fen - quoted.subtotal_fen == sum(d.amount_fen for d in quoted.discounts)
    assert sum(q.final_fen for q in result.lines) + result.shipping_fen == result.total_fen
    # each applied coupon is one adjustment of exactly its recorded discount
    coupon_adjustments = {
        a.source_id: -a.amount_fen for a in result.adjustments if a.code == "coupon"
    }
    assert coupon_adjustments == result.discount_by_coupon
    order_coupons = [
        c for c in coupons if c.kind != "free_shipping" and c.coupon_id in result.applied_coupon_ids
    ]
    assert len(order_coupons) <= 1
    # every offered coupon is either applied or rejected with a reason, never both
    decided = set(result.applied_coupon_ids) | {r.coupon_id for r in result.rejected_coupons}
    assert decided == {c.coupon_id for c in coupons}
    assert not set(result.applied_coupon_ids) & {r.coupon_id for r in result.rejected_coupons}
    assert result.points_applied_fen <= points
    # a special price never raises a price, is no campaign's, and owns its line's unit price
    for quoted in result.lines:
        assert quoted.campaign_unit_price_fen <= quoted.unit_price_fen
        if quoted.sku_id in specials:  # no flash campaign priced it
            assert not [d for d in quoted.discounts if d.code == "flash_price" and d.source_id]
    assert set(result.discount_by_campaign) <= {c.campaign_id for c in campaigns}
    assert (
        quote(
            lines,
            coupons=coupons,
            campaigns=campaigns,
            special_prices=specials,
            member=member,
            is_new_customer=is_new,
            shipping_fee_fen=shipping,
            free_shipping_threshold_fen=threshold,
            points_redeem_fen=points,
            points_cap_percent=cap,
        )
        == result
    )
