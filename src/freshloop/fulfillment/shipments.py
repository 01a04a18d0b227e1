"""Shipments and tracking (FF-2): a parcel's state machine, its waybill, operators picking and
handing it over, carrier pushes (signed generic webhook, Kuaidi100) and the sandbox carrier
that walks demo parcels along their route.

The state machine (`shipment_advance`), written down:
- every step is recorded on the parcel's timeline, once per `external_id` (a replayed push,
  or the same route pushed again, adds nothing);
- the status only moves forward: created → picked → handed_over → in_transit →
  out_for_delivery → delivered. A step older or lower than where the parcel is (pushes arrive
  out of order) is kept on the timeline but moves nothing; skipping steps is fine (a carrier
  may report 在途 without 揽收: `handed_over_at` is then that step's time);
- delivered is final: nothing moves a delivered parcel (a later push is only recorded);
- exception (疑难, 拒签, 退回 …) is taken from any status but delivered when it is not older
  than the step that set the current status; from exception, any newer normal step (the
  carrier resolved it: 再次派送 …) moves the parcel to that step, even a lower one;
- the order follows: the first of its parcels handed over ships the order
  (`orders.services.order_ship`), the last delivered delivers it (`order_deliver`);
- ShipmentStatusChanged is published on every move, `late=True` when delivered after
  `promised_on` (dates in Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.core.outbox import ALERT_CHANNEL, outbox_enqueue
from freshloop.fulfillment.allocation_selectors import allocation_lot_picks
from freshloop.fulfillment.carriers import carrier_provider
from freshloop.fulfillment.carriers.base import EXCEPTION, STATUS_RANK, WaybillRequest
from freshloop.fulfillment.carriers.kuaidi100 import Kuaidi100Error, Kuaidi100Provider
from freshloop.fulfillment.carriers.sandbox import SandboxCarrier, sandbox_route
from freshloop.fulfillment.errors import (
    CarrierNotFound,
    FulfillmentInvalid,
    PushMalformed,
    PushSignatureInvalid,
    ShipmentNotFound,
    ShipmentStateInvalid,
)
from freshloop.fulfillment.events import ShipmentStatusChanged
from freshloop.fulfillment.locks import shipment_lock
from freshloop.fulfillment.models import (
    Carrier,
    CarrierCredential,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
)
from freshloop.inventory.errors import LotShortfall
from freshloop.orders.models import Order, OrderStatus

WEBHOOK_TOLERANCE_SECONDS = 300
"""A generic push whose timestamp is further than this from our clock is refused (replay of an
old, captured request); a replay inside the window is harmless (external ids)."""
WEBHOOK_MAX_EVENTS = 100
SIGNATURE_HEADER = "X-Carrier-Signature"
TIMESTAMP_HEADER = "X-Carrier-Timestamp"

HANDED_OVER_RANK = STATUS_RANK[ShipmentStatus.HANDED_OVER]


@dataclass(frozen=True)
class AdvanceResult:
    shipment: Shipment
    event: ShipmentEvent
    recorded: bool
    """False when the step was already on the timeline (same external id): nothing changed."""
    moved: bool
    """True when the parcel's status changed."""


def _status_since(shipment: Shipment, *, excluding: int) -> dt.datetime | None:
    """When the step that set the parcel's current status happened."""
    found = (
        ShipmentEvent.objects.filter(shipment=shipment, status=shipment.status)
        .exclude(pk=excluding)
        .aggregate(latest=Max("occurred_at"))["latest"]
    )
    return found


def _target_status(
    shipment: Shipment, status: str, occurred_at: dt.datetime, event_id: int
) -> str | None:
    """Where the step moves the parcel, or None (see the module docstring)."""
    current = shipment.status
    if current == ShipmentStatus.DELIVERED or status == current:
        return None
    since = _status_since(shipment, excluding=event_id)
    if status == EXCEPTION:
        return status if since is None or occurred_at >= since else None
    if current == EXCEPTION:
        return status if since is None or occurred_at > since else None
    return status if STATUS_RANK[status] > STATUS_RANK[current] else None


