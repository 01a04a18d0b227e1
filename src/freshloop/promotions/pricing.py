"""Price a cart: campaigns, member discount, coupons, points and shipping, fen by fen.

Pure and deterministic: the same inputs give the same quote, nothing is read from or written
to the database (selectors.price_quote_for_cart builds the inputs). Stacking rules, in order:

1. **Flash price** (限时特价) replaces a line's unit price; when several active flash campaigns
   price the same SKU the lowest price wins (then higher priority, then older campaign). A
   flash price at or above the list price is ignored. A campaign whose remaining budget cannot
   cover its whole discount on this cart does not apply to it.
2. **One tiered 满减 campaign**: for each active tiered campaign, the highest tier reached by
   the (flash-priced) amount of its eligible lines; the campaign giving the most off wins.
3. **Member discount**: `discount_percent` % off the remaining goods amount.
4. **At most one order-discount coupon** (fixed / percent / threshold), only if its template
   is `stackable_with_campaigns` or no campaign (step 1 or 2) applied; its threshold and value
   are measured on the remaining amount of its eligible lines. When several qualify, the one
   worth most is used and the others are rejected. **At most one free-shipping coupon.**
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

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from freshloop.core.errors import InvalidInput
from freshloop.core.money import allocate, multiply_fen, percent_off

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


# --- inputs ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QuoteLine:
    sku_id: int
    product_id: int
    category_id: int
    name: str
    unit_price_fen: int
    quantity: int


@dataclasses.dataclass(frozen=True)
class MemberBenefits:
    level_name: str
    discount_percent: int = 0
    free_shipping: bool = False


@dataclasses.dataclass(frozen=True)
class CouponOffer:
    """What pricing needs to know about one coupon in the buyer's wallet (see CouponTemplate)."""

    coupon_id: int
    template_id: int
    name: str
    kind: str
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    status: str = "available"
    amount_off_fen: int = 0
    percent_off_bp: int = 0
    cap_fen: int | None = None
    threshold_fen: int = 0
    live_only: bool = False
    live_session_id: str = ""
    new_customer_only: bool = False
    is_active: bool = True
    stackable_with_campaigns: bool = False
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()
    budget_left_fen: int | None = None


@dataclasses.dataclass(frozen=True)
class Tier:
    threshold_fen: int
    off_fen: int


@dataclasses.dataclass(frozen=True)
class CampaignOffer:
    """An active-or-not campaign as pricing sees it (see models.Campaign)."""

    campaign_id: int
    name: str
    kind: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    channels: frozenset[str]
    prices: Mapping[int, int] = dataclasses.field(default_factory=dict)
    tiers: tuple[Tier, ...] = ()
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()
    is_active: bool = True
    priority: int = 0
    budget_left_fen: int | None = None


# --- outputs --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PriceAdjustment:
    code: str
    label: str
    amount_fen: int  # negative for a discount
    target: str | int  # "order", "shipping", or the sku_id of one line
    source_id: int | None


@dataclasses.dataclass(frozen=True)
class LineDiscount:
    code: str
    source_id: int | None
    amount_fen: int  # negative: this line's share of the adjustment


@dataclasses.dataclass(frozen=True)
class QuotedLine:
    sku_id: int
    product_id: int
    category_id: int
    name: str
    quantity: int
    unit_price_fen: int
    campaign_unit_price_fen: int
    subtotal_fen: int
    discounts: tuple[LineDiscount, ...]
    final_fen: int

    @property
    def discount_fen(self) -> int:
        return self.subtotal_fen - self.final_fen


@dataclasses.dataclass(frozen=True)
class RejectedCoupon:
    coupon_id: int
    reason: str


@dataclasses.dataclass(frozen=True)
class PriceQuote:
    lines: tuple[QuotedLine, ...]
    adjustments: tuple[PriceAdjustment, ...]
    subtotal_fen: int
    discount_fen: int
    shipping_base_fen: int
    shipping_fen: int
    total_fen: int
    points_applied_fen: int
    applied_coupon_ids: tuple[int, ...]
    rejected_coupons: tuple[RejectedCoupon, ...]
    discount_by_coupon: dict[int, int]
    applied_campaign_ids: tuple[int, ...]
    discount_by_campaign: dict[int, int]

    @property
    def goods_fen(self) -> int:
        return sum(line.final_fen for line in self.lines)


