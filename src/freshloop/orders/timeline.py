"""The order's history as its services write it: a timeline row per step, the status moved
through the state machine, and the common fields of every order event."""

from __future__ import annotations

from typing import Any

from freshloop.core import clock
from freshloop.orders.models import (
    Order,
    OrderEvent,
)
from freshloop.orders.state import ensure_transition


def timeline_add(order: Order, to_status: str, *, note: str = "", actor: str = "") -> None:
    OrderEvent.objects.create(
        order=order,
        from_status=order.status if order.status != to_status else "",
        to_status=to_status,
        note=note[:200],
        actor=actor[:64],
        created_at=clock.now(),
    )


def event_base(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "order_no": order.order_no,
        "person_id": order.person_id,
        "channel": order.channel,
        "source_ref": order.source_ref,
    }


def status_set(order: Order, to_status: str, *, note: str, actor: str, **fields: Any) -> None:
    ensure_transition(order, to_status)
    timeline_add(order, to_status, note=note, actor=actor)
    order.status = to_status
    for name, value in fields.items():
        setattr(order, name, value)
    order.updated_at = clock.now()
    order.save(update_fields=["status", "updated_at", *fields])