def _delivered_late(shipment: Shipment) -> bool:
    if shipment.promised_on is None or shipment.delivered_at is None:
        return False
    return clock.to_shanghai(shipment.delivered_at).date() > shipment.promised_on


def _lot_shortfall_alert(shipment: Shipment, shortfall: LotShortfall) -> None:
    outbox_enqueue(
        channel=ALERT_CHANNEL,
        payload={
            "kind": "fulfillment.lot_shortfall",
            "shipment_no": shipment.shipment_no,
            "order_id": shipment.order_id,
            "message": shortfall.text,
            "detail": shortfall.detail,
        },
        dedupe_key=f"fulfillment.lot_shortfall:{shipment.pk}",
        urgent=True,
    )


def _order_follows(shipment: Shipment, actor: Actor) -> None:
    """The order moves with its parcels: shipped with the first handed over, delivered with
    the last delivered. An order elsewhere (a refund under review, already further) stays."""
    from freshloop.orders.services import order_allocate, order_deliver, order_ship

    order = Order.objects.get(pk=shipment.order_id)
    if STATUS_RANK.get(shipment.status, -1) >= HANDED_OVER_RANK:
        if order.status == OrderStatus.PAID:
            order = order_allocate(order_no=order.order_no, actor=actor, note="包裹已出库")
        if order.status == OrderStatus.ALLOCATED:
            # Stock leaves with the lots the allocation wrote on the parcels, not a fresh
            # FEFO pick that could differ from what the labels (and a recall) say shipped.
            try:
                order = order_ship(
                    order_no=order.order_no,
                    carrier=shipment.carrier.name,
                    tracking_no=shipment.waybill_no or shipment.shipment_no,
                    actor=actor,
                    lot_picks=allocation_lot_picks(order.pk),
                )
            except LotShortfall as shortfall:
                # The parcel did leave (a carrier says so): refusing its step helps nobody.
                # The books disagree with the shelf, so stock is not booked out, the order
                # stays allocated, and a person is told — never silently picked elsewhere.
                _lot_shortfall_alert(shipment, shortfall)
                return
    if shipment.status == ShipmentStatus.DELIVERED and order.status == OrderStatus.SHIPPED:
        undelivered = (
            Shipment.objects.filter(order_id=order.pk)
            .exclude(status=ShipmentStatus.DELIVERED)
            .exists()
        )
        if not undelivered:
            order_deliver(order_no=order.order_no, actor=actor)


@transaction.atomic
def shipment_advance(
    *,
    shipment_id: int,
    status: str,
    source: str,
    occurred_at: dt.datetime,
    external_id: str = "",
    description: str = "",
    location: str = "",
    actor: Actor | None = None,
) -> AdvanceResult:
    """Record one step of a parcel's route and move its status when the step says so.
    Idempotent by `external_id`; out-of-order steps never move the status backwards."""
    if status not in ShipmentStatus.values:
        raise FulfillmentInvalid(
            detail=[{"field": "status", "message": f"未知的包裹状态：{status}"[:80]}]
        )
    if occurred_at.tzinfo is None:
        raise FulfillmentInvalid(detail=[{"field": "occurred_at", "message": "时间必须带时区"}])
    try:
        shipment = shipment_lock(shipment_id)
    except Shipment.DoesNotExist as error:
        raise ShipmentNotFound(detail={"shipment_id": shipment_id}) from error
    external_id = external_id[:64]
    if external_id:
        existing = ShipmentEvent.objects.filter(shipment=shipment, external_id=external_id).first()
        if existing is not None:
            return AdvanceResult(shipment=shipment, event=existing, recorded=False, moved=False)
    now = clock.now()
    event = ShipmentEvent.objects.create(
        shipment=shipment,
        status=status,
        description=description[:200],
        location=location[:64],
        source=source[:32],
        external_id=external_id,
        occurred_at=occurred_at,
        recorded_at=now,
    )
    target = _target_status(shipment, status, occurred_at, event.pk)
    if target is None:
        return AdvanceResult(shipment=shipment, event=event, recorded=True, moved=False)
    previous = shipment.status
    shipment.status = target
    shipment.updated_at = now
    if STATUS_RANK.get(target, -1) >= HANDED_OVER_RANK and shipment.handed_over_at is None:
        shipment.handed_over_at = occurred_at
    if target == ShipmentStatus.DELIVERED:
        shipment.delivered_at = occurred_at
    shipment.save(update_fields=["status", "updated_at", "handed_over_at", "delivered_at"])
    who = actor or Actor.system(f"fulfillment.{source}"[:60])
    late = target == ShipmentStatus.DELIVERED and _delivered_late(shipment)
    audit_record(
        actor=who,
        action="fulfillment.shipment_advance",
        target=shipment,
        before={"status": previous},
        after={"status": target, "source": source, "external_id": external_id, "late": late},
    )
    order = Order.objects.only("order_no", "person_id").get(pk=shipment.order_id)
    publish(
        ShipmentStatusChanged(
            shipment_id=shipment.pk,
            shipment_no=shipment.shipment_no,
            order_id=shipment.order_id,
            order_no=order.order_no,
            person_id=order.person_id,
            status=target,
            previous_status=previous,
            late=late,
        )
    )
    _order_follows(shipment, who)
    return AdvanceResult(shipment=shipment, event=event, recorded=True, moved=True)


