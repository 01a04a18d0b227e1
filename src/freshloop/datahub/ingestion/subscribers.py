"""The recorder: every domain event becomes a data hub event, with no code in the module that
announced it.

Handlers run after the announcing transaction committed; each appends one row to the
write-ahead buffer (an insert, no analytics work). Order facts (placed, paid, refunded, …) are
written into the buffer inside the order's own transaction (`in_transaction=True`), so they
commit or roll back with the order and a process killed right after the commit loses none; the
buffer is itself a durable queue that the flusher consumes, and it ignores an event id it
already holds. Viewer actions and other facts are best effort, after commit. Orders get deterministic event ids
(`order_paid:<order no>`, `ingestion.services.order_event_id`), so the historical backfill and
the live recording of the same fact meet as one event. OneID merges travel through the buffer
too and are applied by the flush, in order with the events around them.
"""

from __future__ import annotations

import re
import uuid

from freshloop.core.events import DomainEvent, subscribe
from freshloop.datahub.eventstore.services import MERGE_EVENT
from freshloop.datahub.ingestion.services import (
    SERVER_SOURCE,
    order_event_id,
    order_paid_properties,
    server_event_payload,
    server_event_record,
)
from freshloop.identity.events import IdentityMerged
from freshloop.live.events import LiveViewerEvent
from freshloop.orders.events import OrderEventBase, OrderPaid, OrderRefunded
from freshloop.orders.models import Order

# Facts that only matter to the room's own screen (a counter ticking down) are not history;
# nor are the data hub's own derived facts (a segment's newcomers: thousands of ids, no person).
NOT_RECORDED = {"FlashSaleStockChanged", "SegmentMembersJoined"}


def event_name_for(domain_event_name: str) -> str:
    """ "OrderPaid" → "order_paid"."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", domain_event_name).lower()


@subscribe(DomainEvent)
def record_domain_event(event: DomainEvent) -> None:
    if event.name in NOT_RECORDED or isinstance(event, OrderEventBase):
        return  # order facts have their own, durable, handler below
    payload = event.payload()
    payload.pop("occurred_at", None)
    if isinstance(event, LiveViewerEvent):
        name = f"live_{event.action}"
        event_id = uuid.uuid4().hex
        channel = "live"
    elif isinstance(event, IdentityMerged):
        name = MERGE_EVENT
        event_id = (
            f"{MERGE_EVENT}:{event.from_person_id}:{event.into_person_id}:{uuid.uuid4().hex[:8]}"
        )
        channel = SERVER_SOURCE
    else:
        name = event_name_for(event.name)
        event_id = uuid.uuid4().hex
        channel = "live" if "session_code" in payload else SERVER_SOURCE
    person_id = payload.get("person_id", payload.get("into_person_id"))
    server_event_record(
        event_id=event_id,
        payload=server_event_payload(
            name=name,
            occurred_at=event.occurred_at,
            channel=channel,
            person_id=person_id if isinstance(person_id, int) else None,
            properties=payload,
            live_session=str(payload.get("session_code", "")),
        ),
    )


@subscribe(OrderEventBase, in_transaction=True)
def record_order_event(event: OrderEventBase) -> None:
    name = event_name_for(event.name)
    suffix = getattr(event, "refund_no", "")
    properties = event.payload()
    properties.pop("occurred_at", None)
    if isinstance(event, OrderPaid):
        order = Order.objects.filter(pk=event.order_id).first()
        if order is not None:
            properties = {**properties, **order_paid_properties(order, amount_fen=event.paid_fen)}
    elif isinstance(event, OrderRefunded):
        properties["amount_fen"] = event.amount_fen
    elif "total_fen" in properties:
        properties["amount_fen"] = properties["total_fen"]
    server_event_record(
        event_id=order_event_id(name, event.order_no, suffix),
        payload=server_event_payload(
            name=name,
            occurred_at=event.occurred_at,
            channel=event.channel,
            person_id=event.person_id,
            properties=properties,
            live_session=event.source_ref if event.channel == "live" else "",
        ),
    )
