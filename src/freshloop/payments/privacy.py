"""PIPL export: the payments behind a person's orders, and their payment contracts. Payments
and contracts hold no personal data of their own (no openid, no account: a contract shows the
provider only the member number), so erasure has nothing to remove here; a OneID merge moves
the contracts to the survivor (payments follow their orders)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.events import subscribe
from freshloop.identity.events import IdentityMerged
from freshloop.identity.models import Person
from freshloop.identity.services import register_export_section
from freshloop.payments.models import ContractStatus, Payment, PaymentContract


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


def _contracts_section(person: Person) -> list[dict[str, Any]]:
    return [
        {
            "contract_no": contract.contract_no,
            "provider": contract.provider,
            "status": contract.status,
            "signed_at": contract.signed_at.isoformat() if contract.signed_at else None,
            "terminated_at": contract.terminated_at.isoformat() if contract.terminated_at else None,
        }
        for contract in PaymentContract.objects.filter(person=person).order_by("pk")
    ]


register_export_section("payment_contracts", _contracts_section)


@subscribe(IdentityMerged, durable=True)
def contracts_follow_merge(event: IdentityMerged) -> None:
    """The contracts move to the survivor. Where both people had an active contract with the
    same provider, the survivor's stays the active one and the other is ended here (one active
    contract per person and provider; the provider still holds it until the customer ends it
    there, and nothing is charged under it)."""
    now = clock.now()
    with transaction.atomic():
        kept = set(
            PaymentContract.objects.filter(
                person_id=event.into_person_id, status=ContractStatus.ACTIVE
            ).values_list("provider", flat=True)
        )
        PaymentContract.objects.filter(
            person_id=event.from_person_id, status=ContractStatus.ACTIVE, provider__in=kept
        ).update(
            status=ContractStatus.TERMINATED,
            terminated_at=now,
            termination_detail="账号合并，保留合并后账号的协议",
            updated_at=now,
        )
        PaymentContract.objects.filter(person_id=event.from_person_id).update(
            person_id=event.into_person_id, updated_at=now
        )