# --- waybills and operators -------------------------------------------------------------------


def _waybill_request(shipment: Shipment) -> WaybillRequest:
    order = shipment.order
    address = dict(order.address or {})
    warehouse = shipment.warehouse
    return WaybillRequest(
        shipment_no=shipment.shipment_no,
        carrier_code=shipment.carrier.code,
        storage=shipment.storage,
        weight_g=shipment.weight_g,
        sender={
            "name": warehouse.name,
            "province": warehouse.province,
            "city": warehouse.city,
            "address": warehouse.address,
        },
        receiver={
            "name": str(address.get("name", "")),
            "phone": str(address.get("phone", "")),
            "province": str(address.get("province", order.province)),
            "city": str(address.get("city", "")),
            "district": str(address.get("district", "")),
            "detail": str(address.get("detail", "")),
        },
        items=[
            {"sku_id": line.sku_id, "quantity": line.quantity, "batch_id": line.batch_id}
            for line in shipment.lines.all()
        ],
    )


@transaction.atomic
def shipment_waybill_request(*, shipment_id: int, actor: Actor) -> Shipment:
    """Give the parcel its waybill number and label data from its carrier's provider; a
    parcel that has one keeps it (asking again changes nothing)."""
    try:
        shipment = shipment_lock(shipment_id)
    except Shipment.DoesNotExist as error:
        raise ShipmentNotFound(detail={"shipment_id": shipment_id}) from error
    if shipment.waybill_no:
        return shipment
    waybill = carrier_provider(shipment.carrier).request_waybill(_waybill_request(shipment))
    shipment.waybill_no = waybill.waybill_no
    shipment.label = waybill.label
    shipment.updated_at = clock.now()
    shipment.save(update_fields=["waybill_no", "label", "updated_at"])
    audit_record(
        actor=actor,
        action="fulfillment.waybill",
        target=shipment,
        after={"waybill_no": waybill.waybill_no},
    )
    return shipment


@transaction.atomic
def shipment_pick(*, shipment_id: int, actor: Actor) -> Shipment:
    """The warehouse picked and packed the parcel: it gets its waybill and label."""
    shipment = shipment_waybill_request(shipment_id=shipment_id, actor=actor)
    if shipment.status != ShipmentStatus.CREATED:
        raise ShipmentStateInvalid(detail={"status": shipment.status})
    return shipment_advance(
        shipment_id=shipment_id,
        status=ShipmentStatus.PICKED,
        source="operator",
        occurred_at=clock.now(),
        description="仓库已拣货打包",
        location=shipment.warehouse.name,
        actor=actor,
    ).shipment


