from __future__ import annotations

from freshloop.payments.errors import PaymentNotFound
from freshloop.payments.models import Payment


def payment_get(*, payment_no: str) -> Payment:
    payment = Payment.objects.select_related("order").filter(payment_no=payment_no).first()
    if payment is None:
        raise PaymentNotFound(detail={"payment_no": payment_no})
    return payment


def payment_list_for_order(*, order_no: str) -> list[Payment]:
    return list(Payment.objects.filter(order__order_no=order_no).order_by("pk"))
