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

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.db.models import Q

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.effects import effect_enqueue
from freshloop.core.ids import new_id
from freshloop.identity.models import Identifier, IdentifierType, Person
from freshloop.orders.errors import OrderNotFound, OrderStateInvalid, PaymentAmountMismatch
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import order_payment_succeeded
from freshloop.payments.config import payments_config
from freshloop.payments.errors import (
    ClientKindUnsupported,
    OrderNotPayable,
    PaymentGatewayError,
    PaymentNotFound,
    WechatOpenidMissing,
)
from freshloop.payments.locks import payment_lock
from freshloop.payments.models import (
    PAID_STATUSES,
    NotificationKind,
    Payment,
    PaymentStatus,
    RefundOrigin,
    WechatPlatformCertificate,
)
from freshloop.payments.notifications import (
    NotificationOutcome,
    callback_alert,
    callback_handle,
    callback_log,
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
    payment_provider,
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
    "ContractChargeOutcome",
    "NotificationOutcome",
    "contract_charge",
    "contract_pre_debit_notify",
    "contract_providers",
    "contract_sandbox_sign",
    "contract_sign_start",
    "contract_terminate",
    "next_charge_time",
    "payment_close_at_provider",
    "payment_create",
    "payment_notification_handle",
    "payment_sandbox_pay",
    "payment_sync",
    "payments_reconcile",
    "refund_notification_handle",
    "refund_result_apply",
    "refund_start",
    "refund_submit",
    "wechatpay_certificates_refresh",
]


logger = logging.getLogger(__name__)

