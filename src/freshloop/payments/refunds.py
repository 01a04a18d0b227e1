"""Refunds: start one for an approved order refund (or money that arrived too late), submit it
to the provider on the worker (a durable effect), and settle it from the provider's answer or
callback. Locks: refunds after their payment (`locks.py`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.effects import effect_consumer, effect_enqueue
from freshloop.core.outbox import DeliveryError
from freshloop.orders.errors import OrderNotFound, OrderStateInvalid, PaymentAmountMismatch
from freshloop.orders.errors import RefundInvalid as OrderRefundInvalid
from freshloop.orders.models import Order
from freshloop.orders.services import order_refund_succeeded
from freshloop.payments.errors import (
    NothingToRefund,
    RefundAmountInvalid,
)
from freshloop.payments.locks import payment_lock, refund_lock
from freshloop.payments.models import (
    PAID_STATUSES,
    NotificationKind,
    Payment,
    PaymentStatus,
    Refund,
    RefundOrigin,
    RefundStatus,
)
from freshloop.payments.notifications import (
    NotificationOutcome,
    callback_alert,
    callback_handle,
    gateway_for,
    notification_outcome,
)
from freshloop.payments.providers import (
    PaymentProvider,
    ProviderUnavailable,
    RefundNotification,
    RefundRequest,
    RefundResult,
    payment_provider,
)
from freshloop.payments.providers import RefundStatus as ProviderRefundStatus

REFUND_SUBMIT_EFFECT = "payments.refund_submit"
logger = logging.getLogger(__name__)


def refund_create_locked(
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
        payment = payment_lock(payment_no=target.payment_no)
        assert payment is not None
        try:
            with transaction.atomic():
                return refund_create_locked(
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


def _refund_and_payment_lock(refund_no: str) -> tuple[Payment, Refund] | None:
    """The refund and its payment, locked in the module's order (payment first)."""
    unlocked = Refund.objects.select_related("payment").filter(refund_no=refund_no).first()
    if unlocked is None:
        return None
    payment = payment_lock(payment_no=unlocked.payment.payment_no)
    assert payment is not None  # payments are never deleted (PROTECT)
    return payment, refund_lock(unlocked.pk)


@transaction.atomic
def refund_result_apply(*, refund_no: str, result: RefundResult) -> Refund:
    """Record what the provider said about a refund (its API answer, or a query's answer).

    Settles a pending refund, and a failed one the provider says succeeded after all (see
    `_refund_result_apply_locked`); anything else that contradicts our record is alerted."""
    located = _refund_and_payment_lock(refund_no)
    if located is None:
        raise Refund.DoesNotExist(refund_no)
    payment, refund = located
    _refund_result_apply_locked(
        payment=payment,
        refund=refund,
        result=result,
        digest=hashlib.sha256(refund.refund_no.encode()).hexdigest(),
    )
    return refund


