"""Row locks of the payments module, taken in one order: a payment row before its order
(orders' services lock the order), refunds after their payment."""

from __future__ import annotations

from freshloop.payments.models import Payment, Refund


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
