"""The order state machine (SPEC BM-3): which status may follow which.

    pending_payment → paid → allocated → shipped → delivered → completed
    pending_payment → cancelled                      (by the buyer, or unpaid past the deadline)
    paid | allocated | shipped | delivered | completed → refund_requested
    refund_requested → refunded | partially_refunded | (rejected: back to where it was)
    partially_refunded → whatever the pre-refund status allowed, or another refund_requested

A partially refunded order keeps living (the rest still ships), so its next statuses are those
of the status it had before the refund, remembered on the order.
"""

from __future__ import annotations

from freshloop.orders.errors import OrderStateInvalid
from freshloop.orders.models import Order, OrderStatus

S = OrderStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.ALLOCATED, S.REFUND_REQUESTED}),
    S.ALLOCATED: frozenset({S.SHIPPED, S.REFUND_REQUESTED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUND_REQUESTED}),
    S.DELIVERED: frozenset({S.COMPLETED, S.REFUND_REQUESTED}),
    S.COMPLETED: frozenset({S.REFUND_REQUESTED}),
    S.REFUND_REQUESTED: frozenset({S.REFUNDED, S.PARTIALLY_REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}

REFUNDABLE = frozenset({S.PAID, S.ALLOCATED, S.SHIPPED, S.DELIVERED, S.COMPLETED})
NOT_YET_SHIPPED = frozenset({S.PAID, S.ALLOCATED})


def allowed_next(order: Order) -> frozenset[str]:
    status = order.status
    if status == S.PARTIALLY_REFUNDED:
        previous = order.status_before_refund or S.PAID
        return (TRANSITIONS[previous] - {S.REFUND_REQUESTED}) | {S.REFUND_REQUESTED}
    if status == S.REFUND_REQUESTED:
        # A rejected request returns the order to where it was.
        back = {order.status_before_refund} if order.status_before_refund else set()
        return TRANSITIONS[status] | back
    return TRANSITIONS[status]


def effective_status(order: Order) -> str:
    """The fulfilment stage of an order, looking through refund states."""
    if order.status in {S.PARTIALLY_REFUNDED, S.REFUND_REQUESTED}:
        return order.status_before_refund or S.PAID
    return order.status


def ensure_transition(order: Order, to_status: str) -> None:
    if to_status not in allowed_next(order):
        raise OrderStateInvalid(
            f"订单{order.get_status_display()}，不能变为{OrderStatus(to_status).label}",
            detail={"from": order.status, "to": to_status},
        )
