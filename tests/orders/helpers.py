"""Order test set-up through the real services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from freshloop.core import clock
from freshloop.orders.models import Order
from freshloop.orders.services import (
    order_payment_succeeded,
)
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import CouponTemplateSpec, coupon_template_create
from tests.factories import MARKETER, make_order

buy = make_order  # the orders tests' name for placing an order through checkout


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
