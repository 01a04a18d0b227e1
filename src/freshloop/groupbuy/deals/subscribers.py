"""Group deals follow their members' orders (the one order path tells them what happened).
Durable: a place must count once its money arrives, and come free once its order is
cancelled, even when the process dies right after the order's transaction."""

from __future__ import annotations

from freshloop.core import clock
from freshloop.core.events import subscribe
from freshloop.groupbuy.deals.services import (
    member_order_cancelled,
    member_order_paid,
    member_order_refunded,
)
from freshloop.orders.events import OrderCancelled, OrderPaid, OrderRefunded

GROUPBUY_CHANNEL = "groupbuy"


@subscribe(OrderPaid, durable=True)
def on_order_paid(event: OrderPaid) -> None:
    if event.channel == GROUPBUY_CHANNEL:
        member_order_paid(order_no=event.order_no, paid_at=clock.now())


@subscribe(OrderCancelled, durable=True)
def on_order_cancelled(event: OrderCancelled) -> None:
    if event.channel == GROUPBUY_CHANNEL:
        member_order_cancelled(order_no=event.order_no)


@subscribe(OrderRefunded, durable=True)
def on_order_refunded(event: OrderRefunded) -> None:
    if event.channel == GROUPBUY_CHANNEL:
        member_order_refunded(order_no=event.order_no, fully=event.fully)