@transaction.atomic
def shipment_hand_over(*, shipment_id: int, actor: Actor) -> Shipment:
    """The carrier's courier took the parcel at the warehouse."""
    shipment = shipment_waybill_request(shipment_id=shipment_id, actor=actor)
    if shipment.status not in {ShipmentStatus.CREATED, ShipmentStatus.PICKED}:
        raise ShipmentStateInvalid(detail={"status": shipment.status})
    return shipment_advance(
        shipment_id=shipment_id,
        status=ShipmentStatus.HANDED_OVER,
        source="operator",
        occurred_at=clock.now(),
        description=f"【{shipment.warehouse.city}】{shipment.carrier.name}已揽收",
        location=shipment.warehouse.city,
        actor=actor,
    ).shipment


# --- carrier pushes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PushOutcome:
    received: int
    recorded: int
    moved: int
    unknown_waybills: list[str]


def _carrier(code: str) -> Carrier:
    carrier = Carrier.objects.filter(code=code).first()
    if carrier is None:
        raise CarrierNotFound(detail={"carrier": code[:32]})
    return carrier


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 over `<timestamp>.<raw body>` with the carrier's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _parse_moment(raw: Any, index: int) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(raw))
    except ValueError as error:
        raise PushMalformed(
            detail=[{"field": f"events.{index}.occurred_at", "message": "时间格式不正确"}]
        ) from error
    if moment.tzinfo is None:
        raise PushMalformed(
            detail=[{"field": f"events.{index}.occurred_at", "message": "时间必须带时区"}]
        )
    return moment


def _generic_updates(body: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise PushMalformed("推送内容不是有效的 JSON") from error
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list) or not events or len(events) > WEBHOOK_MAX_EVENTS:
        raise PushMalformed(f"events 必须是 1–{WEBHOOK_MAX_EVENTS} 条轨迹")
    updates = []
    for index, item in enumerate(events):
        if not isinstance(item, dict):
            raise PushMalformed(detail=[{"field": f"events.{index}", "message": "格式不正确"}])
        status = str(item.get("status", ""))
        if status not in ShipmentStatus.values or status == ShipmentStatus.CREATED:
            raise PushMalformed(
                detail=[{"field": f"events.{index}.status", "message": "未知的包裹状态"}]
            )
        external_id = str(item.get("id", "")).strip()
        waybill_no = str(item.get("waybill_no", "")).strip()
        if not external_id or not waybill_no:
            raise PushMalformed(
                detail=[{"field": f"events.{index}", "message": "缺少 id 或 waybill_no"}]
            )
        updates.append(
            {
                "waybill_no": waybill_no[:64],
                "status": status,
                "occurred_at": _parse_moment(item.get("occurred_at"), index),
                "external_id": external_id[:64],
                "description": str(item.get("description", ""))[:200],
                "location": str(item.get("location", ""))[:64],
            }
        )
    return updates


def _apply(carrier: Carrier, source: str, updates: list[dict[str, Any]]) -> PushOutcome:
    by_waybill = dict(
        Shipment.objects.filter(
            carrier=carrier, waybill_no__in={update["waybill_no"] for update in updates}
        ).values_list("waybill_no", "pk")
    )
    recorded = moved = 0
    unknown: list[str] = []
    for update in sorted(updates, key=lambda u: u["occurred_at"]):
        step = dict(update)
        waybill_no = step.pop("waybill_no")
        shipment_id = by_waybill.get(waybill_no)
        if shipment_id is None:
            unknown.append(waybill_no)
            continue
        result = shipment_advance(shipment_id=shipment_id, source=source, **step)
        recorded += int(result.recorded)
        moved += int(result.moved)
    return PushOutcome(
        received=len(updates), recorded=recorded, moved=moved, unknown_waybills=sorted(set(unknown))
    )


