"""What fulfillment reacts to, one block per feature."""

from __future__ import annotations

from django.db import transaction

from freshloop.core.events import subscribe
from freshloop.fulfillment.allocating import allocation_open
from freshloop.fulfillment.kick import allocation_kick
from freshloop.orders.events import OrderPaid
from freshloop.orders.models import Order

ALLOCATION_KICK_DELAY_S = 5
"""A paid order waits a few seconds before its batch runs, so a flash sale's burst of
payments is allocated together (and the per-minute job catches anything the kick missed)."""


@subscribe(OrderPaid, durable=True)
def allocation_on_paid(event: OrderPaid) -> None:
    """Durable and idempotent (one allocation row per order): the paid order joins the queue
    — unless it ships nothing itself (a presale deposit: the balance order ships its units)."""
    if not Order.objects.filter(pk=event.order_id, ships=True).exists():
        return
    allocation_open(order_id=event.order_id)
    transaction.on_commit(lambda: allocation_kick(delay_seconds=ALLOCATION_KICK_DELAY_S))
