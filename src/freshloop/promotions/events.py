from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class CouponsIssued(DomainEvent):
    """Coupons of one template landed in people's wallets (one event per issue call)."""

    name = "CouponsIssued"
    template_id: int
    template_code: str
    source: str
    source_ref: str
    person_ids: list[int]
    coupon_ids: list[int]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CouponUsed(DomainEvent):
    """A locked coupon was spent on a paid order."""

    name = "CouponUsed"
    coupon_id: int
    template_id: int
    person_id: int
    order_ref: str
    discount_fen: int
