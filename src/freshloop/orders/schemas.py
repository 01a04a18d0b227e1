from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema


class CartItemIn(Schema):
    sku_id: int = Field(..., ge=1)
    quantity: int = Field(..., ge=0, le=99)


class CartLineOut(Schema):
    sku_id: int
    name: str
    spec: str
    unit_price_fen: int
    quantity: int


class CartOut(Schema):
    items: list[CartLineOut]


class AddressIn(Schema):
    name: str = Field(..., min_length=1, max_length=32)
    phone: str = Field(..., min_length=5, max_length=20)
    province: str = Field(..., min_length=1, max_length=32)
    city: str = Field(..., min_length=1, max_length=32)
    district: str = Field("", max_length=32)
    detail: str = Field(..., min_length=1, max_length=120)


class CheckoutItemIn(Schema):
    sku_id: int = Field(..., ge=1)
    quantity: int = Field(..., ge=1, le=99)


class CheckoutIn(Schema):
    items: list[CheckoutItemIn] | None = Field(
        None, max_length=50, description="不传则结算整个购物车"
    )
    channel: str = Field("shop", pattern=r"^(shop|live|groupbuy|partner)$")
    source_ref: str = Field("", max_length=64, description="直播场次 / 团长 / 合作方标识")
    coupon_ids: list[int] = Field(default_factory=list, max_length=5)
    points: int = Field(0, ge=0, le=10_000_000)


class OrderCreateIn(CheckoutIn):
    address: AddressIn


class PriceRowOut(Schema):
    code: str
    label: str
    amount_fen: int
    target: Any = None


class QuoteLineOut(Schema):
    sku_id: int
    name: str
    quantity: int
    unit_price_fen: int
    discount_fen: int
    total_fen: int


class RejectedCouponOut(Schema):
    coupon_id: int
    reason: str


class QuoteOut(Schema):
    lines: list[QuoteLineOut]
    explanation: list[PriceRowOut]
    subtotal_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    points_used: int
    points_balance: int
    applied_coupon_ids: list[int]
    rejected_coupons: list[RejectedCouponOut]


class OrderLineOut(Schema):
    id: int
    sku_id: int
    product_name: str
    spec: str
    unit_price_fen: int
    quantity: int
    discount_fen: int
    total_fen: int
    refunded_quantity: int


class TimelineOut(Schema):
    to_status: str
    note: str
    created_at: dt.datetime


class OrderOut(Schema):
    order_no: str
    status: str
    status_label: str
    channel: str
    source_ref: str
    subtotal_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    points_used: int
    price_explanation: list[PriceRowOut]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    paid_at: dt.datetime | None
    lines: list[OrderLineOut]


class OrderDetailOut(OrderOut):
    timeline: list[TimelineOut]


class RefundLineIn(Schema):
    line_id: int = Field(..., ge=1)
    quantity: int = Field(..., ge=1, le=99)


class RefundIn(Schema):
    lines: list[RefundLineIn] = Field(..., min_length=1, max_length=50)
    reason: str = Field(..., min_length=1, max_length=200)


class RefundOut(Schema):
    refund_no: str
    amount_fen: int
    status: str


class CouponChoiceOut(Schema):
    coupon_id: int
    name: str
    usable: bool
    reason: str
    discount_fen: int
    valid_until: dt.datetime | None
