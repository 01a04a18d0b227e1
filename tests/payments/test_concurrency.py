"""The same callback delivered several times at once books the money once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from freshloop.core.models import AuditLog
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.models import Payment, PaymentStatus
from freshloop.payments.providers import payment_provider
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import payment_create, payment_notification_handle
from tests.payments.helpers import make_order


def _deliver_at_once(headers: dict[str, str], body: bytes, copies: int) -> list[str]:
    barrier = threading.Barrier(copies)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            result = payment_notification_handle(
                provider="sandbox", headers=headers, body=body
            ).code
        except Exception as error:  # noqa: BLE001 (the assertion names it)
            result = type(error).__name__
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


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