# The effect that closes a payment at its provider once it can no longer be paid here.
CLOSE_AT_PROVIDER = "payments.close_at_provider"


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
    *,
    order_no: str,
    person_id: int,
    provider: str,
    client_kind: str,
    client_ip: str = "",
    return_path: str = "",
) -> Payment:
    """Open (or reuse) the payment that collects an unpaid order's total through `provider`.

    Only the order's owner may pay it, and only while it is pending payment and before its
    deadline. An open payment for the same order, provider and client kind is reused, so a
    double-tapped "pay" button opens one gateway order, not two. `return_path` is the page of
    ours a provider's H5/WAP page sends the buyer back to (the live room they paid from);
    the order page by default.
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
                return_path=return_path or f"/m/orders/{order.order_no}",
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
                replaced = Payment.objects.filter(
                    pk=open_payment.pk, status=PaymentStatus.CREATED
                ).update(status=PaymentStatus.CLOSED, updated_at=now)
                if replaced:
                    # ...and at the provider too, so the buyer cannot pay the old one later.
                    effect_enqueue(
                        name=CLOSE_AT_PROVIDER,
                        payload={"payment_no": open_payment.payment_no},
                        dedupe_key=f"{CLOSE_AT_PROVIDER}:{open_payment.payment_no}",
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


def _acknowledged(gateway: PaymentProvider, code: str, payment: Payment) -> NotificationOutcome:
    """The provider is told "received, stop retrying"; `code` says what it led to here."""
    return notification_outcome(
        gateway, accepted=True, code=code, message="OK", payment_no=payment.payment_no
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
            return _acknowledged(gateway, "pending_ignored", payment)
        if payment.status in PAID_STATUSES:
            # Alipay closes a trade refunded in full: expected. Any other "not paid" about a
            # payment we booked contradicts the money we hold: a person must look.
            if (
                payment.status == PaymentStatus.REFUNDED
                and notification.status == NotificationStatus.CLOSED
            ):
                return _acknowledged(gateway, "duplicate", payment)
            callback_alert(
                code="payment_state_conflict",
                provider=provider,
                digest=digest,
                detail={**facts, "booked": payment.status, "reported": notification.status},
            )
            return _acknowledged(gateway, "payment_state_conflict", payment)
        if payment.status == PaymentStatus.CREATED:
            payment.status = (
                PaymentStatus.CLOSED
                if notification.status == NotificationStatus.CLOSED
                else PaymentStatus.FAILED
            )
            payment.updated_at = clock.now()
            payment.save(update_fields=["status", "updated_at"])
        return _acknowledged(gateway, "failure_recorded", payment)
    if not notification.transaction_id:
        callback_alert(
            code="missing_transaction_id", provider=provider, digest=digest, detail=facts
        )
        return notification_outcome(
            gateway, accepted=False, code="missing_transaction_id", message="缺少交易号"
        )
    if payment.status in PAID_STATUSES:
        if payment.transaction_id == notification.transaction_id:
            return _acknowledged(gateway, "duplicate", payment)
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
        return _acknowledged(gateway, "late_payment_refunding", payment)
    return _acknowledged(gateway, "paid", payment)


# --- 查单 and 关单: reconciling open payments with the provider ------------------------------


def _query_and_book(gateway: PaymentProvider, payment: Payment) -> str:
    """Ask the provider about an open payment and book what it says, through the same checks
    as a callback (a query answer is verified like one); returns the outcome code."""
    now = clock.now()
    Payment.objects.filter(pk=payment.pk).update(last_queried_at=now)
    try:
        notification = gateway.query_payment(payment.payment_no)
    except ProviderUnavailable as exc:
        logger.warning(
            "query of payment %s at %s failed: %s", payment.payment_no, gateway.name, exc
        )
        raise PaymentGatewayError(detail={"provider": gateway.name}) from exc
    if notification is None:
        return "not_at_provider"
    digest = hashlib.sha256(
        f"query:{notification.out_trade_no}:{notification.status}:{notification.transaction_id}".encode()
    ).hexdigest()
    outcome = _payment_notification_apply(gateway, notification, digest)
    if notification.status != NotificationStatus.PENDING:
        callback_log(
            provider=gateway.name,
            kind=NotificationKind.QUERY,
            verified=True,
            outcome=outcome,
            digest=digest,
            out_trade_no=notification.out_trade_no,
            transaction_id=notification.transaction_id,
        )
    return outcome.code


SYNC_MIN_INTERVAL = dt.timedelta(seconds=1)


def payment_sync(*, payment_no: str, person_id: int | None = None) -> Payment:
    """查单 on demand: when the buyer comes back from the provider's page, while a QR code is
    on screen, after the WeChat bridge says "ok". The bridge's word never books money; only
    the provider's verified answer (or its signed callback) does.

    With `person_id`, only that person's payment is found (another's answers not-found)."""
    payment = Payment.objects.select_related("order").filter(payment_no=payment_no[:40]).first()
    if payment is None or (person_id is not None and payment.order.person_id != person_id):
        raise PaymentNotFound(detail={"payment_no": payment_no[:40]})
    recently = payment.last_queried_at is not None and (
        clock.now() - payment.last_queried_at < SYNC_MIN_INTERVAL
    )
    # Pages poll every 2 s; a client asking faster gets what we know, and the provider's
    # query quota (per merchant) is not spent on it.
    if payment.status == PaymentStatus.CREATED and not recently:
        _query_and_book(gateway_for(payment.provider), payment)
        payment.refresh_from_db()
    return payment


def payment_close_at_provider(*, payment_no: str) -> None:
    """关单: a payment that can no longer be paid here (its order cancelled or timed out, or a
    newer payment replaced it) is closed at the provider. Money that already arrived is found
    by querying first and booked (and, the order being gone, sent back); money that arrives
    between the query and the close makes the close fail, and the retry books it."""
    payment = Payment.objects.select_related("order").filter(payment_no=payment_no).first()
    if payment is None or payment.status in PAID_STATUSES:
        return
    gateway = payment_provider(payment.provider)
    if gateway is None:
        logger.error("payment %s: provider %s is gone, cannot close", payment_no, payment.provider)
        return
    _query_and_book(gateway, payment)
    payment.refresh_from_db()
    if payment.status in PAID_STATUSES:
        return
    try:
        gateway.close_payment(payment.payment_no)
    except ProviderUnavailable as exc:
        logger.warning("close of payment %s at %s failed: %s", payment_no, gateway.name, exc)
        raise PaymentGatewayError(detail={"provider": gateway.name}) from exc
    closed = Payment.objects.filter(
        pk=payment.pk, status__in=[PaymentStatus.CREATED, PaymentStatus.CLOSED]
    ).update(status=PaymentStatus.CLOSED, updated_at=clock.now())
    if closed:
        audit_record(
            actor=Actor.system(f"payments.{gateway.name}"),
            action="payments.closed_at_provider",
            target=payment,
            after={"order_no": payment.order.order_no, "provider": gateway.name},
        )


def payments_for_order_close(*, order_no: str) -> None:
    """Every open payment of an order that will not be paid is closed at its provider."""
    for payment_no in Payment.objects.filter(
        order__order_no=order_no, status=PaymentStatus.CREATED
    ).values_list("payment_no", flat=True):
        payment_close_at_provider(payment_no=payment_no)


# Open payments are asked about a minute after they open, then every few minutes while the
# buyer may still be paying, then rarely; after two days the provider has closed them itself.
RECONCILE_FIRST_AFTER = dt.timedelta(minutes=1)
RECONCILE_FRESH_FOR = dt.timedelta(minutes=30)
RECONCILE_FRESH_EVERY = dt.timedelta(minutes=2)
RECONCILE_STALE_EVERY = dt.timedelta(minutes=15)
RECONCILE_GIVE_UP_AFTER = dt.timedelta(days=2)


def payments_reconcile(*, now: dt.datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The scheduled 查单 sweep: open payments whose callback has not come are queried (a lost
    callback still books the money), and open payments of orders that were cancelled are
    closed at the provider (in case the cancellation's own close did not get through)."""
    now = now or clock.now()
    due = (
        Payment.objects.filter(
            status=PaymentStatus.CREATED,
            created_at__lte=now - RECONCILE_FIRST_AFTER,
            created_at__gte=now - RECONCILE_GIVE_UP_AFTER,
        )
        .filter(
            Q(last_queried_at__isnull=True)
            | Q(
                created_at__gte=now - RECONCILE_FRESH_FOR,
                last_queried_at__lte=now - RECONCILE_FRESH_EVERY,
            )
            | Q(last_queried_at__lte=now - RECONCILE_STALE_EVERY)
        )
        .select_related("order")
        .order_by("last_queried_at", "pk")[:limit]
    )
    counts = {"queried": 0, "paid": 0, "closed": 0, "failed": 0}
    for payment in due:
        gateway = payment_provider(payment.provider)
        if gateway is None:
            continue
        try:
            if payment.order.status == OrderStatus.CANCELLED:
                payment_close_at_provider(payment_no=payment.payment_no)
                counts["closed"] += 1
                continue
            code = _query_and_book(gateway, payment)
        except PaymentGatewayError:
            counts["failed"] += 1
            continue
        counts["queried"] += 1
        if code in {"paid", "late_payment_refunding"}:
            counts["paid"] += 1
    if any(counts.values()):
        logger.info("payments reconcile: %s", counts)
    return counts


