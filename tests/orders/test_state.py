"""Every pair of statuses: the transition is allowed exactly when the state machine says so."""

from __future__ import annotations

import itertools

import pytest

from freshloop.orders.errors import OrderStateInvalid
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.state import allowed_next, ensure_transition

S = OrderStatus
ALLOWED = {
    (S.PENDING_PAYMENT, S.PAID),
    (S.PENDING_PAYMENT, S.CANCELLED),
    (S.PAID, S.ALLOCATED),
    (S.PAID, S.REFUND_REQUESTED),
    (S.ALLOCATED, S.SHIPPED),
    (S.ALLOCATED, S.REFUND_REQUESTED),
    (S.SHIPPED, S.DELIVERED),
    (S.SHIPPED, S.REFUND_REQUESTED),
    (S.DELIVERED, S.COMPLETED),
    (S.DELIVERED, S.REFUND_REQUESTED),
    (S.COMPLETED, S.REFUND_REQUESTED),
    (S.REFUND_REQUESTED, S.REFUNDED),
    (S.REFUND_REQUESTED, S.PARTIALLY_REFUNDED),
    (S.REFUND_REQUESTED, S.PAID),  # rejected: back to where it was (here: paid)
    (S.PARTIALLY_REFUNDED, S.ALLOCATED),  # the rest of a paid order continues
    (S.PARTIALLY_REFUNDED, S.REFUND_REQUESTED),
}


@pytest.mark.parametrize(("from_status", "to_status"), list(itertools.product(S.values, S.values)))
def test_transition_table(from_status: str, to_status: str) -> None:
    order = Order(status=from_status, status_before_refund=S.PAID)
    if (from_status, to_status) in ALLOWED:
        ensure_transition(order, to_status)
    else:
        with pytest.raises(OrderStateInvalid):
            ensure_transition(order, to_status)


def test_terminal_statuses_allow_nothing() -> None:
    for status in (S.CANCELLED, S.REFUNDED):
        assert allowed_next(Order(status=status)) == frozenset()
