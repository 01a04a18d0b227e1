"""ERP / WMS / TMS integration, outbound (FF-4): signed webhooks for business facts.

A fact (`order.paid`, `shipment.created`, `shipment.status_changed`, `refund.succeeded`) is
turned into one outbox row per subscribed endpoint inside the transaction that records the fact
(an in-transaction handler: a read of the endpoints and a few inserts, nothing when no endpoint
subscribes), so it commits or rolls back with the fact and the shopper's request never waits on
a partner. The relay (core.outbox) posts each row with retries and exponential back-off; a 4xx answer other
than 408/425/429 is final (an alert is raised), everything else is retried.

Every delivery carries:
- `X-FreshLoop-Event`: the event type;
- `X-FreshLoop-Timestamp`: Unix seconds at sending;
- `X-FreshLoop-Signature`: `sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`;
- `Idempotency-Key`: the delivery's id, the same on every retry, so a receiver can drop
  repeats.
`webhook_signature_verify` is what a receiver runs (docs/fulfillment.md shows it).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import subscribe
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import (
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    outbox_enqueue,
    register_sender,
)
from freshloop.fulfillment.errors import WebhookEndpointInvalid, WebhookEndpointNotFound
from freshloop.fulfillment.events import ShipmentStatusChanged
from freshloop.fulfillment.models import ShipmentStatus, WebhookEndpoint
from freshloop.orders.events import OrderPaid, OrderRefunded

WEBHOOK_CHANNEL = "webhook"
EVENT_HEADER = "X-FreshLoop-Event"
TIMESTAMP_HEADER = "X-FreshLoop-Timestamp"
SIGNATURE_HEADER = "X-FreshLoop-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 10.0

EVENT_TYPES: dict[str, str] = {
    "order.paid": "订单已支付",
    "shipment.created": "包裹已创建",
    "shipment.status_changed": "包裹状态变化",
    "refund.succeeded": "退款成功",
}


# --- signatures ---------------------------------------------------------------------------


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_signature_verify(
    *,
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    now: int | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks: the signature matches the body and the timestamp is recent
    (a replayed old delivery fails)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = int(clock.now().timestamp()) if now is None else now
    if abs(current - sent_at) > tolerance:
        return False
    expected = webhook_sign(secret=secret, timestamp=sent_at, body=body)
    return hmac.compare_digest(expected, signature)


# --- endpoints ----------------------------------------------------------------------------


def _internal_host(host: str) -> bool:
    """A literal loopback / private / link-local address or localhost: a webhook must not be
    a way to make this server call itself or its neighbours. (Names are not resolved here;
    the egress proxy or firewall is the guard against a public name pointing inwards.)"""
    if host.lower() in {"localhost", "localhost.localdomain"} or host.lower().endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def _clean(spec: Mapping[str, Any]) -> dict[str, Any]:
    problems: list[tuple[str, str]] = []
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "请填写名称"))
    elif len(name.strip()) > 64:
        problems.append(("name", "名称不能超过 64 个字"))
    url = spec.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in {"https", "http"} or not parts.hostname:
        problems.append(("url", "请填写以 https:// 开头的完整地址"))
    elif _internal_host(parts.hostname):
        problems.append(("url", "不能推送到内网或本机地址"))
    elif isinstance(url, str) and len(url) > 300:
        problems.append(("url", "地址不能超过 300 个字符"))
    types = spec.get("event_types")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        problems.append(("event_types", "请至少选择一个订阅事件"))
        types = []
    else:
        unknown = sorted(set(types) - set(EVENT_TYPES))
        if unknown:
            problems.append(("event_types", f"未知的事件：{'、'.join(unknown)}"))
    active = spec.get("is_active", True)
    if not isinstance(active, bool):
        problems.append(("is_active", "应为是或否"))
    if problems:
        raise WebhookEndpointInvalid.for_fields(problems)
    return {
        "name": str(name).strip(),
        "url": str(url),
        "event_types": sorted(set(types)),
        "is_active": bool(active),
    }


@transaction.atomic
def webhook_endpoint_create(*, spec: Mapping[str, Any], actor: Actor) -> WebhookEndpoint:
    """A new endpoint with a fresh signing secret (shown to the operator to give the partner)."""
    fields = _clean(spec)
    endpoint = WebhookEndpoint.objects.create(
        **fields, secret=f"whsec_{secrets.token_urlsafe(32)}", created_at=clock.now()
    )
    audit_record(actor=actor, action="fulfillment.webhook_create", target=endpoint, after=fields)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint_id: int, spec: Mapping[str, Any], actor: Actor
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(detail={"endpoint_id": endpoint_id})
    fields = _clean(spec)
    before = {key: getattr(endpoint, key) for key in fields}
    for key, value in fields.items():
        setattr(endpoint, key, value)
    endpoint.save()
    audit_record(
        actor=actor,
        action="fulfillment.webhook_update",
        target=endpoint,
        before=before,
        after=fields,
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint_id: int, actor: Actor) -> None:
    """Remove an endpoint; deliveries still queued for it give up (nobody to send them to)."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(detail={"endpoint_id": endpoint_id})
    audit_record(
        actor=actor,
        action="fulfillment.webhook_delete",
        target=endpoint,
        before={"name": endpoint.name, "url": endpoint.url},
    )
    endpoint.delete()


