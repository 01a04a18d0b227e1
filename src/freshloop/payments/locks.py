"""Row locks of the payments module, taken in one order: a payment row before its order
(orders' services lock the order), refunds after their payment.

`payment_lock` fetches the order in the same statement, so on PostgreSQL the order is locked
with the payment; settling a refund then locks orders' refund request, which orders themselves
lock before the order. The two never meet on one request: orders decide a request while it is
asked for, payments settle it only once approved."""

from __future__ import annotations

from freshloop.payments.models import Payment, PaymentContract, Refund


def payment_lock(*, payment_no: str) -> Payment | None:
    """The one place payment rows are locked (a single row at a time, so pk order holds)."""
    return (
        Payment.objects.select_for_update()
        .select_related("order")
        .filter(payment_no=payment_no)
        .first()
    )


def refund_lock(refund_id: int) -> Refund:
    """One refund, after its payment (raises `Refund.DoesNotExist` when it is gone)."""
    return Refund.objects.select_for_update().get(pk=refund_id)


def contract_lock(*, contract_no: str, provider: str) -> PaymentContract | None:
    """One payment contract, while its signing or termination callback is applied; it is
    never locked together with a payment (charges read the contract, they do not lock it)."""
    return (
        PaymentContract.objects.select_for_update()
        .filter(contract_no=contract_no, provider=provider)
        .first()
    )
