"""The same callback delivered several times at once books the money once, and the log says
which delivery booked it: the row lock decides, so every other copy is logged "duplicate"."""

from __future__ import annotations

import contextlib

import pytest

from freshloop.core.models import AuditLog
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.models import (
    NotificationKind,
    Payment,
    PaymentNotificationLog,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from freshloop.payments.providers import payment_provider
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import (
    payment_create,
    payment_notification_handle,
    refund_notification_handle,
)
from tests.concurrency import run_at_once
from tests.payments.helpers import WechatPlatform, make_order, wechat_refund_case


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


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wechat_api")
class TestRefundNotificationHandleConcurrency:
    def test_simultaneous_replays_settle_once_and_log_the_rest_as_duplicates(
        self, wechat_platform: WechatPlatform
    ) -> None:
        # given a WeChat Pay refund waiting for its notification (every step commits for real)
        case = wechat_refund_case(wechat_platform, contextlib.nullcontext)
        headers, body = case.notification("SUCCESS")
        logged_before = PaymentNotificationLog.objects.filter(kind=NotificationKind.REFUND).count()

        # when WeChat Pay delivers the same REFUND.SUCCESS six times at once
        def deliver() -> str:
            return refund_notification_handle(provider="wechatpay", headers=headers, body=body).code

        outcomes = sorted(outcome.label for outcome in run_at_once([deliver] * 6))

        # then one delivery settled it, and both the answers and the log say so
        assert outcomes == ["duplicate"] * 5 + ["refunded"]
        logged = PaymentNotificationLog.objects.filter(kind=NotificationKind.REFUND).order_by("pk")
        assert logged_before == 0
        assert sorted(logged.values_list("outcome", flat=True)) == outcomes
        assert Refund.objects.get(refund_no=case.refund_no).status == RefundStatus.SUCCEEDED
        payment = Payment.objects.get(pk=case.payment.pk)
        assert (payment.refunded_fen, payment.status) == (
            case.refund_fen,
            PaymentStatus.PARTIALLY_REFUNDED,
        )
        assert Order.objects.get(pk=case.order.pk).refunded_fen == case.refund_fen
        assert AuditLog.objects.filter(action="payments.refund_succeeded").count() == 1
        assert AuditLog.objects.filter(action="orders.refunded").count() == 1
