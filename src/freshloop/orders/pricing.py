"""What a checkout costs: the order module's view of the promotions pricing engine.

Gathers what pricing needs from the other modules — list prices (catalog), the buyer's member
benefits and points (membership), whether they have ever paid (orders) and the shipping rule —
and turns the explained quote into order lines. Special prices another module granted (a live
flash-sale claim) go to the engine as they are: `promotions.pricing.SpecialPrice` is their type.

Shipping (documented in docs/commerce.md): the destination's shipping rule (运费模板,
`orders.shipping`) gives the parcel's fee — a base fee, plus a cold-chain surcharge when anything
chilled or frozen travels — and the amount of goods after promotions from which it is free
(without a configured rule: ¥8, ¥15 cold chain, free from ¥99); member levels and free-shipping
coupons can waive it too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from freshloop.catalog.models import Sku
from freshloop.identity.models import Person
from freshloop.membership import services as membership
from freshloop.membership.models import Membership
from freshloop.orders.models import BOUGHT_STATUSES, Order, OrderStatus
from freshloop.orders.shipping import ShippingTerms, shipping_terms_for
from freshloop.promotions import pricing as engine
from freshloop.promotions.errors import CouponUnavailable
from freshloop.promotions.selectors import (
    CouponUsability,
    coupons_usable_for_cart,
    price_quote_for_cart,
)

# A buyer with any of these has bought before (a refund being asked for does not undo it).
PAID_STATUSES = [*BOUGHT_STATUSES, OrderStatus.REFUND_REQUESTED]


@dataclass(frozen=True)
class CheckoutLine:
    sku: Sku
    quantity: int
    unit_price_fen: int  # list price
    discount_fen: int  # this line's share of every discount, flash price included
    total_fen: int


@dataclass(frozen=True)
class CheckoutQuote:
    lines: list[CheckoutLine]
    quote: engine.PriceQuote
    points_used: int
    points_balance: int
    shipping: ShippingTerms

    @property
    def free_shipping_gap_fen(self) -> int:
        """How much more of the goods would make this order ship free (0 when it already does,
        or when the destination never ships free): the "再买 ¥X 包邮" nudge."""
        threshold = self.shipping.free_shipping_from_fen
        if self.quote.shipping_fen == 0 or threshold == 0:
            return 0
        goods_after_promotions = self.quote.goods_fen + self.quote.points_applied_fen
        return max(0, threshold - goods_after_promotions)

    @property
    def subtotal_fen(self) -> int:
        return self.quote.subtotal_fen

    @property
    def shipping_fen(self) -> int:
        return self.quote.shipping_fen

    @property
    def total_fen(self) -> int:
        return self.quote.total_fen

    @property
    def discount_fen(self) -> int:
        """Everything taken off the goods: promotions, member discount and points."""
        return self.quote.subtotal_fen + self.quote.shipping_fen - self.quote.total_fen

    @property
    def applied_coupon_ids(self) -> list[int]:
        return list(self.quote.applied_coupon_ids)

    @property
    def discount_by_coupon(self) -> dict[int, int]:
        return dict(self.quote.discount_by_coupon)

    @property
    def campaign_charges(self) -> dict[int, int]:
        return dict(self.quote.discount_by_campaign)

    def explanation(self) -> list[dict[str, Any]]:
        """The price line by line, as stored on the order and shown at checkout."""
        rows: list[dict[str, Any]] = [
            {"code": "subtotal", "label": "商品金额", "amount_fen": self.quote.subtotal_fen},
            {"code": "shipping", "label": "运费", "amount_fen": self.quote.shipping_base_fen},
        ]
        rows += [
            {
                "code": adjustment.code,
                "label": adjustment.label,
                "amount_fen": adjustment.amount_fen,
                "target": adjustment.target,
            }
            for adjustment in self.quote.adjustments
        ]
        rows.append({"code": "total", "label": "应付", "amount_fen": self.quote.total_fen})
        return rows

    def raise_for_rejections(self) -> None:
        """At order time a coupon the buyer chose but cannot use is an error, not a silent skip."""
        if self.quote.rejected_coupons:
            first = self.quote.rejected_coupons[0]
            raise CouponUnavailable(
                first.reason,
                detail={
                    "coupons": [
                        {"coupon_id": r.coupon_id, "reason": r.reason}
                        for r in self.quote.rejected_coupons
                    ]
                },
            )


def person_is_new_customer(person: Person) -> bool:
    return not Order.objects.filter(person=person, status__in=PAID_STATUSES).exists()


def _quote_lines(items: list[tuple[Sku, int]]) -> list[engine.QuoteLine]:
    return [
        engine.QuoteLine(
            sku_id=sku.pk,
            product_id=sku.product_id,
            category_id=sku.product.category_id,
            name=f"{sku.product.name} {sku.spec}",
            unit_price_fen=sku.price_fen,
            quantity=quantity,
        )
        for sku, quantity in items
    ]


def _member_of(person: Person) -> engine.MemberBenefits:
    return pricing_member(membership.member_benefits(person_id=person.pk))


def pricing_member(benefits: membership.MemberBenefits) -> engine.MemberBenefits:
    """A member level's checkout benefits as the pricing engine takes them."""
    return engine.MemberBenefits(
        level_name=benefits.level_name,
        discount_percent=benefits.discount_percent,
        free_shipping=benefits.free_shipping,
    )


