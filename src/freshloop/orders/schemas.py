from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema

from freshloop.core.schemas import Id, InputSchema
from freshloop.orders.errors import ADDRESS_TITLES
from freshloop.orders.models import Order
from freshloop.orders.pricing import CheckoutQuote


class CartItemIn(InputSchema):
    sku_id: Id = Field(..., title="商品规格")
    quantity: int = Field(..., ge=0, le=99, title="购买数量", description="0 表示移出购物车")


class CartLineOut(Schema):
    sku_id: int
    name: str
    spec: str
    unit_price_fen: int
    quantity: int


class CartOut(Schema):
    items: list[CartLineOut]


class AddressIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["name"])
    phone: str = Field(..., min_length=5, max_length=20, title=ADDRESS_TITLES["phone"])
    province: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["province"])
    city: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["city"])
    district: str = Field("", max_length=32, title=ADDRESS_TITLES["district"])
    detail: str = Field(..., min_length=1, max_length=120, title=ADDRESS_TITLES["detail"])


class CheckoutItemIn(InputSchema):
    sku_id: Id = Field(..., title="商品规格")
    quantity: int = Field(..., ge=1, le=99, title="购买数量")


class CheckoutIn(InputSchema):
    items: list[CheckoutItemIn] | None = Field(
        None, max_length=50, title="商品", description="不传则结算整个购物车"
    )
    channel: str = Field("shop", pattern=r"^(shop|live|groupbuy|partner)$", title="下单渠道")
    source_ref: str = Field(
        "", max_length=64, title="来源标识", description="直播场次 / 团长 / 合作方标识"
    )
    coupon_ids: list[Id] = Field(default_factory=list, max_length=5, title="优惠券")
    points: int = Field(0, ge=0, le=10_000_000, title="抵扣积分")


class OrderCreateIn(CheckoutIn):
    address: AddressIn = Field(..., title="收货地址")


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


class RefundLineIn(InputSchema):
    line_id: Id = Field(..., title="订单商品")
    quantity: int = Field(..., ge=1, le=99, title="退款数量")


class RefundIn(InputSchema):
    lines: list[RefundLineIn] = Field(..., min_length=1, max_length=50, title="退款商品")
    reason: str = Field(..., min_length=1, max_length=200, title="退款原因")


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


# Converters from domain objects to the schemas above; the live room's API returns the same shapes.
def quote_out(quote: CheckoutQuote) -> QuoteOut:
    return QuoteOut(
        lines=[
            QuoteLineOut(
                sku_id=line.sku.pk,
                name=f"{line.sku.product.name} {line.sku.spec}",
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                discount_fen=line.discount_fen,
                total_fen=line.total_fen,
            )
            for line in quote.lines
        ],
        explanation=[PriceRowOut(**row) for row in quote.explanation()],
        subtotal_fen=quote.subtotal_fen,
        discount_fen=quote.discount_fen,
        shipping_fen=quote.shipping_fen,
        total_fen=quote.total_fen,
        points_used=quote.points_used,
        points_balance=quote.points_balance,
        applied_coupon_ids=quote.applied_coupon_ids,
        rejected_coupons=[
            RejectedCouponOut(coupon_id=r.coupon_id, reason=r.reason)
            for r in quote.quote.rejected_coupons
        ],
    )


def order_out(order: Order, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_no": order.order_no,
        "status": order.status,
        "status_label": order.get_status_display(),
        "channel": order.channel,
        "source_ref": order.source_ref,
        "subtotal_fen": order.subtotal_fen,
        "discount_fen": order.discount_fen,
        "shipping_fen": order.shipping_fen,
        "total_fen": order.total_fen,
        "paid_fen": order.paid_fen,
        "refunded_fen": order.refunded_fen,
        "points_used": order.points_used,
        "price_explanation": order.price_explanation,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "lines": list(order.lines.all()),
    }
    if detail:
        data["timeline"] = list(order.timeline.all())
    return data
