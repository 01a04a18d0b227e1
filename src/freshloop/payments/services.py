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

import logging
from collections.abc import Mapping

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.ids import new_id
from freshloop.identity.models import Identifier, IdentifierType, Person
from freshloop.orders.errors import OrderNotFound, OrderStateInvalid, PaymentAmountMismatch
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import order_payment_succeeded
from freshloop.payments.errors import (
    ClientKindUnsupported,
    OrderNotPayable,
    PaymentGatewayError,
    WechatOpenidMissing,
)
from freshloop.payments.locks import payment_lock
from freshloop.payments.models import (
    PAID_STATUSES,
    NotificationKind,
    Payment,
    PaymentStatus,
    RefundOrigin,
)
from freshloop.payments.notifications import (
    NotificationOutcome,
    callback_alert,
    callback_handle,
    gateway_for,
    notification_outcome,
)
from freshloop.payments.providers import (
    ClientKind,
    NotificationStatus,
    Payer,
    PaymentNotification,
    PaymentProvider,
    PaymentRequest,
    ProviderUnavailable,
)
from freshloop.payments.refunds import (
    refund_create_locked,
    refund_notification_handle,
    refund_result_apply,
    refund_start,
    refund_submit,
)

# The module's public face (other modules and the API import these from here).
__all__ = [
    "NotificationOutcome",
    "payment_create",
    "payment_notification_handle",
    "refund_notification_handle",
    "refund_result_apply",
    "refund_start",
    "refund_submit",
]


logger = logging.getLogger(__name__)


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
    gateway = gateway_for(provider)
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


def payment_notification_handle(
    *, provider: str, headers: Mapping[str, str], body: bytes
) -> NotificationOutcome:
    """Verify a payment callback and book it exactly once (see the module's invariants)."""
    gateway = gateway_for(provider)
    if gateway.is_refund_notification(headers, body):
        return refund_notification_handle(provider=provider, headers=headers, body=body)
    return callback_handle(
        gateway=gateway,
        kind=NotificationKind.PAYMENT,
        body=body,
        parse=lambda: gateway.parse_notification(headers, body),
        apply=lambda notification, digest: _payment_notification_apply(
            gateway, notification, digest
        ),
        references=lambda notification: (notification.out_trade_no, notification.transaction_id),
    )


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
    payment = payment_lock(payment_no=notification.out_trade_no)
    if payment is None or payment.provider != provider:
        callback_alert(code="unknown_out_trade_no", provider=provider, digest=digest, detail=facts)
        return notification_outcome(
            gateway, accepted=False, code="unknown_out_trade_no", message="支付单不存在"
        )
    if notification.status != NotificationStatus.SUCCEEDED:
        if notification.status == NotificationStatus.PENDING:
            return notification_outcome(
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
        return notification_outcome(
            gateway,
            accepted=True,
            code="failure_recorded",
            message="OK",
            payment_no=payment.payment_no,
        )
    if not notification.transaction_id:
        callback_alert(
            code="missing_transaction_id", provider=provider, digest=digest, detail=facts
        )
        return notification_outcome(
            gateway, accepted=False, code="missing_transaction_id", message="缺少交易号"
        )
    if payment.status in PAID_STATUSES:
        if payment.transaction_id == notification.transaction_id:
            return notification_outcome(
                gateway,
                accepted=True,
                code="duplicate",
                message="OK",
                payment_no=payment.payment_no,
            )
        callback_alert(
            code="transaction_conflict",
            provider=provider,
            digest=digest,
            detail={**facts, "booked_transaction_id": payment.transaction_id},
        )
        return notification_outcome(
            gateway, accepted=False, code="transaction_conflict", message="交易号冲突"
        )
    if notification.amount_fen != payment.amount_fen:
        callback_alert(
            code="amount_mismatch",
            provider=provider,
            digest=digest,
            detail={**facts, "expected_fen": payment.amount_fen},
        )
        return notification_outcome(
            gateway, accepted=False, code="amount_mismatch", message="金额不一致"
        )
    if Payment.objects.filter(
        provider=provider, transaction_id=notification.transaction_id
    ).exists():
        callback_alert(code="transaction_conflict", provider=provider, digest=digest, detail=facts)
        return notification_outcome(
            gateway, accepted=False, code="transaction_conflict", message="交易号冲突"
        )

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
        refund = refund_create_locked(
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
        return notification_outcome(
            gateway,
            accepted=True,
            code="late_payment_refunding",
            message="OK",
            payment_no=payment.payment_no,
        )
    return notification_outcome(
        gateway, accepted=True, code="paid", message="OK", payment_no=payment.payment_no
    )
