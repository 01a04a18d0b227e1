"""Refund callbacks in every state a refund can be in: each verified notification either settles
the refund or raises an alert, and none is answered "OK" while silently changing nothing.

Money is set up through the real services (checkout, WeChat Pay / Alipay payment callbacks,
the orders module's refund approval); only the providers' side of the wire is played by the
test, with genuine signatures (tests/payments/helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import transaction

from freshloop.core.models import AuditLog, OutboxMessage
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.models import RefundRequest as OrderRefundRequest
from freshloop.orders.models import RefundStatus as OrderRefundStatus
from freshloop.payments.locks import payment_lock
from freshloop.payments.models import (
    Payment,
    PaymentNotificationLog,
    PaymentStatus,
    Refund,
    RefundOrigin,
    RefundStatus,
)
from freshloop.payments.notifications import NotificationOutcome
from freshloop.payments.refunds import refund_create_locked
from freshloop.payments.services import (
    payment_create,
    payment_notification_handle,
    refund_notification_handle,
)
from tests.payments.helpers import (
    REFUND_OPERATOR,
    FakeAlipayGateway,
    WechatPlatform,
    WechatRefundCase,
    alipay_notification,
    approve_refund,
    make_order,
    rsa_key,
    wechat_refund_case,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wechat_api")]
Committed = Callable[[], AbstractContextManager[Any]]
REFUND_FEN = 1500


def _notify(case: WechatRefundCase, status: str, *, out_trade_no: str = "") -> NotificationOutcome:
    """WeChat Pay posts its signed 退款结果通知 for the case's refund, in `status`."""
    headers, body = case.notification(status, out_trade_no=out_trade_no)
    return refund_notification_handle(provider="wechatpay", headers=headers, body=body)


def _refund(case: WechatRefundCase) -> Refund:
    return Refund.objects.get(refund_no=case.refund_no)


def _booked(case: WechatRefundCase) -> tuple[int, str, int, str]:
    """What the payment and the order say was paid back."""
    payment = Payment.objects.get(pk=case.payment.pk)
    order = Order.objects.get(pk=case.order.pk)
    return payment.refunded_fen, payment.status, order.refunded_fen, order.status


def _alert_kinds() -> list[str]:
    return [
        message.payload["kind"]
        for message in OutboxMessage.objects.filter(channel="alert").order_by("pk")
    ]


NOTHING_BOOKED = (0, PaymentStatus.SUCCEEDED, 0, OrderStatus.REFUND_REQUESTED)
ONE_REFUND_BOOKED = (
    REFUND_FEN,
    PaymentStatus.PARTIALLY_REFUNDED,
    REFUND_FEN,
    OrderStatus.PARTIALLY_REFUNDED,
)


def _logged_outcomes() -> list[str]:
    return list(PaymentNotificationLog.objects.order_by("pk").values_list("outcome", flat=True))


def _accepted(outcome: NotificationOutcome, code: str) -> None:
    assert (outcome.accepted, outcome.code, outcome.ack.status) == (True, code, 204)


