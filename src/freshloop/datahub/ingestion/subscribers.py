"""Every domain event becomes a data hub event, with no code in the module that announced it.

Handlers run after the announcing transaction committed; each appends one row to the
write-ahead buffer (an insert, no analytics work). Orders get deterministic event ids
(`order_paid:<order no>`), so the historical backfill and the live recording of the same fact
meet as one event. OneID merges travel through the buffer too and are applied by the flush, in
order with the events around them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from freshloop.core import clock
from freshloop.core.db import retry_transient
from freshloop.core.events import DomainEvent, subscribe
from freshloop.datahub.flush import MERGE_EVENT
from freshloop.datahub.ingestion import buffer_append
from freshloop.identity.events import IdentityMerged
from freshloop.live.events import LiveViewerEvent
from freshloop.orders.events import OrderEventBase, OrderPaid, OrderRefunded
from freshloop.orders.models import Order

SERVER_SOURCE = "server"
# Facts that only matter to the room's own screen (a counter ticking down) are not history.
NOT_RECORDED = {"FlashSaleStockChanged"}


def event_name_for(domain_event_name: str) -> str:
    """ "OrderPaid" → "order_paid"."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", domain_event_name).lower()


def order_paid_properties(order: Order, *, amount_fen: int) -> dict[str, Any]:
    """What analytics needs from a paid order: money, coupon use, region and the lines."""
    address = order.address if isinstance(order.address, dict) else {}
    lines = []
    for line in order.lines.select_related("sku__product__category"):
        product = line.sku.product
        lines.append(
            {
                "sku_id": line.sku_id,
                "product_id": product.pk,
                "product_name": line.product_name,
                "category": product.category.name,
                "quantity": line.quantity,
                "amount_fen": line.total_fen,
            }
        )
    return {
        "order_no": order.order_no,
        "amount_fen": amount_fen,
        "discount_fen": order.discount_fen,
        "coupon_used": bool(order.coupon_ids),
        "province": order.province or str(address.get("province", "")),
        "city": str(address.get("city", "")),
        "source_ref": order.source_ref,
        "lines": lines,
    }


def order_event_id(name: str, order_no: str, suffix: str = "") -> str:
    """The event id of an order fact: one per (fact, order), or per (fact, refund) for refund
    facts — the refund number is unique on its own, and adding the order number would pass
    the buffer's 64-character event id (PostgreSQL refuses what SQLite silently keeps)."""
    return f"{name}:{suffix}" if suffix else f"{name}:{order_no}"


def server_event_payload(
    *,
    name: str,
    occurred_at: dt.datetime,
    channel: str,
    person_id: int | None,
    properties: dict[str, Any],
    live_session: str = "",
) -> dict[str, Any]:
    """The buffered form of a system-side fact: the person is known (no identifiers to
    resolve), never a custom event. The recorder, the backfill and the demo all write this."""
    return {
        "name": name,
        "occurred_at": occurred_at.isoformat(),
        "identity": None,
        "identity_key": None,
        "one_id": None,
        "person_id": person_id,
        "session_id": "",
        "live_session": live_session,
        "properties": properties,
        "custom": False,
        "channel": channel,
    }


def server_event_record(
    *,
    event_id: str,
    name: str,
    occurred_at: dt.datetime,
    channel: str,
    person_id: int | None,
    properties: dict[str, Any],
    live_session: str = "",
) -> int:
    """Append one system-side fact to the buffer; returns 1 if new, 0 if already recorded."""
    payload = server_event_payload(
        name=name,
        occurred_at=occurred_at,
        channel=channel,
        person_id=person_id,
        properties=properties,
        live_session=live_session,
    )
    return retry_transient(
        lambda: buffer_append(
            source=SERVER_SOURCE, payloads={event_id: payload}, received_at=clock.now()
        )
    )


@subscribe(DomainEvent)
def record_domain_event(event: DomainEvent) -> None:
    if event.name in NOT_RECORDED:
        return
    if isinstance(event, OrderEventBase):
        _record_order_event(event)
        return
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
        name=name,
        occurred_at=event.occurred_at,
        channel=channel,
        person_id=person_id if isinstance(person_id, int) else None,
        properties=payload,
        live_session=str(payload.get("session_code", "")),
    )


def _record_order_event(event: OrderEventBase) -> None:
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
        name=name,
        occurred_at=event.occurred_at,
        channel=event.channel,
        person_id=event.person_id,
        properties=properties,
        live_session=event.source_ref if event.channel == "live" else "",
    )