def _refund_result_apply_locked(
    *, payment: Payment, refund: Refund, result: RefundResult, digest: str
) -> str:
    """Apply a provider's verified word on a refund (the caller holds the payment and refund
    locks, so this decision is the only one) and name what it led to.

    The provider holds the money, so its final word wins, but nothing is answered "OK" while
    silently changing nothing: each answer either moves the refund or raises an alert.

    | our refund | provider says | outcome |
    |---|---|---|
    | pending | processing | `refund_pending` (its refund id kept) |
    | pending | succeeded | `refunded`: booked on the payment and the order |
    | pending | closed/abnormal | `refund_failed`, alerted |
    | succeeded | succeeded | `duplicate` |
    | succeeded or failed | processing | `stale_ignored` (older news arriving late) |
    | succeeded | closed/abnormal | `refund_state_conflict`, alerted; the booking stands |
    | failed | closed/abnormal | `duplicate` |
    | failed | succeeded | `refunded_after_failure`: booked and alerted; or, when another
      refund of the payment may already have paid it back, `refund_success_unsettled`:
      nothing booked, alerted |
    """
    if refund.status == RefundStatus.PENDING:
        if result.status == ProviderRefundStatus.PENDING:
            if result.provider_refund_id:
                refund.provider_refund_id = result.provider_refund_id[:64]
            refund.updated_at = clock.now()
            refund.save(update_fields=["provider_refund_id", "updated_at"])
            return "refund_pending"
        if result.status == ProviderRefundStatus.FAILED:
            _refund_fail(payment=payment, refund=refund, result=result, digest=digest)
            return "refund_failed"
        _refund_book_success(payment=payment, refund=refund, result=result)
        return "refunded"
    facts = {
        "refund_no": refund.refund_no,
        "out_trade_no": payment.payment_no,
        "refund_status": refund.status,
        "provider_status": str(result.status),
        "amount_fen": refund.amount_fen,
    }
    if result.status == ProviderRefundStatus.PENDING:
        # "Processing" moves no money and never follows a final word at the provider: it is
        # an older answer arriving late (the API's answer to our submission racing its
        # notification). A re-driven failed refund announces itself with SUCCESS, below.
        return "stale_ignored"
    if refund.status == RefundStatus.SUCCEEDED:
        if result.status == ProviderRefundStatus.SUCCEEDED:
            return "duplicate"
        # SUCCESS is final at WeChat Pay and Alipay: a later CLOSED/ABNORMAL contradicts
        # money we booked as returned. Un-booking on its word could refund twice; a person
        # checks with the provider.
        callback_alert(
            code="refund_state_conflict", provider=payment.provider, digest=digest, detail=facts
        )
        return "refund_state_conflict"
    if result.status == ProviderRefundStatus.FAILED:
        return "duplicate"
    return _refund_settle_after_failure(
        payment=payment, refund=refund, result=result, digest=digest, facts=facts
    )


def _refund_fail(*, payment: Payment, refund: Refund, result: RefundResult, digest: str) -> None:
    if result.provider_refund_id:
        refund.provider_refund_id = result.provider_refund_id[:64]
    refund.status = RefundStatus.FAILED
    refund.last_error = result.message[:200]
    refund.updated_at = clock.now()
    refund.save(update_fields=["status", "last_error", "provider_refund_id", "updated_at"])
    audit_record(
        actor=Actor.system(f"payments.{payment.provider}"),
        action="payments.refund_failed",
        target=refund,
        after={"message": result.message[:200]},
    )
    callback_alert(
        code="refund_failed",
        provider=payment.provider,
        digest=digest,
        detail={"refund_no": refund.refund_no, "message": result.message[:200]},
    )


def _refund_settle_after_failure(
    *,
    payment: Payment,
    refund: Refund,
    result: RefundResult,
    digest: str,
    facts: dict[str, Any],
) -> str:
    """The provider paid back a refund we had marked failed (WeChat Pay: ABNORMAL, then
    SUCCESS once the merchant re-drove it). The money is gone, so book it as a normal success
    would be — unless a later refund of the same payment may be its replacement, or booking it
    would return more than the payment took: then the buyer may have been paid twice, and
    booking it too would hide that. Either way a person is told."""
    # Refunds of one payment are started one at a time (orders allows one open refund request
    # per order), so a refund started after this one failed that has not failed itself is
    # taken for its retry: settling both would book the same money twice.
    replacements = list(
        Refund.objects.filter(
            payment=payment,
            pk__gt=refund.pk,
            status__in=[RefundStatus.PENDING, RefundStatus.SUCCEEDED],
        )
        .order_by("pk")
        .values_list("refund_no", flat=True)
    )
    committed = (
        Refund.objects.filter(
            payment=payment, status__in=[RefundStatus.PENDING, RefundStatus.SUCCEEDED]
        )
        .exclude(pk=refund.pk)
        .aggregate(total=Sum("amount_fen"))["total"]
        or 0
    )
    if replacements or committed + refund.amount_fen > payment.amount_fen:
        callback_alert(
            code="refund_success_unsettled",
            provider=payment.provider,
            digest=digest,
            detail={
                **facts,
                "replacements": replacements,
                "payment_committed_fen": committed,
                "payment_amount_fen": payment.amount_fen,
            },
        )
        return "refund_success_unsettled"
    _refund_book_success(payment=payment, refund=refund, result=result)
    callback_alert(
        code="refund_settled_after_failure",
        provider=payment.provider,
        digest=digest,
        detail={**facts, "last_error": refund.last_error},
    )
    return "refunded_after_failure"


