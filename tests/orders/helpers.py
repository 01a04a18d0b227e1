"""Order test set-up through the real services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.identity.models import Person
from freshloop.orders.models import Order
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    order_create,
    order_payment_succeeded,
)
from freshloop.promotions.models import Coupon, CouponTemplate
from freshloop.promotions.services import CouponTemplateSpec, coupon_issue, coupon_template_create

ADDRESS = {
    "name": "王小明",
    "phone": "13800138000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}
MARKETER = Actor(type="user", id="9", label="市场部小周")


def buy(
    person: Person,
    *items: tuple[Sku, int],
    coupons: list[int] | None = None,
    points: int = 0,
    key: str = "",
    channel: str = "shop",
    source_ref: str = "",
) -> Order:
    order, _ = order_create(
        request=CheckoutRequest(
            person=person,
            channel=channel,
            source_ref=source_ref,
            items=[CheckoutItem(sku_id=sku.pk, quantity=quantity) for sku, quantity in items],
            coupon_ids=coupons or [],
            points=points,
            address=dict(ADDRESS),
            idempotency_key=key,
        )
    )
    return order


def pay(order: Order, *, transaction_id: str | None = None, amount_fen: int | None = None) -> Order:
    return order_payment_succeeded(
        order_no=order.order_no,
        amount_fen=order.total_fen if amount_fen is None else amount_fen,
        provider="sandbox",
        transaction_id=transaction_id or f"T{order.order_no}",
        paid_at=clock.now(),
    )


def coupon_template(code: str = "minus20", **fields: Any) -> CouponTemplate:
    spec: dict[str, Any] = {
        "code": code,
        "name": "满99减20",
        "kind": "threshold",
        "amount_off_fen": 2000,
        "threshold_fen": 9900,
        "valid_from": clock.now() - dt.timedelta(days=1),
        "valid_until": clock.now() + dt.timedelta(days=30),
        "per_user_limit": 1,
    }
    spec.update(fields)
    return coupon_template_create(actor=MARKETER, spec=CouponTemplateSpec(**spec))


def give_coupon(person: Person, template: CouponTemplate) -> Coupon:
    result = coupon_issue(template=template, people=[person], source="manual", actor=MARKETER)
    return result.issued[0]