# --- labels ---------------------------------------------------------------------------------


def yuan_label(fen: int) -> str:
    """9900 -> "99", 9950 -> "99.5", 1 -> "0.01" (for labels like 满99减20)."""
    whole, cents = divmod(fen, 100)
    if cents == 0:
        return str(whole)
    return f"{whole}.{cents:02d}".rstrip("0")


def zhe_label(percent_off_bp: int) -> str:
    """Basis points off as 折: 1000 -> "9", 1200 -> "8.8", 500 -> "9.5"."""
    text = f"{Decimal(10000 - percent_off_bp) / 1000:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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


class _Cart:
    """Running per-line amounts and the adjustments that explain every change."""

    def __init__(self, lines: Sequence[QuoteLine]) -> None:
        self.lines = list(lines)
        self.unit_prices = [line.unit_price_fen for line in lines]
        self.amounts = [line.unit_price_fen * line.quantity for line in lines]
        self.line_discounts: list[list[LineDiscount]] = [[] for _ in lines]
        self.adjustments: list[PriceAdjustment] = []

    def amount_of(self, indices: Sequence[int]) -> int:
        return sum(self.amounts[index] for index in indices)

    def set_unit_price(
        self, index: int, unit_price_fen: int, *, code: str, label: str, source_id: int
    ) -> int:
        line = self.lines[index]
        off = (self.unit_prices[index] - unit_price_fen) * line.quantity
        self.unit_prices[index] = unit_price_fen
        self.amounts[index] -= off
        self.line_discounts[index].append(LineDiscount(code, source_id, -off))
        self.adjustments.append(PriceAdjustment(code, label, -off, line.sku_id, source_id))
        return off

    def discount_lines(
        self, indices: Sequence[int], off_fen: int, *, code: str, label: str, source_id: int | None
    ) -> int:
        """Take up to `off_fen` from the lines in proportion to their amounts; return what was
        taken (never more than the lines hold, so no line goes below 0)."""
        weights = [self.amounts[index] for index in indices]
        off = min(off_fen, sum(weights))
        if off <= 0:
            return 0
        for index, part in zip(indices, allocate(off, weights), strict=True):
            if part:
                self.amounts[index] -= part
                self.line_discounts[index].append(LineDiscount(code, source_id, -part))
        self.adjustments.append(PriceAdjustment(code, label, -off, "order", source_id))
        return off


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