def _refund_book_success(*, payment: Payment, refund: Refund, result: RefundResult) -> None:
    """Mark the refund succeeded and book its amount on the payment and the order, once (the
    caller holds the locks and has seen the refund not yet succeeded)."""
    now = clock.now()
    before = refund.status
    refunded_at = result.refunded_at or now
    if result.provider_refund_id:
        refund.provider_refund_id = result.provider_refund_id[:64]
    refund.status = RefundStatus.SUCCEEDED
    refund.refunded_at = refunded_at
    refund.updated_at = now
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
        actor=Actor.system(f"payments.{payment.provider}"),
        action="payments.refund_succeeded",
        target=refund,
        before={"status": before},
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
            callback_alert(
                code="order_refund_rejected",
                provider=payment.provider,
                digest=hashlib.sha256(refund.refund_no.encode()).hexdigest(),
                detail={"refund_no": refund.refund_no, "order_error": exc.code},
            )


def refund_notification_handle(
    *, provider: str, headers: Mapping[str, str], body: bytes
) -> NotificationOutcome:
    """Verify a refund callback and settle the refund it names, once."""
    gateway = gateway_for(provider)
    return callback_handle(
        gateway=gateway,
        kind=NotificationKind.REFUND,
        body=body,
        parse=lambda: gateway.parse_refund_notification(headers, body),
        apply=lambda notification, digest: _refund_notification_apply(
            gateway, notification, digest
        ),
        references=lambda notification: (
            notification.out_trade_no,
            notification.provider_refund_id,
        ),
    )


def _refund_notification_apply(
    gateway: PaymentProvider, notification: RefundNotification, digest: str
) -> NotificationOutcome:
    """Check a verified refund callback against our refund and apply it, all under the payment
    and refund row locks: concurrent replays queue on the lock, and each later one sees the
    refund settled and is answered (and logged) "duplicate"."""
    provider = gateway.name
    facts = {
        "refund_no": notification.refund_no,
        "out_trade_no": notification.out_trade_no,
        "amount_fen": notification.amount_fen,
    }
    with transaction.atomic():
        located = _refund_and_payment_lock(notification.refund_no)
        if located is None or located[0].provider != provider:
            callback_alert(code="unknown_refund_no", provider=provider, digest=digest, detail=facts)
            return notification_outcome(
                gateway, accepted=False, code="unknown_refund_no", message="退款单不存在"
            )
        payment, refund = located
        if notification.out_trade_no and notification.out_trade_no != payment.payment_no:
            # Our refund number on another payment: our records and the provider's disagree
            # about whose money this is; book nothing until a person has looked.
            callback_alert(
                code="refund_payment_mismatch",
                provider=provider,
                digest=digest,
                detail={**facts, "expected_out_trade_no": payment.payment_no},
            )
            return notification_outcome(
                gateway, accepted=False, code="refund_payment_mismatch", message="支付单不一致"
            )
        if refund.status != RefundStatus.SUCCEEDED:
            # Amounts are checked while the refund is not booked yet; once booked, later
            # refunds change the payment's total, and a replay is recognised by its refund.
            mismatch = (
                notification.amount_fen is not None and notification.amount_fen != refund.amount_fen
            )
            if notification.total_refunded_fen is not None:
                expected_total = payment.refunded_fen + refund.amount_fen
                mismatch = mismatch or notification.total_refunded_fen != expected_total
            if mismatch:
                callback_alert(
                    code="refund_amount_mismatch",
                    provider=provider,
                    digest=digest,
                    detail={
                        **facts,
                        "expected_fen": refund.amount_fen,
                        "total_refunded_fen": notification.total_refunded_fen,
                    },
                )
                return notification_outcome(
                    gateway, accepted=False, code="refund_amount_mismatch", message="金额不一致"
                )
        code = _refund_result_apply_locked(
            payment=payment,
            refund=refund,
            result=RefundResult(
                status=notification.status,
                provider_refund_id=notification.provider_refund_id,
                refunded_at=notification.refunded_at,
                message="provider reported the refund closed or abnormal"
                if notification.status == ProviderRefundStatus.FAILED
                else "",
            ),
            digest=digest,
        )
    # Accepted in every case: the outcome is recorded (and alerted where a person must act);
    # the provider's retries could not change it.
    return notification_outcome(gateway, accepted=True, code=code, message="OK")
