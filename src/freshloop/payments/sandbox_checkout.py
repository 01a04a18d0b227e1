"""The buyer pays an order at the sandbox cashier — what the demo does for its own orders, so
they carry a real payment (refundable, reconcilable) like an order paid on the H5 page.

Goes the whole way a real payment goes: the payment opened by `payment_create`, the money
taken by the sandbox platform, its signed callback verified and booked once."""

from __future__ import annotations

from freshloop.payments.errors import PaymentProviderUnavailable
from freshloop.payments.models import ContractStatus, Payment, PaymentContract
from freshloop.payments.providers import payment_provider
from freshloop.payments.providers.contracts import ContractNotificationKind
from freshloop.payments.providers.sandbox import SandboxProvider


def payment_sandbox_pay(*, order_no: str, person_id: int) -> Payment:
    """Pay `order_no` in full through the sandbox; the booked payment. Refused when the
    sandbox is not the configured provider (a production deployment)."""
    from freshloop.payments.services import payment_create, payment_notification_handle

    sandbox = payment_provider("sandbox")
    if not isinstance(sandbox, SandboxProvider):
        raise PaymentProviderUnavailable(detail={"provider": "sandbox"})
    payment = payment_create(
        order_no=order_no, person_id=person_id, provider="sandbox", client_kind="h5"
    )
    sandbox.record_paid(payment_no=payment.payment_no, amount_fen=payment.amount_fen)
    headers, body = sandbox.build_payment_notification(
        payment_no=payment.payment_no, amount_fen=payment.amount_fen, succeed=True
    )
    payment_notification_handle(provider="sandbox", headers=headers, body=body)
    payment.refresh_from_db()
    return payment


def contract_sandbox_sign(*, person_id: int, refuse_charges: bool = False) -> PaymentContract:
    """Sign a contract for the person at the sandbox platform, the whole way a buyer does on
    its signing page (the platform's signed callback activates it); the active contract."""
    from freshloop.payments.contracts import contract_notification_handle, contract_sign_start

    sandbox = payment_provider("sandbox")
    if not isinstance(sandbox, SandboxProvider):
        raise PaymentProviderUnavailable(detail={"provider": "sandbox"})
    contract = contract_sign_start(person_id=person_id, provider="sandbox")
    if contract.status == ContractStatus.ACTIVE:
        return contract
    sandbox.contracts.record_signed(contract_no=contract.contract_no, refuse_charges=refuse_charges)
    headers, body = sandbox.contracts.build_contract_notification(
        contract_no=contract.contract_no, kind=ContractNotificationKind.SIGNED
    )
    contract_notification_handle(provider="sandbox", headers=headers, body=body)
    contract.refresh_from_db()
    return contract
