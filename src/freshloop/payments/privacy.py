"""PIPL export: the payments behind a person's orders. Payments hold no personal data of
their own (no openid, no account), so erasure has nothing to remove here."""

from __future__ import annotations

from typing import Any

from freshloop.identity.models import Person
from freshloop.identity.services import register_export_section
from freshloop.payments.models import Payment


def _payments_section(person: Person) -> list[dict[str, Any]]:
    payments = (
        Payment.objects.filter(order__person=person)
        .select_related("order")
        .prefetch_related("refunds")
        .order_by("pk")
    )
    return [
        {
            "payment_no": payment.payment_no,
            "order_no": payment.order.order_no,
            "provider": payment.provider,
            "amount_fen": payment.amount_fen,
            "status": payment.status,
            "created_at": payment.created_at.isoformat(),
            "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
            "refunds": [
                {
                    "refund_no": refund.refund_no,
                    "amount_fen": refund.amount_fen,
                    "status": refund.status,
                    "refunded_at": refund.refunded_at.isoformat() if refund.refunded_at else None,
                }
                for refund in payment.refunds.all()
            ],
        }
        for payment in payments
    ]


register_export_section("payments", _payments_section)
