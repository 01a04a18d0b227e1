"""Payment contracts (委托代扣 / 周期扣款): signing, the provider's signing and termination
callbacks, ending a contract, and charging an order under one (SPEC FD-1, BM-3).

Invariants
- A contract is active only from a verified signing callback (never from the buyer coming
  back from the signing page), and a customer has at most one active contract per provider.
- A charge is one `Payment` of client kind "contract" for the order, written (committed)
  *before* the provider is asked: a retry after a crash asks again with the same payment_no,
  which the provider charges at most once (same out_trade_no). Money is booked only through
  the payment path's checks (a verified callback, a verified 查单 answer, or the provider's
  signed synchronous answer).
- A charge is made only inside the provider's charging hours (WeChat Pay: 07:00–22:00 Beijing);
  outside them `contract_charge` answers "deferred" with the time to try again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.effects import effect_enqueue
from freshloop.core.ids import new_id
from freshloop.identity.models import Person
from freshloop.orders.errors import OrderNotFound
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.errors import (
    ContractNotActive,
    ContractNotFound,
    ContractsUnsupported,
    PaymentGatewayError,
)
from freshloop.payments.locks import contract_lock
from freshloop.payments.models import (
    PAID_STATUSES,
    ContractStatus,
    NotificationKind,
    Payment,
    PaymentContract,
    PaymentStatus,
)
from freshloop.payments.notifications import (
    NotificationOutcome,
    callback_alert,
    callback_handle,
    gateway_for,
    notification_outcome,
)
from freshloop.payments.providers import PaymentProvider, ProviderUnavailable, enabled_providers
from freshloop.payments.providers.contracts import (
    ContractChargeRequest,
    ContractChargeStatus,
    ContractGateway,
    ContractNotification,
    ContractNotificationKind,
    ContractSignRequest,
)

logger = logging.getLogger(__name__)

CONTRACT_CLIENT_KIND = "contract"
BEIJING = dt.timezone(dt.timedelta(hours=8))


def contract_gateway(provider: str) -> ContractGateway:
    contracts = getattr(gateway_for(provider), "contracts", None)
    if contracts is None:
        raise ContractsUnsupported(detail={"provider": provider})
    return cast(ContractGateway, contracts)


def contract_providers() -> list[tuple[str, str]]:
    """(name, label) of every configured provider that can sign contracts."""
    return [
        (name, gateway.label)
        for name, gateway in enabled_providers().items()
        if getattr(gateway, "contracts", None) is not None
    ]


def _display_account(person: Person) -> str:
    # The signing page shows the buyer which of our accounts they sign for. A nickname is
    # never sent (WeChat refuses 4-byte characters, so emoji names would fail) and a phone
    # number would be personal data handed to the provider: the member number is enough.
    return f"鲜环会员 {person.one_id[-8:]}"


# --- signing ----------------------------------------------------------------------------------


def contract_sign_start(
    *, person_id: int, provider: str, return_path: str = "", client_ip: str = ""
) -> PaymentContract:
    """The contract the buyer signs next: their active one with `provider` if they have it,
    else a contract waiting to be signed, with the signing page in `prompt`."""
    gateway = contract_gateway(provider)
    active = PaymentContract.objects.filter(
        person_id=person_id, provider=provider, status=ContractStatus.ACTIVE
    ).first()
    if active is not None:
        return active
    person = Person.objects.get(pk=person_id)
    # Letters and digits only, at most 32: what both WeChat's contract_code and Alipay's
    # external_agreement_no accept.
    contract_no = new_id("CTR").replace("_", "")
    display_account = _display_account(person)
    try:
        prompt = gateway.sign_prompt(
            ContractSignRequest(
                contract_no=contract_no,
                display_account=display_account,
                return_path=return_path or "/m/subscriptions",
                client_ip=client_ip,
            )
        )
    except ProviderUnavailable as exc:
        logger.warning("contract signing at %s refused: %s", provider, exc)
        raise PaymentGatewayError(detail={"provider": provider}) from exc
    now = clock.now()
    contract = PaymentContract.objects.create(
        contract_no=contract_no,
        person_id=person_id,
        provider=provider,
        display_account=display_account,
        prompt=prompt.as_json(),
        created_at=now,
        updated_at=now,
    )
    audit_record(
        actor=Actor.consumer(person.one_id),
        action="payments.contract.sign_start",
        target=contract,
        after={"provider": provider},
    )
    return contract


def contract_notification_handle(
    *, provider: str, headers: Mapping[str, str], body: bytes
) -> NotificationOutcome:
    """Verify a signing / termination callback and apply it once (a replay is "duplicate")."""
    contracts = contract_gateway(provider)
    # The callback plumbing needs a name and the provider's acknowledgement format, which the
    # contract gateway has (WeChat answers contract callbacks in APIv2 XML, not APIv3 JSON).
    gateway = cast(PaymentProvider, contracts)
    return callback_handle(
        gateway=gateway,
        kind=NotificationKind.CONTRACT,
        body=body,
        parse=lambda: contracts.parse_contract_notification(headers, body),
        apply=lambda notification, digest: _contract_notification_apply(
            gateway, notification, digest
        ),
        references=lambda notification: (
            notification.contract_no,
            notification.provider_contract_id,
        ),
    )


@transaction.atomic
def _contract_notification_apply(
    gateway: PaymentProvider, notification: ContractNotification, digest: str
) -> NotificationOutcome:
    facts = {
        "contract_no": notification.contract_no,
        "provider_contract_id": notification.provider_contract_id,
        "kind": notification.kind.value,
    }
    contract = contract_lock(contract_no=notification.contract_no, provider=gateway.name)
    if contract is None:
        callback_alert(code="unknown_contract", provider=gateway.name, digest=digest, detail=facts)
        return notification_outcome(
            gateway, accepted=False, code="unknown_contract", message="协议不存在"
        )
    now = clock.now()
    before = {"status": contract.status}
    if notification.kind == ContractNotificationKind.SIGNED:
        if contract.status != ContractStatus.SIGNING:
            return notification_outcome(gateway, accepted=True, code="duplicate", message="OK")
        # Signing again replaces the customer's earlier contract with this provider (WeChat
        # keeps one per plan and user too): the old one is ended here.
        PaymentContract.objects.filter(
            person_id=contract.person_id, provider=contract.provider, status=ContractStatus.ACTIVE
        ).update(
            status=ContractStatus.TERMINATED,
            terminated_at=now,
            termination_detail="已被新签约替代",
            updated_at=now,
        )
        contract.status = ContractStatus.ACTIVE
        contract.provider_contract_id = notification.provider_contract_id[:64]
        contract.signed_at = notification.at or now
    else:
        if contract.status == ContractStatus.TERMINATED:
            return notification_outcome(gateway, accepted=True, code="duplicate", message="OK")
        contract.status = ContractStatus.TERMINATED
        contract.terminated_at = notification.at or now
        contract.termination_detail = (notification.detail or "渠道通知解约")[:200]
    contract.updated_at = now
    try:
        with transaction.atomic():
            contract.save()
    except IntegrityError:
        # The provider's contract id is already another contract's: not ours to believe.
        callback_alert(code="contract_conflict", provider=gateway.name, digest=digest, detail=facts)
        return notification_outcome(
            gateway, accepted=False, code="contract_conflict", message="协议号冲突"
        )
    audit_record(
        actor=Actor.system(f"payments.{gateway.name}"),
        action=f"payments.contract.{notification.kind.value}",
        target=contract,
        before=before,
        after={"status": contract.status, **facts},
    )
    return notification_outcome(gateway, accepted=True, code=notification.kind.value, message="OK")


def contract_terminate(
    *, person_id: int, contract_no: str, reason: str = "用户在商城解约"
) -> PaymentContract:
    """End the customer's contract at the provider, then here (a contract still waiting to be
    signed just ends). Ending an ended one changes nothing."""
    contract = PaymentContract.objects.filter(
        contract_no=contract_no[:40], person_id=person_id
    ).first()
    if contract is None:
        raise ContractNotFound(detail={"contract_no": contract_no[:40]})
    if contract.status == ContractStatus.TERMINATED:
        return contract
    if contract.status == ContractStatus.ACTIVE:
        try:
            contract_gateway(contract.provider).terminate(
                contract_no=contract.contract_no,
                provider_contract_id=contract.provider_contract_id,
                reason=reason,
            )
        except ProviderUnavailable as exc:
            raise PaymentGatewayError(detail={"provider": contract.provider}) from exc
    now = clock.now()
    with transaction.atomic():
        updated = PaymentContract.objects.filter(
            pk=contract.pk, status__in=[ContractStatus.ACTIVE, ContractStatus.SIGNING]
        ).update(
            status=ContractStatus.TERMINATED,
            terminated_at=now,
            termination_detail=reason[:200],
            updated_at=now,
        )
        if updated:
            audit_record(
                actor=Actor.system("payments.contract"),
                action="payments.contract.terminate",
                target=contract,
                after={"reason": reason[:200]},
            )
    contract.refresh_from_db()
    return contract


# --- charging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractChargeOutcome:
    """What a charge led to: "paid" (booked), "pending" (the provider is taking it; a callback
    or 查单 books it), "refused" (the buyer must pay by hand), "deferred" (outside charging
    hours: try at `retry_at`), "not_payable" (the order is no longer waiting for money)."""

    status: str
    payment_no: str = ""
    code: str = ""
    message: str = ""
    retry_at: dt.datetime | None = None


def next_charge_time(charge_hours: tuple[int, int], now: dt.datetime) -> dt.datetime:
    """`now` when it is inside the provider's charging hours (Beijing), else when they next
    open."""
    start, end = charge_hours
    local = now.astimezone(BEIJING)
    if start <= local.hour < end:
        return now
    opening = local.replace(hour=start % 24, minute=0, second=0, microsecond=0)
    if local.hour >= end:
        opening += dt.timedelta(days=1)
    return opening.astimezone(dt.UTC)


def _charge_payment(order: Order, provider: str) -> Payment:
    """The order's open contract payment with `provider`, created if there is none. Another
    open payment with the provider (the buyer opened the cashier) is closed first: a provider
    takes one open payment per order here."""
    from freshloop.payments.services import CLOSE_AT_PROVIDER

    existing = Payment.objects.filter(
        order=order, provider=provider, status=PaymentStatus.CREATED
    ).first()
    if existing is not None and existing.client_kind == CONTRACT_CLIENT_KIND:
        return existing
    now = clock.now()
    try:
        with transaction.atomic():
            if existing is not None and Payment.objects.filter(
                pk=existing.pk, status=PaymentStatus.CREATED
            ).update(status=PaymentStatus.CLOSED, updated_at=now):
                effect_enqueue(
                    name=CLOSE_AT_PROVIDER,
                    payload={"payment_no": existing.payment_no},
                    dedupe_key=f"{CLOSE_AT_PROVIDER}:{existing.payment_no}",
                )
            return Payment.objects.create(
                payment_no=new_id("PAY"),
                order=order,
                provider=provider,
                client_kind=CONTRACT_CLIENT_KIND,
                amount_fen=order.total_fen,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        raced = Payment.objects.filter(
            order=order, provider=provider, status=PaymentStatus.CREATED
        ).first()
        if raced is None or raced.client_kind != CONTRACT_CLIENT_KIND:
            raise
        return raced


def contract_charge(*, order_no: str, contract_no: str) -> ContractChargeOutcome:
    """Take an unpaid order's total under the buyer's contract (see the module invariants).
    Safe to call again at any time: a paid order answers "paid", an open charge is asked
    about again with the same payment_no. Raises PaymentGatewayError when the provider cannot
    be reached (the caller retries later)."""
    from freshloop.payments.services import _payment_notification_apply, _query_and_book

    contract = PaymentContract.objects.filter(contract_no=contract_no).first()
    order = Order.objects.filter(order_no=order_no).first()
    if order is None:
        raise OrderNotFound(detail={"order_no": order_no})
    if contract is None or contract.person_id != order.person_id:
        raise ContractNotFound(detail={"contract_no": contract_no})
    now = clock.now()
    paid = Payment.objects.filter(order=order, status__in=PAID_STATUSES).first()
    if paid is not None:
        return ContractChargeOutcome(status="paid", payment_no=paid.payment_no)
    if order.status != OrderStatus.PENDING_PAYMENT or (
        order.expires_at is not None and order.expires_at <= now
    ):
        return ContractChargeOutcome(status="not_payable")
    if contract.status != ContractStatus.ACTIVE:
        error = ContractNotActive()
        return ContractChargeOutcome(status="refused", code=error.code, message=error.message)
    contracts = contract_gateway(contract.provider)
    retry_at = next_charge_time(contracts.charge_hours, now)
    if retry_at > now:
        return ContractChargeOutcome(status="deferred", retry_at=retry_at)
    payment = _charge_payment(order, contract.provider)
    try:
        result = contracts.charge(
            ContractChargeRequest(
                payment_no=payment.payment_no,
                amount_fen=payment.amount_fen,
                description=f"鲜环订阅订单 {order.order_no}",
                provider_contract_id=contract.provider_contract_id,
            )
        )
    except ProviderUnavailable as exc:
        logger.warning("contract charge of %s at %s failed: %s", order_no, contract.provider, exc)
        raise PaymentGatewayError(detail={"provider": contract.provider}) from exc
    gateway = gateway_for(contract.provider)
    if result.status == ContractChargeStatus.REFUSED:
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
            status=PaymentStatus.FAILED, updated_at=clock.now()
        )
        audit_record(
            actor=Actor.system(f"payments.{contract.provider}"),
            action="payments.contract.charge_refused",
            target=payment,
            after={"order_no": order_no, "code": result.code, "message": result.message[:200]},
        )
        return ContractChargeOutcome(
            status="refused",
            payment_no=payment.payment_no,
            code=result.code,
            message=result.message,
        )
    if result.status == ContractChargeStatus.SUCCEEDED and result.notification is not None:
        digest = hashlib.sha256(f"contract-charge:{payment.payment_no}".encode()).hexdigest()
        code = _payment_notification_apply(gateway, result.notification, digest).code
    else:
        # Accepted: the provider may already have the answer (the sandbox, a quick WeChat
        # charge); otherwise its callback or the reconciliation sweep books it.
        try:
            code = _query_and_book(gateway, payment)
        except PaymentGatewayError:
            code = "query_failed"  # accepted all the same: the callback or the sweep books it
    status = "paid" if code in {"paid", "duplicate"} else "pending"
    return ContractChargeOutcome(status=status, payment_no=payment.payment_no, code=code)


def contract_charge_notification_handle(
    *, provider: str, headers: Mapping[str, str], body: bytes
) -> NotificationOutcome:
    """A charge's result callback (WeChat Pay posts it in APIv2 XML to its own URL): verified
    by the contract gateway, then booked exactly like any payment callback."""
    from freshloop.payments.services import _payment_notification_apply

    contracts = contract_gateway(provider)
    gateway = cast(PaymentProvider, contracts)
    return callback_handle(
        gateway=gateway,
        kind=NotificationKind.PAYMENT,
        body=body,
        parse=lambda: contracts.parse_charge_notification(headers, body),
        apply=lambda notification, digest: _payment_notification_apply(
            gateway, notification, digest
        ),
        references=lambda notification: (notification.out_trade_no, notification.transaction_id),
    )


def contract_pre_debit_notify(*, order_no: str, contract_no: str) -> dt.datetime | None:
    """预扣费通知: tell the buyer through the provider that the order will be charged (WeChat
    Pay requires it before a periodic charge); providers that need none do nothing. Like a
    charge it is only sent in the provider's hours: outside them nothing is sent and the time
    to try again is returned (None when sent, or when there is nothing to send)."""
    contract = PaymentContract.objects.filter(contract_no=contract_no).first()
    order = Order.objects.filter(order_no=order_no).first()
    if contract is None or order is None or contract.status != ContractStatus.ACTIVE:
        return None
    contracts = contract_gateway(contract.provider)
    now = clock.now()
    retry_at = next_charge_time(contracts.charge_hours, now)
    if retry_at > now:
        return retry_at
    try:
        contracts.pre_debit_notify(
            provider_contract_id=contract.provider_contract_id, amount_fen=order.total_fen
        )
    except ProviderUnavailable as exc:
        raise PaymentGatewayError(detail={"provider": contract.provider}) from exc
    return None


def contract_out(contract: PaymentContract) -> dict[str, Any]:
    """What pages and the API show of a contract."""
    return {
        "contract_no": contract.contract_no,
        "provider": contract.provider,
        "provider_label": contract.get_provider_display(),
        "status": contract.status,
        "status_label": contract.get_status_display(),
        "signed_at": contract.signed_at,
        "terminated_at": contract.terminated_at,
        "termination_detail": contract.termination_detail,
        "sign_url": str((contract.prompt or {}).get("redirect_url", "")),
    }
