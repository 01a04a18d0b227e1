"""Reactions to other modules' events."""

from __future__ import annotations

import logging
from typing import Any

from freshloop.core.effects import effect_consumer
from freshloop.core.events import subscribe
from freshloop.orders.events import OrderCancelled, OrderRefundApproved
from freshloop.payments.services import (
    CLOSE_AT_PROVIDER,
    payment_close_at_provider,
    payments_for_order_close,
    refund_start,
)

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


@subscribe(OrderCancelled, durable=True, background=True)
def on_order_cancelled(event: OrderCancelled) -> None:
    """An order that will not be paid (cancelled, or timed out unpaid): close its open
    payments at the provider, so the buyer cannot pay a dead order (关单). On the worker, and
    retried while the provider cannot be reached."""
    payments_for_order_close(order_no=event.order_no)


@effect_consumer(CLOSE_AT_PROVIDER, background=True)
def close_at_provider(payload: dict[str, Any]) -> None:
    """A payment replaced by a newer one (another way to pay) is closed at its provider."""
    payment_close_at_provider(payment_no=str(payload["payment_no"]))
