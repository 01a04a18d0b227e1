"""The explained price: what a quote says, line by line and fen by fen.

`promotions.pricing` decides which promotions apply and is the engine's one public entry (it
re-exports everything here; other modules never import this file). This file holds the shape of
its answer and the bookkeeping behind it: the priced lines and the quote, the yuan/折 numbers of
the Chinese labels, and `PriceLedger`, which records every change so that every fen between
`subtotal_fen + shipping_base_fen` and `total_fen` is explained by exactly one
`PriceAdjustment` and every line carries its exact share of each one (refunds per line are
exact).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from freshloop.core.money import allocate
from freshloop.promotions.pricing_inputs import QuoteLine

# --- what comes out -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PriceAdjustment:
    code: str
    label: str
    amount_fen: int  # negative for a discount
    target: str | int  # "order", "shipping", or the sku_id of one line
    source_id: int | None  # the campaign or coupon; None for rules and special prices
    source_ref: str = ""  # a special price's grant (e.g. the flash-sale claim)


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
    unit_price_fen: int  # list price
    # The unit price a special price or flash campaign set (the list price when none did); for a
    # line a special price covers only in part, the price of its covered units.
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
    discount_by_campaign: dict[int, int]  # campaign budgets to charge; special prices have none

    @property
    def goods_fen(self) -> int:
        return sum(line.final_fen for line in self.lines)


# --- numbers in labels ----------------------------------------------------------------------


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


# --- the ledger -----------------------------------------------------------------------------


class PriceLedger:
    """Running per-line amounts and the adjustments that explain every change."""

    def __init__(self, lines: Sequence[QuoteLine]) -> None:
        self.lines = list(lines)
        self.unit_prices = [line.unit_price_fen for line in lines]
        self.amounts = [line.unit_price_fen * line.quantity for line in lines]
        self.line_discounts: list[list[LineDiscount]] = [[] for _ in lines]
        self.adjustments: list[PriceAdjustment] = []

    def amount_of(self, indices: Iterable[int]) -> int:
        return sum(self.amounts[index] for index in indices)

    def set_unit_price(
        self,
        index: int,
        unit_price_fen: int,
        *,
        units: int,
        code: str,
        label: str,
        source_id: int | None,
        source_ref: str = "",
    ) -> int:
        """Charge `units` of line `index` at `unit_price_fen` instead of its list price, as one
        adjustment on that line; return the discount. Called at most once per line, first."""
        line = self.lines[index]
        off = (self.unit_prices[index] - unit_price_fen) * units
        self.unit_prices[index] = unit_price_fen
        self.amounts[index] -= off
        self.line_discounts[index].append(LineDiscount(code, source_id, -off))
        self.adjustments.append(
            PriceAdjustment(code, label, -off, line.sku_id, source_id, source_ref)
        )
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

    def waive_shipping(
        self, shipping_fee_fen: int, *, code: str, label: str, source_id: int | None
    ) -> None:
        self.adjustments.append(
            PriceAdjustment(code, label, -shipping_fee_fen, "shipping", source_id)
        )

    def quote(
        self,
        *,
        shipping_base_fen: int,
        shipping_fen: int,
        points_applied_fen: int,
        applied_coupon_ids: Sequence[int],
        rejected_coupons: Sequence[RejectedCoupon],
        discount_by_coupon: Mapping[int, int],
        discount_by_campaign: Mapping[int, int],
    ) -> PriceQuote:
        """The finished quote: the lines as the ledger holds them, totals derived from them."""
        quoted = tuple(
            QuotedLine(
                sku_id=line.sku_id,
                product_id=line.product_id,
                category_id=line.category_id,
                name=line.name,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                campaign_unit_price_fen=self.unit_prices[index],
                subtotal_fen=line.unit_price_fen * line.quantity,
                discounts=tuple(self.line_discounts[index]),
                final_fen=self.amounts[index],
            )
            for index, line in enumerate(self.lines)
        )
        subtotal = sum(line.subtotal_fen for line in quoted)
        total = sum(line.final_fen for line in quoted) + shipping_fen
        return PriceQuote(
            lines=quoted,
            adjustments=tuple(self.adjustments),
            subtotal_fen=subtotal,
            discount_fen=subtotal + shipping_base_fen - total,
            shipping_base_fen=shipping_base_fen,
            shipping_fen=shipping_fen,
            total_fen=total,
            points_applied_fen=points_applied_fen,
            applied_coupon_ids=tuple(applied_coupon_ids),
            rejected_coupons=tuple(rejected_coupons),
            discount_by_coupon=dict(discount_by_coupon),
            applied_campaign_ids=tuple(sorted(discount_by_campaign)),
            discount_by_campaign=dict(discount_by_campaign),
        )