def _apply_flash_prices(
    cart: _Cart, campaigns: Sequence[CampaignOffer], *, channel: str, now: dt.datetime
) -> dict[int, int]:
    flash = [
        campaign
        for campaign in campaigns
        if campaign.kind == "flash_price" and _campaign_live(campaign, channel=channel, now=now)
    ]
    excluded: set[int] = set()
    while True:
        chosen: dict[int, CampaignOffer] = {}
        totals: dict[int, int] = {}
        for index, line in enumerate(cart.lines):
            offers = [
                campaign
                for campaign in flash
                if campaign.campaign_id not in excluded
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
            break
        excluded |= over_budget
    for index, campaign in sorted(chosen.items()):
        cart.set_unit_price(
            index,
            campaign.prices[cart.lines[index].sku_id],
            code=FLASH_PRICE,
            label=f"限时特价 ({campaign.name})",
            source_id=campaign.campaign_id,
        )
    return totals


def _apply_tiered(
    cart: _Cart, campaigns: Sequence[CampaignOffer], *, channel: str, now: dt.datetime
) -> tuple[int, int] | None:
    best: tuple[int, int, int, CampaignOffer, Tier, list[int]] | None = None
    for campaign in campaigns:
        if campaign.kind != "tiered" or not _campaign_live(campaign, channel=channel, now=now):
            continue
        indices = _eligible(cart.lines, campaign.product_ids, campaign.category_ids)
        eligible_fen = cart.amount_of(indices)
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
    taken = cart.discount_lines(
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
    cart: _Cart,
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
    indices = _eligible(cart.lines, offer.product_ids, offer.category_ids)
    if not indices:
        return "购物车中没有适用商品"
    if cart.amount_of(indices) < offer.threshold_fen:
        return f"未满{yuan_label(offer.threshold_fen)}元"
    if campaign_applied and not offer.stackable_with_campaigns:
        return "不可与活动优惠同享"
    return None


def _coupon_value(offer: CouponOffer, cart: _Cart) -> int:
    eligible_fen = cart.amount_of(_eligible(cart.lines, offer.product_ids, offer.category_ids))
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
) -> PriceQuote:
    """Price `lines` with every promotion that applies; see the module docstring for the rules."""
    _validate(
        lines,
        channel=channel,
        member=member,
        shipping_fee_fen=shipping_fee_fen,
        points_redeem_fen=points_redeem_fen,
        points_cap_percent=points_cap_percent,
        now=now,
    )
    cart = _Cart(lines)
    discount_by_campaign: dict[int, int] = {}

    # 1. flash prices
    for campaign_id, off in _apply_flash_prices(cart, campaigns, channel=channel, now=now).items():
        discount_by_campaign[campaign_id] = off
    # 2. one tiered campaign
    tiered = _apply_tiered(cart, campaigns, channel=channel, now=now)
    if tiered is not None and tiered[1] > 0:
        discount_by_campaign[tiered[0]] = discount_by_campaign.get(tiered[0], 0) + tiered[1]
    campaign_applied = bool(discount_by_campaign)

    # 3. member discount
    if member is not None and member.discount_percent > 0:
        all_lines = list(range(len(cart.lines)))
        cart.discount_lines(
            all_lines,
            percent_off(cart.amount_of(all_lines), member.discount_percent),
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
            cart=cart,
            channel=channel,
            live_session_id=live_session_id,
            is_new_customer=is_new_customer,
            campaign_applied=campaign_applied,
            now=now,
        )
        if reason is None and offer.kind in ORDER_COUPON_KINDS:
            value = _coupon_value(offer, cart)
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
        indices = _eligible(cart.lines, chosen.product_ids, chosen.category_ids)
        taken = cart.discount_lines(
            indices, value, code=COUPON, label=coupon_label(chosen), source_id=chosen.coupon_id
        )
        discount_by_coupon[chosen.coupon_id] = taken
        applied_coupons.append(chosen.coupon_id)
        rejected.extend(
            RejectedCoupon(offer.coupon_id, "每单限用一张优惠券")
            for _, offer in order_candidates[1:]
        )
    goods_after_promotions = cart.amount_of(range(len(cart.lines)))

    # 5. points
    all_lines = list(range(len(cart.lines)))
    points_cap = cart.amount_of(all_lines) * points_cap_percent // 100
    points_applied = cart.discount_lines(
        all_lines,
        min(points_redeem_fen, points_cap),
        code=POINTS,
        label=f"积分抵扣{yuan_label(min(points_redeem_fen, points_cap))}元",
        source_id=None,
    )

    # 6. shipping
    shipping_fen = shipping_fee_fen
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
        cart.adjustments.append(
            PriceAdjustment(code, label, -shipping_fee_fen, "shipping", source_id)
        )
        shipping_fen = 0

    quoted = tuple(
        QuotedLine(
            sku_id=line.sku_id,
            product_id=line.product_id,
            category_id=line.category_id,
            name=line.name,
            quantity=line.quantity,
            unit_price_fen=line.unit_price_fen,
            campaign_unit_price_fen=cart.unit_prices[index],
            subtotal_fen=line.unit_price_fen * line.quantity,
            discounts=tuple(cart.line_discounts[index]),
            final_fen=cart.amounts[index],
        )
        for index, line in enumerate(cart.lines)
    )
    subtotal = sum(line.subtotal_fen for line in quoted)
    goods = sum(line.final_fen for line in quoted)
    total = goods + shipping_fen
    return PriceQuote(
        lines=quoted,
        adjustments=tuple(cart.adjustments),
        subtotal_fen=subtotal,
        discount_fen=subtotal + shipping_fee_fen - total,
        shipping_base_fen=shipping_fee_fen,
        shipping_fen=shipping_fen,
        total_fen=total,
        points_applied_fen=points_applied,
        applied_coupon_ids=tuple(applied_coupons),
        rejected_coupons=tuple(rejected),
        discount_by_coupon=discount_by_coupon,
        applied_campaign_ids=tuple(sorted(discount_by_campaign)),
        discount_by_campaign=discount_by_campaign,
    )
