"""Reactions to other modules' events."""

from __future__ import annotations

import logging

from freshloop.core.events import subscribe
from freshloop.orders.events import OrderRefundApproved
from freshloop.payments.services import refund_start

logger = logging.getLogger(__name__)


@subscribe(OrderRefundApproved, durable=True)
def on_order_refund_approved(event: OrderRefundApproved) -> None:
    """An operator approved a refund: pay it back through the provider that took the money.

    Durable: the approval's transaction writes this as an effect, so a crash right after the
    approval still starts the refund; `refund_start` is idempotent on the refund number."""
    refund_start(
        order_no=event.order_no,
        refund_no=event.refund_no,
        amount_fen=event.amount_fen,
        reason=event.reason,
    )
