"""Payments: open a payment for an order, act on provider callbacks, move refunds.

Invariants
- Money is booked only from a verified callback (signature, freshness, decryption) whose
  out_trade_no and amount match a payment we created. A verified callback that does not match
  changes nothing and is alerted (audit row + error log + outbox message on channel "alert",
  which messaging delivers). A callback that fails verification changes nothing and
  is logged, not alerted: anyone can post to the notify URL, and alerting on that would let
  them flood the people on call.
- A provider transaction id is booked once: (provider, transaction_id) is unique, and a
  replayed callback is acknowledged without any further effect.
- Money that arrives for an order that can no longer take it (cancelled after its deadline,
  or already paid by another payment) is recorded and sent back automatically.
- Locks: a payment row before its order (orders' services lock the order), refunds after
  their payment.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.effects import effect_consumer, effect_enqueue
from freshloop.core.ids import new_id
from freshloop.core.outbox import DeliveryError
from freshloop.identity.models import Identifier, IdentifierType, Person
from freshloop.messaging.services import alert_raise
from freshloop.orders.errors import OrderNotFound, OrderStateInvalid, PaymentAmountMismatch
from freshloop.orders.errors import RefundInvalid as OrderRefundInvalid
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import order_payment_succeeded, order_refund_succeeded
from freshloop.payments.errors import (
    ClientKindUnsupported,
    NothingToRefund,
    OrderNotPayable,
    PaymentGatewayError,
    PaymentProviderUnavailable,
    RefundAmountInvalid,
    WechatOpenidMissing,
)
from freshloop.payments.models import (
    PAID_STATUSES,
    NotificationKind,
    Payment,
    PaymentNotificationLog,
    PaymentStatus,
    Refund,
    RefundOrigin,
    RefundStatus,
)
from freshloop.payments.providers import (
    ClientKind,
    ForgedNotification,
    NotificationAck,
    NotificationStatus,
    Payer,
    PaymentNotification,
    PaymentProvider,
    PaymentRequest,
    ProviderUnavailable,
    RefundNotification,
    RefundRequest,
    RefundResult,
    payment_provider,
)
from freshloop.payments.providers import RefundStatus as ProviderRefundStatus

REFUND_SUBMIT_EFFECT = "payments.refund_submit"
logger = logging.getLogger(__name__)


def _gateway(provider: str) -> PaymentProvider:
    gateway = payment_provider(provider)
    if gateway is None:
        raise PaymentProviderUnavailable(detail={"provider": provider})
    return gateway


def _payment_locked(*, payment_no: str) -> Payment | None:
    """The one place payment rows are locked (a single row at a time, so pk order holds)."""
    return (
        Payment.objects.select_for_update()
        .select_related("order")
        .filter(payment_no=payment_no)
        .first()
    )


# --- creating a payment ---------------------------------------------------------------------


def _payer_for(person: Person, gateway: PaymentProvider, client_kind: str, client_ip: str) -> Payer:
    openid = ""
    appid = str(getattr(gateway, "appid", "") or "")
    if client_kind == ClientKind.JSAPI and gateway.name == "wechatpay":
        identifier = (
            Identifier.objects.filter(person=person, type=IdentifierType.WECHAT_OPENID, scope=appid)
            .order_by("-last_seen_at", "-pk")
            .first()
        )
        if identifier is None:
            raise WechatOpenidMissing(detail={"appid": appid})
        openid = identifier.value
    return Payer(openid=openid, client_ip=client_ip)


def _ensure_payable(order: Order) -> None:
    now = clock.now()
    if order.status != OrderStatus.PENDING_PAYMENT or (
        order.expires_at is not None and order.expires_at <= now
    ):
        raise OrderNotPayable(detail={"order_no": order.order_no, "status": order.status})


def payment_create(
    *, order_no: str, person_id: int, provider: str, client_kind: str, client_ip: str = ""
) -> Payment:
    """Open (or reuse) the payment that collects an unpaid order's total through `provider`.

    Only the order's owner may pay it, and only while it is pending payment and before its
    deadline. An open payment for the same order, provider and client kind is reused, so a
    double-tapped "pay" button opens one gateway order, not two.
    """
    gateway = _gateway(provider)
    if client_kind not in gateway.client_kinds:
        raise ClientKindUnsupported(
            detail={"provider": provider, "supported": sorted(gateway.client_kinds)}
        )
    order = (
        Order.objects.select_related("person")
        .filter(order_no=order_no, person_id=person_id)
        .first()
    )
    if order is None:
        raise OrderNotFound(detail={"order_no": order_no})
    _ensure_payable(order)
    open_payment = Payment.objects.filter(
        order=order, provider=provider, status=PaymentStatus.CREATED
    ).first()
    if (
        open_payment is not None
        and open_payment.amount_fen == order.total_fen
        and open_payment.client_kind == client_kind
    ):
        return open_payment
    payer = _payer_for(order.person, gateway, client_kind, client_ip)
    payment_no = new_id("PAY")
    # The gateway is called before anything is written: if it refuses, nothing is half-done.
    try:
        prompt = gateway.create_payment(
            PaymentRequest(
                payment_no=payment_no,
                amount_fen=order.total_fen,
                description=f"鲜环订单 {order.order_no}",
                expires_at=order.expires_at,
                client_kind=client_kind,
                return_path=f"/m/orders/{order.order_no}",
            ),
            payer,
        )
    except ProviderUnavailable as exc:
        logger.warning("payment gateway %s refused order %s: %s", provider, order_no, exc)
        raise PaymentGatewayError(detail={"provider": provider}) from exc
    now = clock.now()
    try:
        with transaction.atomic():
            if open_payment is not None:
                # A different client kind or amount needs a new gateway order; the old one is
                # closed here (money still arriving on it is booked, see notifications).
                Payment.objects.filter(pk=open_payment.pk, status=PaymentStatus.CREATED).update(
                    status=PaymentStatus.CLOSED, updated_at=now
                )
            payment = Payment.objects.create(
                payment_no=payment_no,
                order=order,
                provider=provider,
                client_kind=client_kind,
                amount_fen=order.total_fen,
                prompt=prompt.as_json(),
                created_at=now,
                updated_at=now,
            )
            audit_record(
                actor=Actor.consumer(order.person.one_id),
                action="payments.create",
                target=payment,
                after={
                    "order_no": order.order_no,
                    "provider": provider,
                    "client_kind": client_kind,
                    "amount_fen": payment.amount_fen,
                },
            )
    except IntegrityError:
        # A concurrent request opened the payment a moment ago; that one is the payment.
        existing = Payment.objects.filter(
            order=order, provider=provider, status=PaymentStatus.CREATED
        ).first()
        if existing is None:
            raise
        return existing
    return payment


# --- callbacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationOutcome:
    """What a callback led to. `accepted` tells the provider to stop retrying."""

    accepted: bool
    code: str
    message: str
    ack: NotificationAck
    payment_no: str = ""


def _outcome(
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


def _alert(*, code: str, provider: str, digest: str, detail: dict[str, Any]) -> None:
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


def _log(
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


def payment_notification_handle(
    *, provider: str, headers: Mapping[str, str], body: bytes
) -> NotificationOutcome:
    """Verify a payment callback and book it exactly once (see the module's invariants)."""
    gateway = _gateway(provider)
    if gateway.is_refund_notification(headers, body):
        return refund_notification_handle(provider=provider, headers=headers, body=body)
    digest = hashlib.sha256(body).hexdigest()
    try:
        notification = gateway.parse_notification(headers, body)
    except ForgedNotification as exc:
        logger.warning("rejected %s payment callback: %s", provider, exc)
        outcome = _outcome(gateway, accepted=False, code="forged", message="验签失败")
        _log(
            provider=provider,
            kind=NotificationKind.PAYMENT,
            verified=False,
            outcome=outcome,
            digest=digest,
            detail=str(exc),
        )
        return outcome
    outcome = _payment_notification_apply(gateway, notification, digest)
    _log(
        provider=provider,
        kind=NotificationKind.PAYMENT,
        verified=True,
        outcome=outcome,
        digest=digest,
        out_trade_no=notification.out_trade_no,
        transaction_id=notification.transaction_id,
    )
    return outcome


@transaction.atomic
def _payment_notification_apply(
    gateway: PaymentProvider, notification: PaymentNotification, digest: str
) -> NotificationOutcome:
    provider = gateway.name
    facts = {
        "out_trade_no": notification.out_trade_no,
        "transaction_id": notification.transaction_id,
        "amount_fen": notification.amount_fen,
    }
    payment = _payment_locked(payment_no=notification.out_trade_no)
    if payment is None or payment.provider != provider:
        _alert(code="unknown_out_trade_no", provider=provider, digest=digest, detail=facts)
        return _outcome(
            gateway, accepted=False, code="unknown_out_trade_no", message="支付单不存在"
        )
    if notification.status != NotificationStatus.SUCCEEDED:
        if notification.status == NotificationStatus.PENDING:
            return _outcome(
                gateway,
                accepted=True,
                code="pending_ignored",
                message="OK",
                payment_no=payment.payment_no,
            )
        if payment.status == PaymentStatus.CREATED:
            payment.status = (
                PaymentStatus.CLOSED
                if notification.status == NotificationStatus.CLOSED
                else PaymentStatus.FAILED
            )
            payment.updated_at = clock.now()
            payment.save(update_fields=["status", "updated_at"])
        return _outcome(
            gateway,
            accepted=True,
            code="failure_recorded",
            message="OK",
            payment_no=payment.payment_no,
        )
    if not notification.transaction_id:
        _alert(code="missing_transaction_id", provider=provider, digest=digest, detail=facts)
        return _outcome(
            gateway, accepted=False, code="missing_transaction_id", message="缺少交易号"
        )
    if payment.status in PAID_STATUSES:
        if payment.transaction_id == notification.transaction_id:
            return _outcome(
                gateway,
                accepted=True,
                code="duplicate",
                message="OK",
                payment_no=payment.payment_no,
            )
        _alert(
            code="transaction_conflict",
            provider=provider,
            digest=digest,
            detail={**facts, "booked_transaction_id": payment.transaction_id},
        )
        return _outcome(gateway, accepted=False, code="transaction_conflict", message="交易号冲突")
    if notification.amount_fen != payment.amount_fen:
        _alert(
            code="amount_mismatch",
            provider=provider,
            digest=digest,
            detail={**facts, "expected_fen": payment.amount_fen},
        )
        return _outcome(gateway, accepted=False, code="amount_mismatch", message="金额不一致")
    if Payment.objects.filter(
        provider=provider, transaction_id=notification.transaction_id
    ).exists():
        _alert(code="transaction_conflict", provider=provider, digest=digest, detail=facts)
        return _outcome(gateway, accepted=False, code="transaction_conflict", message="交易号冲突")

    now = clock.now()
    paid_at = notification.paid_at or now
    before = {"status": payment.status}
    payment.status = PaymentStatus.SUCCEEDED
    payment.transaction_id = notification.transaction_id
    payment.paid_at = paid_at
    payment.updated_at = now
    payment.save(update_fields=["status", "transaction_id", "paid_at", "updated_at"])
    audit_record(
        actor=Actor.system(f"payments.{provider}"),
        action="payments.succeeded",
        target=payment,
        before=before,
        after={"status": payment.status, **facts},
    )
    try:
        with transaction.atomic():  # a savepoint: a refusing order rolls back alone
            order_payment_succeeded(
                order_no=payment.order.order_no,
                amount_fen=payment.amount_fen,
                provider=provider,
                transaction_id=payment.transaction_id,
                paid_at=paid_at,
            )
    except (OrderStateInvalid, PaymentAmountMismatch, OrderNotFound) as exc:
        # The money is real but the order cannot take it (cancelled after its deadline, or
        # already paid by another payment): book it and send it straight back.
        refund = _refund_create(
            payment=payment,
            amount_fen=payment.amount_fen,
            origin=RefundOrigin.LATE_PAYMENT,
            reason="订单已取消或已支付，款项原路退回",
            refund_no=new_id("RFP"),
            actor=Actor.system(f"payments.{provider}"),
        )
        logger.warning(
            "payment %s arrived for order %s that cannot take it (%s); refunding as %s",
            payment.payment_no,
            payment.order.order_no,
            exc.code,
            refund.refund_no,
        )
        return _outcome(
            gateway,
            accepted=True,
            code="late_payment_refunding",
            message="OK",
            payment_no=payment.payment_no,
        )
    return _outcome(
        gateway, accepted=True, code="paid", message="OK", payment_no=payment.payment_no
    )


# --- refunds --------------------------------------------------------------------------------


def _refund_create(
    *, payment: Payment, amount_fen: int, origin: str, reason: str, refund_no: str, actor: Actor
) -> Refund:
    """Write a pending refund (caller holds the payment lock) and submit it after commit."""
    committed = (
        Refund.objects.filter(
            payment=payment, status__in=[RefundStatus.PENDING, RefundStatus.SUCCEEDED]
        ).aggregate(total=Sum("amount_fen"))["total"]
        or 0
    )
    if amount_fen <= 0 or committed + amount_fen > payment.amount_fen:
        raise RefundAmountInvalid(
            detail={"refundable_fen": payment.amount_fen - committed, "requested_fen": amount_fen}
        )
    now = clock.now()
    refund = Refund.objects.create(
        refund_no=refund_no,
        payment=payment,
        origin=origin,
        amount_fen=amount_fen,
        reason=reason[:200],
        created_at=now,
        updated_at=now,
    )
    audit_record(
        actor=actor,
        action="payments.refund_start",
        target=refund,
        after={
            "payment_no": payment.payment_no,
            "amount_fen": amount_fen,
            "origin": origin,
            "reason": reason[:200],
        },
    )
    # The provider call runs on the worker after commit; written as an effect in this
    # transaction, it survives a crash or a queue outage (the relay retries it with back-off).
    effect_enqueue(
        name=REFUND_SUBMIT_EFFECT,
        payload={"refund_id": refund.pk},
        dedupe_key=f"payments.refund_submit:{refund.refund_no}",
    )
    return refund


@effect_consumer(REFUND_SUBMIT_EFFECT, background=True)
def _refund_submit_effect(payload: dict[str, Any]) -> None:
    refund = refund_submit(refund_id=int(payload["refund_id"]))
    if (
        refund.status == RefundStatus.PENDING
        and refund.last_error
        and not refund.provider_refund_id
    ):
        # The provider could not be reached: the relay retries with back-off.
        raise DeliveryError(refund.last_error)


def refund_start(*, order_no: str, refund_no: str, amount_fen: int, reason: str) -> Refund:
    """Start paying an approved order refund back through the provider that took the money.

    Idempotent on `refund_no`. The provider call happens after commit (a huey job): the
    sandbox refunds at once; WeChat Pay and Alipay may answer later by notification.
    """
    existing = Refund.objects.filter(refund_no=refund_no).first()
    if existing is not None:
        return existing
    order = Order.objects.filter(order_no=order_no).first()
    if order is None:
        raise OrderNotFound(detail={"order_no": order_no})
    with transaction.atomic():
        target = (
            Payment.objects.filter(
                order=order,
                provider=order.payment_provider,
                transaction_id=order.transaction_id,
                status__in=PAID_STATUSES,
            )
            .exclude(transaction_id="")
            .first()
        )
        if target is None:
            raise NothingToRefund(detail={"order_no": order_no})
        payment = _payment_locked(payment_no=target.payment_no)
        assert payment is not None
        try:
            with transaction.atomic():
                return _refund_create(
                    payment=payment,
                    amount_fen=amount_fen,
                    origin=RefundOrigin.ORDER_REFUND,
                    reason=reason,
                    refund_no=refund_no,
                    actor=Actor.system("payments.refund"),
                )
        except IntegrityError:
            return Refund.objects.get(refund_no=refund_no)


def refund_submit(*, refund_id: int) -> Refund:
    """Send a pending refund to its provider and apply the answer. Safe to repeat: providers
    deduplicate on our refund number (out_refund_no / out_request_no)."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    payment = refund.payment
    gateway = payment_provider(payment.provider)
    now = clock.now()
    if gateway is None:
        Refund.objects.filter(pk=refund.pk).update(
            last_error=f"provider {payment.provider} is not configured", updated_at=now
        )
        return Refund.objects.get(pk=refund.pk)
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
        attempts=refund.attempts + 1, submitted_at=now, updated_at=now
    )
    try:
        result = gateway.refund(
            RefundRequest(
                refund_no=refund.refund_no,
                payment_no=payment.payment_no,
                transaction_id=payment.transaction_id,
                refund_fen=refund.amount_fen,
                total_fen=payment.amount_fen,
                reason=refund.reason,
            )
        )
    except ProviderUnavailable as exc:
        logger.warning("refund %s not submitted: %s", refund.refund_no, exc)
        Refund.objects.filter(pk=refund.pk).update(
            last_error=str(exc)[:200], updated_at=clock.now()
        )
        return Refund.objects.get(pk=refund.pk)
    return refund_result_apply(refund_no=refund.refund_no, result=result)


@transaction.atomic
def refund_result_apply(*, refund_no: str, result: RefundResult) -> Refund:
    """Record what the provider said about a refund (its API answer or its notification)."""
    unlocked = Refund.objects.select_related("payment").get(refund_no=refund_no)
    payment = _payment_locked(payment_no=unlocked.payment.payment_no)
    assert payment is not None
    refund = Refund.objects.select_for_update().get(pk=unlocked.pk)
    if refund.status != RefundStatus.PENDING:
        return refund  # settled before: a repeated answer changes nothing
    now = clock.now()
    if result.provider_refund_id:
        refund.provider_refund_id = result.provider_refund_id[:64]
    refund.updated_at = now
    if result.status == ProviderRefundStatus.PENDING:
        refund.save(update_fields=["provider_refund_id", "updated_at"])
        return refund
    actor = Actor.system(f"payments.{payment.provider}")
    if result.status == ProviderRefundStatus.FAILED:
        refund.status = RefundStatus.FAILED
        refund.last_error = result.message[:200]
        refund.save(update_fields=["status", "last_error", "provider_refund_id", "updated_at"])
        audit_record(
            actor=actor,
            action="payments.refund_failed",
            target=refund,
            after={"message": result.message[:200]},
        )
        _alert(
            code="refund_failed",
            provider=payment.provider,
            digest=hashlib.sha256(refund.refund_no.encode()).hexdigest(),
            detail={"refund_no": refund.refund_no, "message": result.message[:200]},
        )
        return refund
    refunded_at = result.refunded_at or now
    refund.status = RefundStatus.SUCCEEDED
    refund.refunded_at = refunded_at
    refund.save(update_fields=["status", "refunded_at", "provider_refund_id", "updated_at"])
    payment.refunded_fen += refund.amount_fen
    payment.status = (
        PaymentStatus.REFUNDED
        if payment.refunded_fen >= payment.amount_fen
        else PaymentStatus.PARTIALLY_REFUNDED
    )
    payment.updated_at = now
    payment.save(update_fields=["refunded_fen", "status", "updated_at"])
    audit_record(
        actor=actor,
        action="payments.refund_succeeded",
        target=refund,
        after={
            "payment_no": payment.payment_no,
            "amount_fen": refund.amount_fen,
            "payment_refunded_fen": payment.refunded_fen,
        },
    )
    if refund.origin == RefundOrigin.ORDER_REFUND:
        try:
            with transaction.atomic():
                order_refund_succeeded(
                    order_no=payment.order.order_no,
                    refund_no=refund.refund_no,
                    amount_fen=refund.amount_fen,
                    refunded_at=refunded_at,
                )
        except (OrderStateInvalid, PaymentAmountMismatch, OrderNotFound, OrderRefundInvalid) as exc:
            # The money went back; the order disagrees. Keep our record and get a human.
            _alert(
                code="order_refund_rejected",
                provider=payment.provider,
                digest=hashlib.sha256(refund.refund_no.encode()).hexdigest(),
                detail={"refund_no": refund.refund_no, "order_error": exc.code},
            )
    return refund


def refund_notification_handle(
    *, provider: str, headers: Mapping[str, str], body: bytes
) -> NotificationOutcome:
    """Verify a refund callback and settle the refund it names, once."""
    gateway = _gateway(provider)
    digest = hashlib.sha256(body).hexdigest()
    try:
        notification = gateway.parse_refund_notification(headers, body)
    except ForgedNotification as exc:
        logger.warning("rejected %s refund callback: %s", provider, exc)
        outcome = _outcome(gateway, accepted=False, code="forged", message="验签失败")
        _log(
            provider=provider,
            kind=NotificationKind.REFUND,
            verified=False,
            outcome=outcome,
            digest=digest,
            detail=str(exc),
        )
        return outcome
    outcome = _refund_notification_apply(gateway, notification, digest)
    _log(
        provider=provider,
        kind=NotificationKind.REFUND,
        verified=True,
        outcome=outcome,
        digest=digest,
        out_trade_no=notification.out_trade_no,
        transaction_id=notification.provider_refund_id,
    )
    return outcome


def _refund_notification_apply(
    gateway: PaymentProvider, notification: RefundNotification, digest: str
) -> NotificationOutcome:
    provider = gateway.name
    facts = {
        "refund_no": notification.refund_no,
        "out_trade_no": notification.out_trade_no,
        "amount_fen": notification.amount_fen,
    }
    with transaction.atomic():
        refund = (
            Refund.objects.select_related("payment")
            .filter(refund_no=notification.refund_no)
            .first()
        )
        if refund is None or refund.payment.provider != provider:
            _alert(code="unknown_refund_no", provider=provider, digest=digest, detail=facts)
            return _outcome(
                gateway, accepted=False, code="unknown_refund_no", message="退款单不存在"
            )
        if refund.status == RefundStatus.SUCCEEDED:
            return _outcome(gateway, accepted=True, code="duplicate", message="OK")
        mismatch = (
            notification.amount_fen is not None and notification.amount_fen != refund.amount_fen
        )
        if notification.total_refunded_fen is not None:
            expected_total = refund.payment.refunded_fen + refund.amount_fen
            mismatch = mismatch or notification.total_refunded_fen != expected_total
        if mismatch:
            _alert(
                code="refund_amount_mismatch",
                provider=provider,
                digest=digest,
                detail={
                    **facts,
                    "expected_fen": refund.amount_fen,
                    "total_refunded_fen": notification.total_refunded_fen,
                },
            )
            return _outcome(
                gateway, accepted=False, code="refund_amount_mismatch", message="金额不一致"
            )
    refund_result_apply(
        refund_no=refund.refund_no,
        result=RefundResult(
            status=notification.status,
            provider_refund_id=notification.provider_refund_id,
            refunded_at=notification.refunded_at,
            message="provider reported the refund closed or abnormal"
            if notification.status == ProviderRefundStatus.FAILED
            else "",
        ),
    )
    code = "refunded" if notification.status == ProviderRefundStatus.SUCCEEDED else "refund_updated"
    return _outcome(gateway, accepted=True, code=code, message="OK")
