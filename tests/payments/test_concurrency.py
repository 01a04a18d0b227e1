"""The same callback delivered several times at once books the money once."""

from __future__ import annotations

import pytest

from freshloop.core.models import AuditLog
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.models import Payment, PaymentStatus
from freshloop.payments.providers import payment_provider
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import payment_create, payment_notification_handle
from tests.concurrency import run_at_once
from tests.payments.helpers import make_order


def _deliver_at_once(headers: dict[str, str], body: bytes, copies: int) -> list[str]:
    def deliver() -> str:
        return payment_notification_handle(provider="sandbox", headers=headers, body=body).code

    return [outcome.label for outcome in run_at_once([deliver] * copies)]


@pytest.mark.django_db(transaction=True)
class TestPaymentNotificationHandleConcurrency:
    def test_simultaneous_duplicates_pay_once(self) -> None:
        order = make_order()
        payment = payment_create(
            order_no=order.order_no, person_id=order.person_id, provider="sandbox", client_kind="h5"
        )
        sandbox = payment_provider("sandbox")
        assert isinstance(sandbox, SandboxProvider)
        headers, body = sandbox.build_payment_notification(
            payment_no=payment.payment_no, amount_fen=payment.amount_fen, succeed=True
        )
        outcomes = _deliver_at_once(headers, body, copies=4)
        assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "paid"]
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCEEDED
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
        assert AuditLog.objects.filter(action="orders.paid").count() == 1