def checkout_coupon_choices(
    *,
    person: Person,
    items: list[tuple[Sku, int]],
    channel: str,
    source_ref: str,
    now: dt.datetime,
    special_prices: Mapping[int, engine.SpecialPrice] = engine.NO_SPECIAL_PRICES,
    province: str = "",
) -> list[CouponUsability]:
    """The buyer's coupons, each priced alone on this cart, usable ones first (for the picker)."""
    shipping = shipping_terms_for(items, province=province)
    return coupons_usable_for_cart(
        person_id=person.pk,
        lines=_quote_lines(items),
        channel=channel,
        live_session_id=source_ref if channel == "live" else None,
        now=now,
        member=_member_of(person),
        is_new_customer=person_is_new_customer(person),
        shipping_fee_fen=shipping.fee_fen,
        free_shipping_threshold_fen=shipping.free_shipping_from_fen,
        special_prices=special_prices,
    )


def checkout_quote(
    *,
    person: Person,
    items: list[tuple[Sku, int]],
    channel: str,
    source_ref: str,
    coupon_ids: list[int],
    points: int,
    now: dt.datetime,
    special_prices: Mapping[int, engine.SpecialPrice] = engine.NO_SPECIAL_PRICES,
    need_balance: bool = True,
    province: str = "",
    member: engine.MemberBenefits | None = None,
    campaigns: Sequence[engine.CampaignOffer] | None = None,
    ships: bool = True,
) -> CheckoutQuote:
    """Price the cart for this buyer. `need_balance=False` (an order spending no points) skips
    reading the points balance, and reports it as 0. A batch of orders passes the buyer's
    `member` benefits and the running `campaigns` it read once for all of them. An order
    that does not ship (`ships=False`, a presale deposit) has no shipping fee."""
    balance = (
        (
            Membership.objects.filter(person_id=person.pk)
            .values_list("points_balance", flat=True)
            .first()
            or 0
        )
        if need_balance or points
        else 0
    )
    wanted_points = max(0, min(int(points or 0), balance))
    shipping = shipping_terms_for(items, province=province)
    if not ships:
        shipping = dataclasses.replace(shipping, fee_fen=0, free_shipping_from_fen=0)
    quote = price_quote_for_cart(
        person_id=person.pk,
        lines=_quote_lines(items),
        channel=channel,
        live_session_id=source_ref if channel == "live" else None,
        coupon_ids=coupon_ids,
        member=member or _member_of(person),
        is_new_customer=lambda: person_is_new_customer(person),
        shipping_fee_fen=shipping.fee_fen,
        free_shipping_threshold_fen=shipping.free_shipping_from_fen,
        points_redeem_fen=membership.points_to_fen(wanted_points),
        now=now,
        special_prices=special_prices,
        campaigns=campaigns,
    )
    skus = {sku.pk: sku for sku, _ in items}
    lines = [
        CheckoutLine(
            sku=skus[line.sku_id],
            quantity=line.quantity,
            unit_price_fen=line.unit_price_fen,
            discount_fen=line.discount_fen,
            total_fen=line.final_fen,
        )
        for line in quote.lines
    ]
    return CheckoutQuote(
        lines=lines,
        quote=quote,
        shipping=shipping,
        points_used=membership.fen_to_points(quote.points_applied_fen),
        points_balance=balance,
    )