# --- fan-out: one outbox row per subscribed endpoint ---------------------------------------


def webhook_fan_out(*, event_type: str, key: str, data: dict[str, Any]) -> list[OutboxMessage]:
    """Queue the fact for every active endpoint subscribed to it; repeats (same `key`) queue
    nothing new."""
    rows = []
    occurred_at = clock.now().isoformat()
    for endpoint in WebhookEndpoint.objects.filter(is_active=True).order_by("pk"):
        if event_type not in endpoint.event_types:
            continue
        delivery_id = str(uuid.uuid4())
        rows.append(
            outbox_enqueue(
                channel=WEBHOOK_CHANNEL,
                destination=endpoint.url[:255],
                payload={
                    "endpoint_id": endpoint.pk,
                    "delivery_id": delivery_id,
                    "event_type": event_type,
                    "body": {
                        "id": delivery_id,
                        "type": event_type,
                        "occurred_at": occurred_at,
                        "data": data,
                    },
                },
                dedupe_key=f"webhook:{endpoint.pk}:{key}",
            )
        )
    return rows


@subscribe(OrderPaid, in_transaction=True)
def on_order_paid(event: OrderPaid) -> None:
    webhook_fan_out(
        event_type="order.paid",
        key=f"order.paid:{event.order_no}",
        data={
            "order_no": event.order_no,
            "channel": event.channel,
            "paid_fen": event.paid_fen,
            "paid_at": event.occurred_at.isoformat(),
        },
    )


@subscribe(ShipmentStatusChanged, in_transaction=True)
def on_shipment_status(event: ShipmentStatusChanged) -> None:
    data = {
        "shipment_no": event.shipment_no,
        "order_no": event.order_no,
        "status": event.status,
        "previous_status": event.previous_status,
        "late": event.late,
        "occurred_at": event.occurred_at.isoformat(),
    }
    if event.status == ShipmentStatus.CREATED:
        webhook_fan_out(
            event_type="shipment.created", key=f"shipment.created:{event.shipment_no}", data=data
        )
    webhook_fan_out(
        event_type="shipment.status_changed",
        key=f"shipment.status:{event.shipment_no}:{event.status}",
        data=data,
    )


@subscribe(OrderRefunded, in_transaction=True)
def on_refunded(event: OrderRefunded) -> None:
    webhook_fan_out(
        event_type="refund.succeeded",
        key=f"refund.succeeded:{event.refund_no}",
        data={
            "order_no": event.order_no,
            "refund_no": event.refund_no,
            "amount_fen": event.amount_fen,
            "fully": event.fully,
        },
    )


# --- delivery -----------------------------------------------------------------------------


class WebhookTransport(Protocol):
    def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> int:
        """POST the body; return the HTTP status or raise httpx.HTTPError / OSError."""
        ...


class HttpxTransport:
    def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> int:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            return client.post(url, content=body, headers=headers).status_code


_transport: list[WebhookTransport] = [HttpxTransport()]


def webhook_transport_set(transport: WebhookTransport) -> WebhookTransport:
    """Swap the HTTP edge (the sandbox and tests); returns the one it replaced."""
    previous = _transport[0]
    _transport[0] = transport
    return previous


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(
        payload["body"], ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode()


class WebhookSender:
    """Outbox sender for channel `webhook`: signs and posts one delivery."""

    channel = WEBHOOK_CHANNEL

    def send(self, message: OutboxMessage) -> str:
        payload = message.payload if isinstance(message.payload, dict) else {}
        endpoint = WebhookEndpoint.objects.filter(pk=int(payload.get("endpoint_id") or 0)).first()
        if endpoint is None or not endpoint.is_active:
            raise PermanentDeliveryError("webhook endpoint removed or disabled")
        body = webhook_body(payload)
        timestamp = int(clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: str(payload["event_type"]),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: webhook_sign(secret=endpoint.secret, timestamp=timestamp, body=body),
            IDEMPOTENCY_HEADER: str(payload["delivery_id"]),
        }
        try:
            status = _transport[0].post(endpoint.url, body=body, headers=headers)
        except (httpx.HTTPError, OSError) as error:
            raise DeliveryError(
                f"webhook {endpoint.pk}: {type(error).__name__}: {error}"
            ) from error
        if 200 <= status < 300:
            return f"webhook-{payload['delivery_id']}"
        if status == 429:
            raise ThrottledDeliveryError(f"webhook {endpoint.pk}: HTTP 429", retry_after=60)
        if status in {408, 425} or status >= 500:
            raise DeliveryError(f"webhook {endpoint.pk}: HTTP {status}")
        raise PermanentDeliveryError(f"webhook {endpoint.pk}: HTTP {status}")


register_sender(WEBHOOK_CHANNEL, WebhookSender())
