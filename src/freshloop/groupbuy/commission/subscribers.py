"""How commission reacts to orders: a paid order is attributed to the buyer's leader (and
earns commission), a refund takes back its share. Durable: losing either would lose money;
both services are idempotent (a repeat finds the order attributed, the refund handled)."""

from __future__ import annotations

from freshloop.core.events import subscribe
from freshloop.groupbuy.commission.attribution import order_attribute, order_refund_attributed
from freshloop.orders.events import OrderPaid, OrderRefunded


@subscribe(OrderPaid, durable=True)
def commission_on_order_paid(event: OrderPaid) -> None:
    order_attribute(order_id=event.order_id)


@subscribe(OrderRefunded, durable=True)
def commission_on_order_refunded(event: OrderRefunded) -> None:
    order_refund_attributed(
        order_id=event.order_id,
        refund_no=event.refund_no,
        amount_fen=event.amount_fen,
        fully=event.fully,
    )