def carrier_push_handle(*, carrier_code: str, headers: Any, body: bytes) -> PushOutcome:
    """A signed generic push: the signature and the timestamp are checked, then the whole
    body is parsed, before anything is written (a bad push writes nothing)."""
    carrier = _carrier(carrier_code)
    credential = CarrierCredential.objects.filter(carrier=carrier).first()
    secret = credential.webhook_secret if credential is not None else ""
    timestamp = str(headers.get(TIMESTAMP_HEADER, "")).strip()
    given = str(headers.get(SIGNATURE_HEADER, "")).strip()
    if not secret or not timestamp or not given:
        raise PushSignatureInvalid(detail={"reason": "missing"})
    if not hmac.compare_digest(given, webhook_signature(secret, timestamp, body)):
        raise PushSignatureInvalid(detail={"reason": "mismatch"})
    try:
        skew = abs(time.time() - int(timestamp))
    except ValueError as error:
        raise PushSignatureInvalid(detail={"reason": "timestamp"}) from error
    if skew > WEBHOOK_TOLERANCE_SECONDS:
        raise PushSignatureInvalid("推送时间戳已过期", detail={"reason": "stale"})
    updates = _generic_updates(body)
    with transaction.atomic():
        return _apply(carrier, f"push:{carrier.code}", updates)


def kuaidi100_push_handle(*, carrier_code: str, form: dict[str, str]) -> PushOutcome:
    """A Kuaidi100 subscription push (see carriers/kuaidi100.py for the format and the
    state mapping)."""
    carrier = _carrier(carrier_code)
    provider = carrier_provider(carrier)
    if not isinstance(provider, Kuaidi100Provider):
        raise CarrierNotFound("该承运商未接入快递100", detail={"carrier": carrier_code[:32]})
    try:
        parsed = provider.parse_push(form)
    except Kuaidi100Error as error:
        if error.signature:
            raise PushSignatureInvalid(detail={"reason": str(error)}) from error
        raise PushMalformed(detail={"reason": str(error)}) from error
    updates = [
        {
            "waybill_no": update.waybill_no,
            "status": update.status,
            "occurred_at": update.occurred_at,
            "external_id": update.external_id,
            "description": update.description,
            "location": update.location,
        }
        for update in parsed
    ]
    with transaction.atomic():
        return _apply(carrier, "kuaidi100", updates)


def tracking_callback_url(carrier_code: str) -> str:
    origins = settings.FRESHLOOP.csrf_trusted_origins
    base = origins[0] if origins else "http://127.0.0.1:8000"
    return f"{base}/api/v1/fulfillment/carriers/{carrier_code}/kuaidi100"


# --- the sandbox carrier ----------------------------------------------------------------------

SANDBOX_MOVING = (
    ShipmentStatus.HANDED_OVER,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.OUT_FOR_DELIVERY,
)


def sandbox_carrier_tick(*, limit: int = 200) -> int:
    """Move every handed-over parcel of a sandbox carrier one step along its route (the demo
    sees parcels travel). Each step's external id is its position on the route, so a tick run
    twice is harmless. Returns how many parcels moved."""
    kuaidi100_carriers = CarrierCredential.objects.exclude(kuaidi100_company="").values(
        "carrier_id"
    )
    shipments = (
        Shipment.objects.filter(status__in=SANDBOX_MOVING)
        .exclude(carrier_id__in=kuaidi100_carriers)
        .select_related("carrier", "warehouse", "order")
        .order_by("id")[:limit]
    )
    moved = 0
    for shipment in shipments:
        address = dict(shipment.order.address or {})
        route = sandbox_route(
            carrier_name=shipment.carrier.name,
            origin_province=shipment.warehouse.province,
            origin_city=shipment.warehouse.city,
            destination_province=str(address.get("province", shipment.order.province)),
            destination_city=str(address.get("city", "")),
        )
        done = ShipmentEvent.objects.filter(shipment=shipment, source="sandbox").count()
        if done >= len(route):
            continue
        step = route[done]
        result = shipment_advance(
            shipment_id=shipment.pk,
            status=step.status,
            source="sandbox",
            occurred_at=clock.now(),
            external_id=f"sandbox:{done}",
            description=step.description,
            location=step.location,
        )
        moved += int(result.recorded)
    return moved


__all__ = [
    "AdvanceResult",
    "PushOutcome",
    "SandboxCarrier",
    "carrier_push_handle",
    "kuaidi100_push_handle",
    "sandbox_carrier_tick",
    "shipment_advance",
    "shipment_hand_over",
    "shipment_pick",
    "shipment_waybill_request",
    "tracking_callback_url",
    "webhook_signature",
]
