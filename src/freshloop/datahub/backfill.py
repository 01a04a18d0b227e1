"""Historical facts into the event store: orders that existed before the hub recorded them
(an import, the demo's 18 months). Same deterministic event ids as the live recorder, so running
it again — or over orders that were also recorded live — adds nothing twice."""

from __future__ import annotations

from typing import Any

from freshloop.core import clock
from freshloop.datahub.ingestion import buffer_append
from freshloop.datahub.recorder import (
    SERVER_SOURCE,
    order_event_id,
    order_paid_properties,
    server_event_payload,
)
from freshloop.orders.models import Order, RefundRequest, RefundStatus

BATCH = 500


def _payload(
    *, name: str, order: Order, occurred_at: Any, properties: dict[str, Any]
) -> dict[str, Any]:
    return server_event_payload(
        name=name,
        occurred_at=occurred_at,
        channel=order.channel,
        person_id=order.person_id,
        properties=properties,
        live_session=order.source_ref if order.channel == "live" else "",
    )


def _order_events(order: Order) -> dict[str, dict[str, Any]]:
    base = {
        "order_id": order.pk,
        "order_no": order.order_no,
        "person_id": order.person_id,
        "channel": order.channel,
        "source_ref": order.source_ref,
    }
    events = {
        order_event_id("order_created", order.order_no): _payload(
            name="order_created",
            order=order,
            occurred_at=order.created_at,
            properties={**base, "total_fen": order.total_fen, "amount_fen": order.total_fen},
        )
    }
    if order.paid_at is not None:
        events[order_event_id("order_paid", order.order_no)] = _payload(
            name="order_paid",
            order=order,
            occurred_at=order.paid_at,
            properties={
                **base,
                "paid_fen": order.paid_fen,
                "provider": order.payment_provider,
                "transaction_id": order.transaction_id,
                **order_paid_properties(order, amount_fen=order.paid_fen),
            },
        )
    return events


def _refund_event(refund: RefundRequest) -> dict[str, dict[str, Any]]:
    order = refund.order
    return {
        order_event_id("order_refunded", order.order_no, refund.refund_no): _payload(
            name="order_refunded",
            order=order,
            occurred_at=refund.refunded_at or refund.created_at,
            properties={
                "order_id": order.pk,
                "order_no": order.order_no,
                "refund_no": refund.refund_no,
                "amount_fen": refund.amount_fen,
                "person_id": order.person_id,
                "channel": order.channel,
            },
        )
    }


def orders_backfill() -> int:
    """Buffer order_created / order_paid / order_refunded for every order; return how many
    events were new."""
    added = 0
    # Chunks by primary key, not a server-side cursor: SQLite cannot keep a read cursor open
    # while the same connection appends to the buffer.
    order_ids = list(Order.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(order_ids), BATCH):
        chunk = Order.objects.filter(pk__in=order_ids[start : start + BATCH]).order_by("pk")
        batch: dict[str, dict[str, Any]] = {}
        for order in chunk.prefetch_related("lines__sku__product__category"):
            batch.update(_order_events(order))
        added += buffer_append(source=SERVER_SOURCE, payloads=batch, received_at=clock.now())
    refunds: dict[str, dict[str, Any]] = {}
    for refund in RefundRequest.objects.filter(status=RefundStatus.REFUNDED).select_related(
        "order"
    ):
        refunds.update(_refund_event(refund))
    if refunds:
        added += buffer_append(source=SERVER_SOURCE, payloads=refunds, received_at=clock.now())
    return added
