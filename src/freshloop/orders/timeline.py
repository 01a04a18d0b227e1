"""The order's history as its services write it: a timeline row per step, the status moved
through the state machine, and the common fields of every order event."""

from __future__ import annotations

from typing import Any

from freshloop.core import clock
from freshloop.orders.models import (
    Order,
    OrderEvent,
    OrderLine,
)
from freshloop.orders.state import ensure_transition

PLACED_NOTE, PLACED_BY = "下单成功，等待支付", "顾客"
"""The first timeline row of every order (`order_create`, `orders_create_many`)."""


def timeline_row(order: Order, to_status: str, *, note: str = "", actor: str = "") -> OrderEvent:
    """A timeline row for `order` moving to `to_status`, not saved yet (a batch saves many)."""
    return OrderEvent(
        order=order,
        from_status=order.status if order.status != to_status else "",
        to_status=to_status,
        note=note[:200],
        actor=actor[:64],
        created_at=clock.now(),
    )


def timeline_add(order: Order, to_status: str, *, note: str = "", actor: str = "") -> OrderEvent:
    row = timeline_row(order, to_status, note=note, actor=actor)
    row.save(force_insert=True)
    return row


def answer_from_written(
    order: Order, *, lines: list[OrderLine], timeline: list[OrderEvent]
) -> None:
    """Let `order.lines.all()` and `order.timeline.all()` answer from the rows this request
    has just written, as a `prefetch_related` would, instead of reading them back after the
    commit (two round trips a checkout). Only for an order whose lines and timeline are
    exactly these rows: the one its own transaction created."""
    cache = {}
    for name, rows in (("lines", lines), ("timeline", timeline)):
        queryset = getattr(order, name).get_queryset()
        # What prefetch_related_objects stores: the manager's queryset with its result filled in.
        queryset._result_cache = list(rows)
        queryset._prefetch_done = True
        cache[name] = queryset
    order._prefetched_objects_cache = cache  # type: ignore[attr-defined]


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
