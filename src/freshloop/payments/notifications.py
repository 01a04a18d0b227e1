"""Provider callbacks, the shared part: verify → log a forged one → apply → log, the outcome
a provider is answered with, and the alert for a verified callback that does not match."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.http import HttpResponse

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.http import STATUS_ERRORS, error_response
from freshloop.messaging.services import alert_raise
from freshloop.payments.errors import (
    PaymentProviderUnavailable,
)
from freshloop.payments.models import (
    NotificationKind,
    PaymentNotificationLog,
)
from freshloop.payments.providers import (
    ForgedNotification,
    NotificationAck,
    PaymentNotification,
    PaymentProvider,
    RefundNotification,
    payment_provider,
)
from freshloop.payments.providers.contracts import ContractNotification

logger = logging.getLogger(__name__)


def gateway_for(provider: str) -> PaymentProvider:
    gateway = payment_provider(provider)
    if gateway is None:
        raise PaymentProviderUnavailable(detail={"provider": provider})
    return gateway


@dataclass(frozen=True)
class NotificationOutcome:
    """What a callback led to. `accepted` tells the provider to stop retrying."""

    accepted: bool
    code: str
    message: str
    ack: NotificationAck
    payment_no: str = ""


def notification_outcome(
    gateway: PaymentProvider,
    *,
    accepted: bool,
    code: str,
    message: str,
    payment_no: str = "",
    retry: bool = False,
) -> NotificationOutcome:
    return NotificationOutcome(
        accepted=accepted,
        code=code,
        message=message,
        ack=gateway.acknowledge(accepted=accepted, message=message, retry=retry),
        payment_no=payment_no,
    )


def callback_alert(*, code: str, provider: str, digest: str, detail: dict[str, Any]) -> None:
    """Somebody may be trying to book money that did not arrive: tell people at once."""
    logger.error("payment alert %s from %s: %s", code, provider, detail)
    audit_record(
        actor=Actor.system(f"payments.{provider}"),
        action=f"payments.alert.{code}",
        target_type="payments.Payment",
        target_id=str(detail.get("out_trade_no") or detail.get("refund_no") or ""),
        after={"provider": provider, "body_sha256": digest, **detail},
    )
    alert_raise(
        kind=f"payments.{code}",
        details={"provider": provider, "body_sha256": digest, **detail},
        dedupe_key=f"payments.alert:{code}:{digest}",
    )


def callback_log(
    *,
    provider: str,
    kind: str,
    verified: bool,
    outcome: NotificationOutcome,
    digest: str,
    out_trade_no: str = "",
    transaction_id: str = "",
    detail: str = "",
) -> None:
    PaymentNotificationLog.objects.create(
        provider=provider,
        kind=kind,
        verified=verified,
        outcome=outcome.code,
        detail=(detail or outcome.message)[:200],
        out_trade_no=out_trade_no[:64],
        transaction_id=transaction_id[:64],
        body_sha256=digest,
        received_at=clock.now(),
    )


NotificationT = TypeVar(
    "NotificationT", PaymentNotification, RefundNotification, ContractNotification
)


def callback_handle(
    *,
    gateway: PaymentProvider,
    kind: NotificationKind,
    body: bytes,
    parse: Callable[[], NotificationT],
    apply: Callable[[NotificationT, str], NotificationOutcome],
    references: Callable[[NotificationT], tuple[str, str]],
) -> NotificationOutcome:
    """The one way a provider callback is handled: verify it (a forged one changes nothing and
    is logged), apply it (idempotently: a replay answers "duplicate"), log the outcome.

    `references` names what the log keeps of a verified callback: (our order/payment number,
    the provider's transaction or refund id).
    """
    digest = hashlib.sha256(body).hexdigest()
    try:
        notification = parse()
    except ForgedNotification as exc:
        logger.warning("rejected %s %s callback: %s", gateway.name, kind, exc)
        outcome = notification_outcome(gateway, accepted=False, code="forged", message="验签失败")
        callback_log(
            provider=gateway.name,
            kind=kind,
            verified=False,
            outcome=outcome,
            digest=digest,
            detail=str(exc),
        )
        return outcome
    outcome = apply(notification, digest)
    out_trade_no, transaction_id = references(notification)
    callback_log(
        provider=gateway.name,
        kind=kind,
        verified=True,
        outcome=outcome,
        digest=digest,
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
    )
    return outcome


def ack_response(outcome: NotificationOutcome) -> HttpResponse:
    """The HTTP answer to a callback, in the provider's own format."""
    return HttpResponse(
        outcome.ack.body, status=outcome.ack.status, content_type=outcome.ack.content_type
    )


def unknown_provider_response(provider: str) -> HttpResponse:
    """A callback to a provider that is not configured here (or offers no contracts)."""
    code, message = STATUS_ERRORS[404]
    return error_response(404, code, message, {"provider": provider[:32]})
