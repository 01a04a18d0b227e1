"""Price a cart: special prices, campaigns, member discount, coupons, points and shipping.

The engine's one public entry: other modules import only this file, which re-exports what the
engine is given (`pricing_inputs.py`) and the explained answer with its ledger
(`pricing_explain.py`); the rules are here. Pure and deterministic: the same inputs give the
same quote, nothing is read from or written to the database (selectors.price_quote_for_cart
builds the inputs). Stacking rules, in order:

1. **Unit prices.** A **special price** (特价: a live flash sale, a group-deal tier, a presale,
   a subscription, a member price), granted by the module that checked the buyer's right to
   it and passed in explicitly, replaces its SKU's list price for the units it covers; no
   campaign prices that SKU (its rules: `_apply_unit_prices`). Otherwise a **flash price**
   (限时特价) campaign replaces a line's unit price; when several active flash campaigns price
   the same SKU the lowest price wins (then higher priority, then older campaign). A flash
   price at or above the list price is ignored. A campaign whose remaining budget cannot cover
   its whole discount on this cart does not apply to it.
2. **One tiered 满减 campaign**: for each active tiered campaign, the highest tier reached by
   the (specially or flash-priced) amount of its eligible lines; the campaign giving the most
   off wins.
3. **Member discount**: `discount_percent` % off the remaining goods amount.
4. **At most one order-discount coupon** (fixed / percent / threshold), only if its template
   is `stackable_with_campaigns` or no campaign and no special price (step 1 or 2) applied; its
   threshold and value are measured on the remaining amount of its eligible lines. When
   several qualify, the one worth most is used and the others are rejected. **At most one
   free-shipping coupon.**
5. **Points** (积分抵扣) last, capped at `points_cap_percent` % (default 50) of the remaining
   goods amount.
6. **Shipping** is free when the member level says so, or the goods amount after promotions
   (before points) reaches `free_shipping_threshold_fen` (> 0), or — only then — a free-shipping
   coupon is used; a free-shipping coupon on an order already shipping free is rejected so it
   is not spent for nothing.

Nothing drives a line or the order below 0. Order-level discounts are spread over lines in
proportion to their current amounts with `core.money.allocate`, so every line knows exactly
what it paid (refunds per line are exact). Every fen between `subtotal_fen + shipping_base_fen`
and `total_fen` is explained by exactly one `PriceAdjustment`.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Container, Mapping, Sequence
from decimal import Decimal

from freshloop.core.errors import InvalidInput
from freshloop.core.money import multiply_fen, percent_off
from freshloop.promotions.pricing_explain import (
    LineDiscount,
    PriceAdjustment,
    PriceLedger,
    PriceQuote,
    QuotedLine,
    RejectedCoupon,
    yuan_label,
    zhe_label,
)
from freshloop.promotions.pricing_inputs import (
    NO_QUANTITY_CAP,
    NO_SPECIAL_PRICES,
    CampaignOffer,
    CouponOffer,
    MemberBenefits,
    QuoteLine,
    SpecialPrice,
    SpecialPriceKind,
    Tier,
)

__all__ = [
    "CHANNELS",
    "COUPON",
    "DEFAULT_POINTS_CAP_PERCENT",
    "FLASH_PRICE",
    "MEMBER_DISCOUNT",
    "MEMBER_FREE_SHIPPING",
    "NO_QUANTITY_CAP",
    "NO_SPECIAL_PRICES",
    "ORDER_COUPON_KINDS",
    "POINTS",
    "SPECIAL_PRICE_CODES",
    "STATUS_REASONS",
    "THRESHOLD_FREE_SHIPPING",
    "TIERED",
    "CampaignOffer",
    "CouponOffer",
    "LineDiscount",
    "MemberBenefits",
    "PriceAdjustment",
    "PriceQuote",
    "QuoteLine",
    "QuotedLine",
    "RejectedCoupon",
    "SpecialPrice",
    "SpecialPriceKind",
    "Tier",
    "coupon_label",
    "price_quote",
    "yuan_label",
    "zhe_label",
]

CHANNELS = frozenset({"live", "shop", "groupbuy"})
ORDER_COUPON_KINDS = frozenset({"fixed", "percent", "threshold"})
DEFAULT_POINTS_CAP_PERCENT = 50

# Adjustment codes (stable, machine-readable; the label is for people).
FLASH_PRICE = "flash_price"
TIERED = "tiered"
MEMBER_DISCOUNT = "member_discount"
COUPON = "coupon"
POINTS = "points"
MEMBER_FREE_SHIPPING = "member_free_shipping"
THRESHOLD_FREE_SHIPPING = "threshold_free_shipping"


# Each kind of special price is explained on a line of its own code. A live flash sale keeps the
# code a flash-price campaign line has: to the buyer both are a flash price, and every order
# placed so far stored its explanation under it. Such a line is still no campaign's: its
# source_id is None, its source_ref names the grant, and no campaign budget is charged for it.
SPECIAL_PRICE_CODES: Mapping[str, str] = types.MappingProxyType(
    {
        SpecialPriceKind.FLASH_SALE: FLASH_PRICE,
        SpecialPriceKind.GROUP_DEAL_TIER: "group_deal_price",
        SpecialPriceKind.PRESALE: "presale_price",
        SpecialPriceKind.SUBSCRIPTION: "subscription_price",
        SpecialPriceKind.MEMBER_PRICE: "member_price",
    }
)


# --- labels ---------------------------------------------------------------------------------


def coupon_label(offer: CouponOffer) -> str:
    if offer.kind == "fixed":
        return f"立减{yuan_label(offer.amount_off_fen)}元 ({offer.name})"
    if offer.kind == "threshold":
        return f"满{yuan_label(offer.threshold_fen)}减{yuan_label(offer.amount_off_fen)} ({offer.name})"
    if offer.kind == "percent":
        return f"{zhe_label(offer.percent_off_bp)}折券 ({offer.name})"
    return f"免运费券 ({offer.name})"


STATUS_REASONS = {
    "locked": "优惠券已被其他订单占用",
    "used": "优惠券已使用",
    "expired": "优惠券已过期",
    "void": "优惠券已作废",
}


# --- the calculation ------------------------------------------------------------------------


def _campaign_live(campaign: CampaignOffer, *, channel: str, now: dt.datetime) -> bool:
    return (
        campaign.is_active
        and campaign.starts_at <= now < campaign.ends_at
        and channel in campaign.channels
    )


def _eligible(
    lines: Sequence[QuoteLine], product_ids: frozenset[int], category_ids: frozenset[int]
) -> list[int]:
    if not product_ids and not category_ids:
        return list(range(len(lines)))
    return [
        index
        for index, line in enumerate(lines)
        if line.product_id in product_ids or line.category_id in category_ids
    ]


def _validate(
    lines: Sequence[QuoteLine],
    *,
    channel: str,
    campaigns: Sequence[CampaignOffer],
    special_prices: Mapping[int, SpecialPrice],
    member: MemberBenefits | None,
    shipping_fee_fen: int,
    points_redeem_fen: int,
    points_cap_percent: int,
    now: dt.datetime,
) -> None:
    if channel not in CHANNELS:
        raise InvalidInput("未知的销售渠道", detail={"channel": channel})
    if now.tzinfo is None:
        raise InvalidInput("时间必须带时区", detail={"now": now.isoformat()})
    seen: set[int] = set()
    for line in lines:
        if line.quantity <= 0 or line.unit_price_fen < 0:
            raise InvalidInput("商品数量或价格不正确", detail={"sku_id": line.sku_id})
        if line.sku_id in seen:
            raise InvalidInput("同一 SKU 请合并为一行", detail={"sku_id": line.sku_id})
        seen.add(line.sku_id)
    if shipping_fee_fen < 0 or points_redeem_fen < 0:
        raise InvalidInput("运费与积分抵扣不能为负")
    if not 0 <= points_cap_percent <= 100:
        raise InvalidInput("积分抵扣上限比例须在 0-100 之间")
    if member is not None and not 0 <= member.discount_percent <= 100:
        raise InvalidInput("会员折扣须在 0-100 之间")
    for campaign in campaigns:
        # Campaign ids are database keys. A special price is its own input, never a campaign
        # with a made-up (non-positive) id: such a campaign would be reported as one to charge.
        if campaign.campaign_id <= 0:
            raise InvalidInput("活动编号不正确", detail={"campaign_id": campaign.campaign_id})
    for sku_id, special in special_prices.items():
        if sku_id not in seen:
            raise InvalidInput("特价商品不在订单中", detail={"sku_id": sku_id})
        if (
            special.kind not in SPECIAL_PRICE_CODES
            or special.unit_price_fen < 0
            or special.max_quantity < 1
        ):
            raise InvalidInput("特价不正确", detail={"sku_id": sku_id, "kind": str(special.kind)})


def _flash_prices(
    ledger: PriceLedger,
    campaigns: Sequence[CampaignOffer],
    *,
    skip_skus: Container[int],
    channel: str,
    now: dt.datetime,
) -> tuple[dict[int, CampaignOffer], dict[int, int]]:
    """The flash campaign that prices each line (by line index) and each campaign's discount.
    Lines whose SKU is in `skip_skus` (the special prices) are not priced by any campaign."""
    flash = [
        campaign
        for campaign in campaigns
        if campaign.kind == FLASH_PRICE and _campaign_live(campaign, channel=channel, now=now)
    ]
    excluded: set[int] = set()
    while True:
        chosen: dict[int, CampaignOffer] = {}
        totals: dict[int, int] = {}
        for index, line in enumerate(ledger.lines):
            offers = [
                campaign
                for campaign in flash
                if campaign.campaign_id not in excluded
                and line.sku_id not in skip_skus
                and campaign.prices.get(line.sku_id, line.unit_price_fen) < line.unit_price_fen
            ]
            if not offers:
                continue
            best = min(
                offers,
                key=lambda c: (c.prices[line.sku_id], -c.priority, c.campaign_id),
            )
            chosen[index] = best
            off = (line.unit_price_fen - best.prices[line.sku_id]) * line.quantity
            totals[best.campaign_id] = totals.get(best.campaign_id, 0) + off
        over_budget = {
            campaign.campaign_id
            for campaign in flash
            if campaign.budget_left_fen is not None
            and totals.get(campaign.campaign_id, 0) > campaign.budget_left_fen
        }
        if not over_budget:
            return chosen, totals
        excluded |= over_budget


def _apply_special_price(ledger: PriceLedger, index: int, special: SpecialPrice) -> int:
    """Price the covered units of line `index` at the special price; return what it took off.

    A special price above the list price is capped at the list price (the buyer pays list, no
    line is shown), not refused: the grant is made before the quote (a flash sale is set up,
    then claimed) and the catalog's list price can drop in between; refusing would fail a
    buyer's checkout for a change they cannot undo, while the cap keeps the one promise that
    matters — a special price never makes anything dearer. (It is what the flash price did
    before special prices were an input of their own.)
    """
    line = ledger.lines[index]
    unit_price_fen = min(special.unit_price_fen, line.unit_price_fen)
    if unit_price_fen == line.unit_price_fen:
        return 0
    return ledger.set_unit_price(
        index,
        unit_price_fen,
        units=min(line.quantity, special.max_quantity),
        code=SPECIAL_PRICE_CODES[special.kind],
        label=special.label,
        source_id=None,
        source_ref=special.ref,
    )


def _apply_unit_prices(
    ledger: PriceLedger,
    campaigns: Sequence[CampaignOffer],
    special_prices: Mapping[int, SpecialPrice],
    *,
    channel: str,
    now: dt.datetime,
) -> tuple[dict[int, int], int]:
    """Step 1: set each line's unit price, in cart order. Returns each flash campaign's
    discount (the budget to charge it) and what special prices took off.

    A special price, where the buyer holds one for the line's SKU:
    - replaces the list price for the units it covers (`max_quantity`; the rest pay list) and
      is the unit price every later step starts from — tiers are reached on the specially
      priced amount, member discount, coupons and points are measured on it;
    - owns its SKU: no flash campaign prices it, not even a lower one (the grant is the price
      the buyer was promised), so no campaign is charged for those units;
    - never raises a price (above list it is capped at list, see `_apply_special_price`);
    - is explained on its own line (`SPECIAL_PRICE_CODES[kind]`, its label, the SKU as target,
      no source_id, its ref as source_ref) and is absent from `discount_by_campaign`;
    - counts as a campaign for coupon stacking once it took something off (see price_quote).
    """
    chosen, totals = _flash_prices(
        ledger, campaigns, skip_skus=special_prices, channel=channel, now=now
    )
    special_off = 0
    for index, line in enumerate(ledger.lines):
        special = special_prices.get(line.sku_id)
        if special is not None:
            special_off += _apply_special_price(ledger, index, special)
        elif index in chosen:
            ledger.set_unit_price(
                index,
                chosen[index].prices[line.sku_id],
                units=line.quantity,
                code=FLASH_PRICE,
                label=f"限时特价 ({chosen[index].name})",
                source_id=chosen[index].campaign_id,
            )
    return totals, special_off


def _apply_tiered(
    ledger: PriceLedger, campaigns: Sequence[CampaignOffer], *, channel: str, now: dt.datetime
) -> tuple[int, int] | None:
    best: tuple[int, int, int, CampaignOffer, Tier, list[int]] | None = None
    for campaign in campaigns:
        if campaign.kind != "tiered" or not _campaign_live(campaign, channel=channel, now=now):
            continue
        indices = _eligible(ledger.lines, campaign.product_ids, campaign.category_ids)
        eligible_fen = ledger.amount_of(indices)
        reached = [tier for tier in campaign.tiers if tier.threshold_fen <= eligible_fen]
        if not reached or eligible_fen <= 0:
            continue
        tier = max(reached, key=lambda t: (t.threshold_fen, t.off_fen))
        off = min(tier.off_fen, eligible_fen)
        if campaign.budget_left_fen is not None and off > campaign.budget_left_fen:
            continue
        key = (off, campaign.priority, -campaign.campaign_id)
        if best is None or key > best[:3]:
            best = (off, campaign.priority, -campaign.campaign_id, campaign, tier, indices)
    if best is None:
        return None
    off, _, _, campaign, tier, indices = best
    taken = ledger.discount_lines(
        indices,
        off,
        code=TIERED,
        label=f"满{yuan_label(tier.threshold_fen)}减{yuan_label(tier.off_fen)} ({campaign.name})",
        source_id=campaign.campaign_id,
    )
    return campaign.campaign_id, taken


def _coupon_rejection(
    offer: CouponOffer,
    *,
    ledger: PriceLedger,
    channel: str,
    live_session_id: str | None,
    is_new_customer: bool,
    campaign_applied: bool,
    now: dt.datetime,
) -> str | None:
    """Why this coupon cannot be used on this cart, or None."""
    if offer.status != "available":
        return STATUS_REASONS.get(offer.status, "优惠券不可用")
    if not offer.is_active:
        return "优惠券已停用"
    if offer.valid_from is not None and now < offer.valid_from:
        return "优惠券未到使用时间"
    if offer.valid_until is not None and now >= offer.valid_until:
        return "优惠券已过期"
    if offer.live_only and channel != "live":
        return "仅限直播间使用"
    if offer.live_only and offer.live_session_id and offer.live_session_id != live_session_id:
        return "仅限指定直播间使用"
    if offer.new_customer_only and not is_new_customer:
        return "仅限新客"
    indices = _eligible(ledger.lines, offer.product_ids, offer.category_ids)
    if not indices:
        return "购物车中没有适用商品"
    if ledger.amount_of(indices) < offer.threshold_fen:
        return f"未满{yuan_label(offer.threshold_fen)}元"
    if campaign_applied and not offer.stackable_with_campaigns:
        return "不可与活动优惠同享"
    return None


def _coupon_value(offer: CouponOffer, ledger: PriceLedger) -> int:
    eligible_fen = ledger.amount_of(_eligible(ledger.lines, offer.product_ids, offer.category_ids))
    if offer.kind == "percent":
        off = multiply_fen(eligible_fen, Decimal(offer.percent_off_bp) / 10000)
        if offer.cap_fen is not None:
            off = min(off, offer.cap_fen)
    else:
        off = offer.amount_off_fen
    return max(0, min(off, eligible_fen))


def price_quote(
    *,
    lines: Sequence[QuoteLine],
    channel: str,
    live_session_id: str | None,
    coupons: Sequence[CouponOffer],
    campaigns: Sequence[CampaignOffer],
    member: MemberBenefits | None,
    is_new_customer: bool,
    shipping_fee_fen: int,
    free_shipping_threshold_fen: int,
    points_redeem_fen: int,
    now: dt.datetime,
    points_cap_percent: int = DEFAULT_POINTS_CAP_PERCENT,
    special_prices: Mapping[int, SpecialPrice] = NO_SPECIAL_PRICES,
) -> PriceQuote:
    """Price `lines` with every promotion that applies; see the module docstring for the rules.

    `special_prices` (sku_id -> SpecialPrice) are trusted grants for SKUs of `lines`, passed as
    they are; `_apply_unit_prices` says how they price and stack.
    """
    _validate(
        lines,
        channel=channel,
        campaigns=campaigns,
        special_prices=special_prices,
        member=member,
        shipping_fee_fen=shipping_fee_fen,
        points_redeem_fen=points_redeem_fen,
        points_cap_percent=points_cap_percent,
        now=now,
    )
    ledger = PriceLedger(lines)
    all_lines = list(range(len(ledger.lines)))

    # 1. special prices and flash prices
    discount_by_campaign, special_off = _apply_unit_prices(
        ledger, campaigns, special_prices, channel=channel, now=now
    )
    # 2. one tiered campaign
    tiered = _apply_tiered(ledger, campaigns, channel=channel, now=now)
    if tiered is not None and tiered[1] > 0:
        discount_by_campaign[tiered[0]] = discount_by_campaign.get(tiered[0], 0) + tiered[1]
    # A special price stacks with coupons as a flash campaign's price does: a coupon that is not
    # stackable_with_campaigns does not apply on top of it (the rule live flash sales priced by).
    campaign_applied = bool(discount_by_campaign) or special_off > 0

    # 3. member discount
    if member is not None and member.discount_percent > 0:
        ledger.discount_lines(
            all_lines,
            percent_off(ledger.amount_of(all_lines), member.discount_percent),
            code=MEMBER_DISCOUNT,
            label=f"会员折扣 ({member.level_name} {zhe_label(member.discount_percent * 100)}折)",
            source_id=None,
        )

    # 4. coupons: check each, keep the best order coupon and one free-shipping coupon
    rejected: list[RejectedCoupon] = []
    order_candidates: list[tuple[int, CouponOffer]] = []
    shipping_candidates: list[CouponOffer] = []
    seen_coupons: set[int] = set()
    for offer in coupons:
        if offer.coupon_id in seen_coupons:
            continue
        seen_coupons.add(offer.coupon_id)
        reason = _coupon_rejection(
            offer,
            ledger=ledger,
            channel=channel,
            live_session_id=live_session_id,
            is_new_customer=is_new_customer,
            campaign_applied=campaign_applied,
            now=now,
        )
        if reason is None and offer.kind in ORDER_COUPON_KINDS:
            value = _coupon_value(offer, ledger)
            if value <= 0:
                reason = "无可优惠金额"
            elif offer.budget_left_fen is not None and value > offer.budget_left_fen:
                reason = "优惠券预算已用完"
            else:
                order_candidates.append((value, offer))
        elif reason is None:
            shipping_candidates.append(offer)
        if reason is not None:
            rejected.append(RejectedCoupon(offer.coupon_id, reason))

    discount_by_coupon: dict[int, int] = {}
    applied_coupons: list[int] = []
    if order_candidates:
        order_candidates.sort(
            key=lambda item: (
                -item[0],
                item[1].valid_until or dt.datetime.max.replace(tzinfo=dt.UTC),
                item[1].coupon_id,
            )
        )
        value, chosen = order_candidates[0]
        indices = _eligible(ledger.lines, chosen.product_ids, chosen.category_ids)
        taken = ledger.discount_lines(
            indices, value, code=COUPON, label=coupon_label(chosen), source_id=chosen.coupon_id
        )
        discount_by_coupon[chosen.coupon_id] = taken
        applied_coupons.append(chosen.coupon_id)
        rejected.extend(
            RejectedCoupon(offer.coupon_id, "每单限用一张优惠券")
            for _, offer in order_candidates[1:]
        )
    goods_after_promotions = ledger.amount_of(all_lines)

    # 5. points
    points_cap = goods_after_promotions * points_cap_percent // 100
    points_applied = ledger.discount_lines(
        all_lines,
        min(points_redeem_fen, points_cap),
        code=POINTS,
        label=f"积分抵扣{yuan_label(min(points_redeem_fen, points_cap))}元",
        source_id=None,
    )

    # 6. shipping
    shipping_rule: tuple[str, str, int | None] | None = None
    if shipping_fee_fen > 0 and member is not None and member.free_shipping:
        shipping_rule = (MEMBER_FREE_SHIPPING, f"会员包邮 ({member.level_name})", None)
    elif shipping_fee_fen > 0 and 0 < free_shipping_threshold_fen <= goods_after_promotions:
        shipping_rule = (
            THRESHOLD_FREE_SHIPPING,
            f"满{yuan_label(free_shipping_threshold_fen)}元包邮",
            None,
        )
    shipping_candidates.sort(
        key=lambda o: (o.valid_until or dt.datetime.max.replace(tzinfo=dt.UTC), o.coupon_id)
    )
    for offer in shipping_candidates:
        if shipping_fee_fen == 0 or (shipping_rule is not None and shipping_rule[0] != COUPON):
            rejected.append(RejectedCoupon(offer.coupon_id, "本单已免运费"))
        elif shipping_rule is not None:
            rejected.append(RejectedCoupon(offer.coupon_id, "每单限用一张免运费券"))
        elif offer.budget_left_fen is not None and shipping_fee_fen > offer.budget_left_fen:
            rejected.append(RejectedCoupon(offer.coupon_id, "优惠券预算已用完"))
        else:
            shipping_rule = (COUPON, coupon_label(offer), offer.coupon_id)
            discount_by_coupon[offer.coupon_id] = shipping_fee_fen
            applied_coupons.append(offer.coupon_id)
    if shipping_rule is not None:
        code, label, source_id = shipping_rule
        ledger.waive_shipping(shipping_fee_fen, code=code, label=label, source_id=source_id)

    return ledger.quote(
        shipping_base_fen=shipping_fee_fen,
        shipping_fen=0 if shipping_rule is not None else shipping_fee_fen,
        points_applied_fen=points_applied,
        applied_coupon_ids=applied_coupons,
        rejected_coupons=rejected,
        discount_by_coupon=discount_by_coupon,
        discount_by_campaign=discount_by_campaign,
    )