class TestRefundNotificationHandleAfterAFailure:
    """WeChat Pay can report a refund ABNORMAL (the buyer's card refused it) and later SUCCESS
    (the merchant re-drove it, 异常退款). The provider holds the money: its verified SUCCESS wins."""

    def test_success_after_abnormal_settles_once_and_alerts(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a refund WeChat Pay reported ABNORMAL, which we marked failed
        case = wechat_refund_case(wechat_platform, committed)
        _accepted(_notify(case, "ABNORMAL"), "refund_failed")
        assert _refund(case).status == RefundStatus.FAILED
        assert _booked(case) == NOTHING_BOOKED

        # when WeChat Pay then reports it SUCCESS, and replays that report
        settled = _notify(case, "SUCCESS")
        replay = _notify(case, "SUCCESS")

        # then the refund is settled as a normal success would be, exactly once
        _accepted(settled, "refunded_after_failure")
        _accepted(replay, "duplicate")
        refund = _refund(case)
        assert (refund.status, refund.provider_refund_id) == (
            RefundStatus.SUCCEEDED,
            "50000000382019052709732678859",
        )
        assert refund.refunded_at is not None
        assert _booked(case) == ONE_REFUND_BOOKED
        request = OrderRefundRequest.objects.get(refund_no=case.refund_no)
        assert request.status == OrderRefundStatus.REFUNDED
        assert AuditLog.objects.filter(action="orders.refunded").count() == 1
        settle_audit = AuditLog.objects.get(action="payments.refund_succeeded")
        assert settle_audit.before == {"status": RefundStatus.FAILED}
        # and a person is told why the money moved after we had written it off
        assert _alert_kinds() == [
            "payments.refund_failed",
            "payments.refund_settled_after_failure",
        ]
        assert _logged_outcomes()[-3:] == ["refund_failed", "refunded_after_failure", "duplicate"]

    def test_success_after_abnormal_is_not_booked_twice_when_a_replacement_exists(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a refund marked failed, and a replacement refund already started for the money
        case = wechat_refund_case(wechat_platform, committed)
        _notify(case, "ABNORMAL")
        with committed(), transaction.atomic():  # as a retry would: under the payment lock
            payment = payment_lock(payment_no=case.payment.payment_no)
            assert payment is not None
            replacement = refund_create_locked(
                payment=payment,
                amount_fen=REFUND_FEN,
                origin=RefundOrigin.ORDER_REFUND,
                reason="异常退款重发",
                refund_no=f"{case.refund_no}-2",
                actor=REFUND_OPERATOR,
            )

        # when WeChat Pay reports the original refund SUCCESS after all
        outcome = _notify(case, "SUCCESS")

        # then nothing is booked a second time: the original stays failed, and a person is
        # alerted that the buyer may have been paid twice
        _accepted(outcome, "refund_success_unsettled")
        assert _refund(case).status == RefundStatus.FAILED
        assert Refund.objects.get(pk=replacement.pk).status == RefundStatus.PENDING
        assert _booked(case) == NOTHING_BOOKED
        assert _alert_kinds() == [
            "payments.refund_failed",
            "payments.refund_success_unsettled",
        ]
        alert = OutboxMessage.objects.filter(channel="alert").order_by("pk").last()
        assert alert is not None
        assert alert.payload["replacements"] == [replacement.refund_no]

    def test_processing_after_abnormal_is_stale_news(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a refund already marked failed (and alerted) on WeChat Pay's ABNORMAL report
        case = wechat_refund_case(wechat_platform, committed)
        _notify(case, "ABNORMAL")

        # when an older PROCESSING answer arrives late
        outcome = _notify(case, "PROCESSING")

        # then it is logged for what it is; no money moves and no second alert goes out (a
        # re-driven refund announces itself with SUCCESS, which settles and alerts)
        _accepted(outcome, "stale_ignored")
        assert _refund(case).status == RefundStatus.FAILED
        assert _booked(case) == NOTHING_BOOKED
        assert _alert_kinds() == ["payments.refund_failed"]

    def test_a_repeated_abnormal_report_is_a_duplicate(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a refund already marked failed on WeChat Pay's ABNORMAL report
        case = wechat_refund_case(wechat_platform, committed)
        _notify(case, "ABNORMAL")

        # when the report comes again
        outcome = _notify(case, "ABNORMAL")

        # then it is acknowledged as what it is, and alerted once only
        _accepted(outcome, "duplicate")
        assert _alert_kinds() == ["payments.refund_failed"]
        assert _booked(case) == NOTHING_BOOKED


class TestRefundNotificationHandleContradictions:
    def test_closed_after_success_keeps_the_money_booked_and_alerts(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a refund WeChat Pay reported SUCCESS, booked on the payment and the order
        case = wechat_refund_case(wechat_platform, committed)
        _accepted(_notify(case, "SUCCESS"), "refunded")

        # when a CLOSED report for the same refund arrives afterwards
        outcome = _notify(case, "CLOSED")

        # then the booking stands (SUCCESS is final at WeChat Pay), and a person is alerted
        # instead of the report being filed as a harmless duplicate
        _accepted(outcome, "refund_state_conflict")
        assert _refund(case).status == RefundStatus.SUCCEEDED
        assert _booked(case) == ONE_REFUND_BOOKED
        assert _alert_kinds() == ["payments.refund_state_conflict"]

    def test_processing_after_success_is_stale_news(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a settled refund
        case = wechat_refund_case(wechat_platform, committed)
        _notify(case, "SUCCESS")

        # when an older PROCESSING report arrives late
        outcome = _notify(case, "PROCESSING")

        # then it is acknowledged and logged as stale; nothing moves, nobody is woken
        _accepted(outcome, "stale_ignored")
        assert _booked(case) == ONE_REFUND_BOOKED
        assert _alert_kinds() == []

    def test_success_for_an_unknown_refund_is_refused_and_alerted(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a paid order with a pending refund
        case = wechat_refund_case(wechat_platform, committed)
        case.refund_no = "R_NEVER_STARTED"

        # when WeChat Pay reports SUCCESS for a refund number we never issued
        outcome = _notify(case, "SUCCESS")

        # then it is refused and alerted, and no money is booked anywhere
        assert (outcome.accepted, outcome.code) == (False, "unknown_refund_no")
        assert _alert_kinds() == ["payments.unknown_refund_no"]
        assert _booked(case) == NOTHING_BOOKED

    def test_success_naming_another_payment_is_refused_and_alerted(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        # given a pending refund of one payment
        case = wechat_refund_case(wechat_platform, committed)

        # when a SUCCESS report names our refund number but another payment's out_trade_no
        outcome = _notify(case, "SUCCESS", out_trade_no="PAY_SOMEONE_ELSE")

        # then it is refused and alerted; the refund waits for a report that matches
        assert (outcome.accepted, outcome.code) == (False, "refund_payment_mismatch")
        assert _refund(case).status == RefundStatus.PENDING
        assert _booked(case) == NOTHING_BOOKED
        assert _alert_kinds() == ["payments.refund_payment_mismatch"]


class TestAlipayRefundNotificationAfterAFailure:
    def test_alipay_success_for_a_refused_refund_settles_and_alerts(
        self, alipay_gateway: FakeAlipayGateway, committed: Committed
    ) -> None:
        # given an Alipay payment whose refund Alipay refused when we asked
        order = make_order()
        payment = payment_create(
            order_no=order.order_no, person_id=order.person_id, provider="alipay", client_kind="h5"
        )
        paid = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
        )
        assert payment_notification_handle(provider="alipay", headers={}, body=paid).code == "paid"
        alipay_gateway.refund_answer = {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.SYSTEM_ERROR",
            "sub_msg": "系统错误",
        }
        refund_no = approve_refund(Order.objects.get(pk=order.pk), REFUND_FEN, committed)
        assert Refund.objects.get(refund_no=refund_no).status == RefundStatus.FAILED

        # when Alipay's notification says the refund went through after all
        body = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
            extra={
                "out_biz_no": refund_no,
                "refund_fee": f"{REFUND_FEN / 100:.2f}",
                "gmt_refund": "2024-05-02 10:00:00.123",
            },
        )
        outcome = payment_notification_handle(provider="alipay", headers={}, body=body)

        # then it is settled, booked once on the payment and the order, and alerted
        assert (outcome.code, outcome.ack.body) == ("refunded_after_failure", b"success")
        assert Refund.objects.get(refund_no=refund_no).status == RefundStatus.SUCCEEDED
        payment.refresh_from_db()
        assert (payment.refunded_fen, payment.status) == (
            REFUND_FEN,
            PaymentStatus.PARTIALLY_REFUNDED,
        )
        assert Order.objects.get(pk=order.pk).refunded_fen == REFUND_FEN
        assert _alert_kinds() == [
            "payments.refund_failed",
            "payments.refund_settled_after_failure",
        ]