def wechatpay_certificates_refresh() -> int:
    """Fetch WeChat Pay's platform certificates (download API) and keep the new ones; returns
    how many were new. Does nothing unless certificate download is configured."""
    config = payments_config().wechatpay
    gateway = payment_provider("wechatpay")
    if config is None or not config.download_certificates or gateway is None:
        return 0
    download = getattr(gateway, "download_certificates", None)
    if download is None:
        return 0
    try:
        certificates = download()
    except ProviderUnavailable as exc:
        logger.warning("wechatpay certificate download failed: %s", exc)
        raise PaymentGatewayError(detail={"provider": "wechatpay"}) from exc
    now = clock.now()
    added = 0
    for certificate in certificates:
        _, created = WechatPlatformCertificate.objects.get_or_create(
            serial_no=certificate.serial_no,
            defaults={
                "certificate_pem": certificate.certificate_pem,
                "effective_at": certificate.effective_at,
                "expires_at": certificate.expires_at,
                "fetched_at": now,
            },
        )
        added += int(created)
    if added:
        logger.info("wechatpay: %d new platform certificate(s) trusted", added)
    return added


# The demo's own orders are paid at the sandbox cashier the way a buyer pays (a real payment);
# contracts (委托代扣 / 周期扣款) are how subscriptions charge their orders.
from freshloop.payments.contracts import (  # noqa: E402
    ContractChargeOutcome,
    contract_charge,
    contract_pre_debit_notify,
    contract_providers,
    contract_sign_start,
    contract_terminate,
    next_charge_time,
)
from freshloop.payments.sandbox_checkout import (  # noqa: E402
    contract_sandbox_sign,
    payment_sandbox_pay,
)
