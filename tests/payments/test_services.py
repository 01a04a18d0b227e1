"""Payment services through the real orders module, with only the providers' edge replaced."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import responses

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog, OutboxMessage, OutboxStatus
from freshloop.core.outbox import outbox_relay
from freshloop.identity.models import IdentifierType
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.orders.errors import OrderNotFound
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import order_cancel, order_refund_request, refund_request_approve
from freshloop.payments.errors import (
    ClientKindUnsupported,
    OrderNotPayable,
    PaymentProviderUnavailable,
    WechatOpenidMissing,
)
from freshloop.payments.models import (
    Payment,
    PaymentNotificationLog,
    PaymentStatus,
    Refund,
    RefundOrigin,
    RefundStatus,
)
from freshloop.payments.providers import payment_provider
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import (
    payment_create,
    payment_notification_handle,
    refund_notification_handle,
    refund_start,
)
from tests.factories import make_person
from tests.payments.helpers import (
    WECHAT_APPID,
    FakeAlipayGateway,
    WechatPlatform,
    alipay_notification,
    make_order,
    rsa_key,
    wechat_refund_resource,
    wechat_transaction,
)

pytestmark = pytest.mark.django_db
Committed = Callable[[], AbstractContextManager[Any]]
OPERATOR = Actor(type="user", id="7", label="客服小陈")


def _pay_order(provider: str = "sandbox", client_kind: str = "h5") -> tuple[Order, Payment]:
    order = make_order()
    payment = payment_create(
        order_no=order.order_no,
        person_id=order.person_id,
        provider=provider,
        client_kind=client_kind,
    )
    return order, payment


def _sandbox_pays(payment: Payment, *, succeed: bool = True) -> str:
    sandbox = payment_provider("sandbox")
    assert isinstance(sandbox, SandboxProvider)
    headers, body = sandbox.build_payment_notification(
        payment_no=payment.payment_no, amount_fen=payment.amount_fen, succeed=succeed
    )
    return payment_notification_handle(provider="sandbox", headers=headers, body=body).code


def _wechat_notify(
    platform: WechatPlatform, payment: Payment, **resource: object
) -> tuple[dict[str, str], bytes]:
    fields: dict[str, object] = {"out_trade_no": payment.payment_no, "total": payment.amount_fen}
    fields.update(resource)
    return platform.notification(wechat_transaction(**fields))  # type: ignore[arg-type]


def _alerts() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(channel="alert").order_by("pk"))


class TestPaymentCreate:
    def test_opens_a_sandbox_payment_for_the_order_total(self) -> None:
        order, payment = _pay_order()
        assert payment.amount_fen == order.total_fen > 0
        assert payment.status == PaymentStatus.CREATED
        assert payment.prompt == {
            "kind": "redirect",
            "redirect_url": f"/m/pay/{payment.payment_no}?next=%2Fm%2Forders%2F{order.order_no}",
            "jsapi": {},
            "qr_content": "",
        }
        assert AuditLog.objects.filter(action="payments.create", target_id=str(payment.pk)).exists()

    def test_a_second_tap_reuses_the_open_payment(self) -> None:
        order, payment = _pay_order()
        again = payment_create(
            order_no=order.order_no, person_id=order.person_id, provider="sandbox", client_kind="h5"
        )
        assert again.pk == payment.pk
        assert Payment.objects.count() == 1

    def test_another_client_kind_replaces_the_open_payment(self) -> None:
        order, payment = _pay_order()
        other = payment_create(
            order_no=order.order_no,
            person_id=order.person_id,
            provider="sandbox",
            client_kind="jsapi",
        )
        assert other.pk != payment.pk
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CLOSED

    def test_only_the_owner_may_pay(self) -> None:
        order = make_order()
        with pytest.raises(OrderNotFound):
            payment_create(
                order_no=order.order_no,
                person_id=make_person().pk,
                provider="sandbox",
                client_kind="h5",
            )
        assert not Payment.objects.exists()

    def test_cancelled_or_expired_orders_cannot_be_paid(self) -> None:
        order = make_order()
        order_cancel(order_no=order.order_no, reason="不要了", actor=OPERATOR)
        with pytest.raises(OrderNotPayable):
            payment_create(
                order_no=order.order_no,
                person_id=order.person_id,
                provider="sandbox",
                client_kind="h5",
            )
        late = make_order()
        assert late.expires_at is not None
        with (
            clock.frozen(late.expires_at + dt.timedelta(seconds=1)),
            pytest.raises(OrderNotPayable),
        ):
            payment_create(
                order_no=late.order_no,
                person_id=late.person_id,
                provider="sandbox",
                client_kind="h5",
            )

    def test_unconfigured_provider_is_refused(self) -> None:
        order = make_order()
        with pytest.raises(PaymentProviderUnavailable):
            payment_create(
                order_no=order.order_no,
                person_id=order.person_id,
                provider="wechatpay",
                client_kind="h5",
            )

    def test_alipay_inside_wechat_is_refused(self, alipay_gateway: FakeAlipayGateway) -> None:
        order = make_order()
        with pytest.raises(ClientKindUnsupported):
            payment_create(
                order_no=order.order_no,
                person_id=order.person_id,
                provider="alipay",
                client_kind="jsapi",
            )

    def test_wechat_jsapi_needs_the_payers_openid(self, wechat_platform: WechatPlatform) -> None:
        order = make_order()
        with pytest.raises(WechatOpenidMissing):
            payment_create(
                order_no=order.order_no,
                person_id=order.person_id,
                provider="wechatpay",
                client_kind="jsapi",
            )

    @responses.activate
    def test_wechat_jsapi_uses_the_openid_of_the_pay_app(
        self, wechat_platform: WechatPlatform
    ) -> None:
        person = identify(
            identifiers=[
                IdentifierInput(
                    type=IdentifierType.WECHAT_OPENID,
                    value="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                    scope=WECHAT_APPID,
                    verified=True,
                )
            ],
            source="wechat_oauth",
        ).person
        order = make_order(person=person)
        body = b'{"prepay_id":"wx2014"}'
        responses.add(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi",
            body=body,
            headers=wechat_platform.response_headers(body),
        )
        payment = payment_create(
            order_no=order.order_no,
            person_id=order.person_id,
            provider="wechatpay",
            client_kind="jsapi",
        )
        sent = json.loads(responses.calls[0].request.body or b"{}")
        assert sent["payer"] == {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
        assert sent["amount"]["total"] == order.total_fen
        assert payment.prompt["jsapi"]["package"] == "prepay_id=wx2014"

    @responses.activate
    def test_gateway_refusal_writes_nothing(self, wechat_platform: WechatPlatform) -> None:
        from freshloop.payments.errors import PaymentGatewayError

        body = b'{"code":"PARAM_ERROR","message":"bad"}'
        responses.add(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/pay/transactions/h5",
            body=body,
            status=400,
            headers=wechat_platform.response_headers(body),
        )
        order = make_order()
        with pytest.raises(PaymentGatewayError):
            payment_create(
                order_no=order.order_no,
                person_id=order.person_id,
                provider="wechatpay",
                client_kind="h5",
            )
        assert not Payment.objects.exists()


class TestPaymentNotificationHandle:
    def test_valid_wechat_notification_pays_the_order(
        self, wechat_platform: WechatPlatform
    ) -> None:
        order = make_order()
        payment = Payment.objects.create(  # what payment_create stores after WeChat's prepay
            payment_no="PAY_WX1",
            order=order,
            provider="wechatpay",
            client_kind="h5",
            amount_fen=order.total_fen,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        headers, body = _wechat_notify(wechat_platform, payment)
        outcome = payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        assert (outcome.accepted, outcome.code, outcome.ack.status) == (True, "paid", 204)
        payment.refresh_from_db()
        order.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED
        assert payment.transaction_id == "4200000000202405011234567890"
        assert (order.status, order.paid_fen, order.payment_provider) == (
            OrderStatus.PAID,
            order.total_fen,
            "wechatpay",
        )
        log = PaymentNotificationLog.objects.get()
        assert (log.verified, log.outcome, log.out_trade_no) == (True, "paid", "PAY_WX1")
        assert AuditLog.objects.filter(action="payments.succeeded").count() == 1

    def _wechat_payment(self) -> Payment:
        order = make_order()
        return Payment.objects.create(
            payment_no="PAY_WX1",
            order=order,
            provider="wechatpay",
            client_kind="h5",
            amount_fen=order.total_fen,
            created_at=clock.now(),
            updated_at=clock.now(),
        )

    def _nothing_changed(self, payment: Payment) -> None:
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.CREATED
        assert payment.transaction_id == ""
        assert Order.objects.get(pk=payment.order_id).status == OrderStatus.PENDING_PAYMENT

    def test_forged_signature_changes_nothing(self, wechat_platform: WechatPlatform) -> None:
        payment = self._wechat_payment()
        headers, body = wechat_platform.notification(
            wechat_transaction(out_trade_no=payment.payment_no, total=payment.amount_fen),
            signing_key=rsa_key("attacker"),
        )
        outcome = payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        assert (outcome.accepted, outcome.code, outcome.ack.status) == (False, "forged", 400)
        assert json.loads(outcome.ack.body)["code"] == "FAIL"
        self._nothing_changed(payment)
        log = PaymentNotificationLog.objects.get()
        assert (log.verified, log.outcome) == (False, "forged")
        # logged, not alerted: anyone can post to the notify URL
        assert _alerts() == []

    def test_tampered_body_changes_nothing(self, wechat_platform: WechatPlatform) -> None:
        payment = self._wechat_payment()
        headers, body = _wechat_notify(wechat_platform, payment)
        envelope = json.loads(body)
        envelope["summary"] = "支付成功!"
        tampered = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        outcome = payment_notification_handle(provider="wechatpay", headers=headers, body=tampered)
        assert outcome.code == "forged"
        self._nothing_changed(payment)

    def test_stale_notification_changes_nothing(self, wechat_platform: WechatPlatform) -> None:
        payment = self._wechat_payment()
        headers, body = wechat_platform.notification(
            wechat_transaction(out_trade_no=payment.payment_no, total=payment.amount_fen),
            now=clock.now() - dt.timedelta(minutes=6),
        )
        assert (
            payment_notification_handle(provider="wechatpay", headers=headers, body=body).code
            == "forged"
        )
        self._nothing_changed(payment)

    def test_wrong_apiv3_key_changes_nothing(self, wechat_platform: WechatPlatform) -> None:
        payment = self._wechat_payment()
        headers, body = wechat_platform.notification(
            wechat_transaction(out_trade_no=payment.payment_no, total=payment.amount_fen),
            apiv3_key="0" * 32,
        )
        assert (
            payment_notification_handle(provider="wechatpay", headers=headers, body=body).code
            == "forged"
        )
        self._nothing_changed(payment)

    def test_replayed_notification_is_acknowledged_without_a_second_effect(
        self, wechat_platform: WechatPlatform
    ) -> None:
        payment = self._wechat_payment()
        headers, body = _wechat_notify(wechat_platform, payment)
        first = payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        second = payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        assert (first.code, second.code) == ("paid", "duplicate")
        assert second.accepted
        assert second.ack.status == 204
        assert AuditLog.objects.filter(action="payments.succeeded").count() == 1
        assert AuditLog.objects.filter(action="orders.paid").count() == 1
        assert PaymentNotificationLog.objects.count() == 2

    def test_amount_mismatch_is_rejected_and_alerted(self, wechat_platform: WechatPlatform) -> None:
        payment = self._wechat_payment()
        headers, body = _wechat_notify(wechat_platform, payment, total=1)
        outcome = payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        assert (outcome.accepted, outcome.code) == (False, "amount_mismatch")
        self._nothing_changed(payment)
        [alert] = _alerts()
        assert alert.payload["kind"] == "payments.amount_mismatch"
        assert alert.payload["amount_fen"] == 1
        assert alert.payload["expected_fen"] == payment.amount_fen
        assert AuditLog.objects.filter(action="payments.alert.amount_mismatch").exists()

    def test_an_amount_mismatch_alert_is_delivered_by_the_relay(
        self,
        wechat_platform: WechatPlatform,
        committed: Committed,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # given a callback claiming 1 fen for a payment of the order total
        payment = self._wechat_payment()
        headers, body = _wechat_notify(wechat_platform, payment, total=1)
        # when it is handled and committed (an alert is urgent: the relay runs at once)
        with caplog.at_level(logging.ERROR, logger="freshloop.alerts"), committed():
            payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        # then the alert left the outbox through the alert channel's sender, not waiting or
        # failing for want of one
        [alert] = _alerts()
        assert alert.status == OutboxStatus.SENT
        assert (alert.attempts, alert.last_error) == (1, "")
        assert alert.provider_message_id == f"log-alert-{alert.pk}"
        # and the on-call log carries what happened
        [line] = [r for r in caplog.records if r.name == "freshloop.alerts"]
        assert line.alert["kind"] == "payments.amount_mismatch"  # type: ignore[attr-defined]
        assert line.alert["details"]["out_trade_no"] == payment.payment_no  # type: ignore[attr-defined]
        assert line.alert["details"]["expected_fen"] == payment.amount_fen  # type: ignore[attr-defined]
        # and a later relay tick has nothing left to send
        assert outbox_relay().sent == 0

    def test_unknown_out_trade_no_is_rejected_and_alerted(
        self, wechat_platform: WechatPlatform
    ) -> None:
        headers, body = wechat_platform.notification(
            wechat_transaction(out_trade_no="PAY_NOBODY", total=100)
        )
        outcome = payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        assert (outcome.accepted, outcome.code) == (False, "unknown_out_trade_no")
        assert [a.payload["kind"] for a in _alerts()] == ["payments.unknown_out_trade_no"]
        assert not Payment.objects.exists()

    def test_a_failed_payment_is_recorded_and_the_order_stays_open(self) -> None:
        order, payment = _pay_order()
        assert _sandbox_pays(payment, succeed=False) == "failure_recorded"
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.FAILED
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_PAYMENT

    def test_money_for_a_cancelled_order_is_sent_back(self, committed: Committed) -> None:
        order, payment = _pay_order()
        order_cancel(order_no=order.order_no, reason="超时未支付", actor=OPERATOR)
        with committed():  # the refund is submitted after commit
            assert _sandbox_pays(payment) == "late_payment_refunding"
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.REFUNDED  # the sandbox refunds at once
        refund = Refund.objects.get()
        assert (refund.origin, refund.status, refund.amount_fen) == (
            RefundOrigin.LATE_PAYMENT,
            RefundStatus.SUCCEEDED,
            payment.amount_fen,
        )
        assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED

    def test_a_second_payment_for_a_paid_order_is_sent_back(self, committed: Committed) -> None:
        order, first = _pay_order()
        second = payment_create(
            order_no=order.order_no,
            person_id=order.person_id,
            provider="sandbox",
            client_kind="jsapi",
        )
        assert _sandbox_pays(second) == "paid"
        with committed():
            assert _sandbox_pays(first) == "late_payment_refunding"
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID
        assert Refund.objects.get().payment_id == first.pk


class TestNotPaidAfterPaid:
    def test_a_failure_reported_for_booked_money_is_alerted_and_changes_nothing(self) -> None:
        # given a payment booked as paid
        _, payment = _pay_order()
        assert _sandbox_pays(payment) == "paid"
        # when the provider later reports it as not paid
        code = _sandbox_pays(payment, succeed=False)
        # then the money stays booked, the provider is answered (no endless retries), and a
        # person is alerted — it used to be accepted silently
        assert code == "payment_state_conflict"
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED
        (alert,) = _alerts()
        assert alert.payload["kind"] == "payments.payment_state_conflict"
        assert alert.payload["booked"] == PaymentStatus.SUCCEEDED


class TestAlipayNotifications:
    def _payment(self) -> Payment:
        order = make_order(price_fen=6150, quantity=2)
        return payment_create(
            order_no=order.order_no, person_id=order.person_id, provider="alipay", client_kind="h5"
        )

    def test_valid_notify_pays_and_answers_success(self, alipay_gateway: FakeAlipayGateway) -> None:
        payment = self._payment()
        body = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
        )
        outcome = payment_notification_handle(provider="alipay", headers={}, body=body)
        assert (outcome.code, outcome.ack.body) == ("paid", b"success")
        assert Order.objects.get(pk=payment.order_id).status == OrderStatus.PAID

    def test_replay_is_idempotent(self, alipay_gateway: FakeAlipayGateway) -> None:
        payment = self._payment()
        body = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
        )
        codes = [
            payment_notification_handle(provider="alipay", headers={}, body=body).code
            for _ in range(3)
        ]
        assert codes == ["paid", "duplicate", "duplicate"]
        assert AuditLog.objects.filter(action="orders.paid").count() == 1

    def test_forged_notify_answers_fail(self, alipay_gateway: FakeAlipayGateway) -> None:
        payment = self._payment()
        body = alipay_notification(
            rsa_key("attacker"), out_trade_no=payment.payment_no, total_amount="123.00"
        )
        outcome = payment_notification_handle(provider="alipay", headers={}, body=body)
        assert (outcome.code, outcome.ack.body) == ("forged", b"fail")
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CREATED

    def test_wrong_app_id_answers_fail(self, alipay_gateway: FakeAlipayGateway) -> None:
        payment = self._payment()
        body = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
            app_id="2021000000009999",
        )
        outcome = payment_notification_handle(provider="alipay", headers={}, body=body)
        assert (outcome.code, outcome.ack.body) == ("forged", b"fail")
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CREATED


def _approved_refund(order: Order, amount_fen: int, committed: Committed) -> str:
    request = order_refund_request(
        order_no=order.order_no, reason="坏了一盒", actor=OPERATOR, amount_fen=amount_fen
    )
    with committed():  # OrderRefundApproved is delivered after commit
        refund_request_approve(refund_no=request.refund_no, actor=OPERATOR)
    return request.refund_no


class TestRefundStart:
    def test_sandbox_refund_completes_the_order_refund(self, committed: Committed) -> None:
        order, payment = _pay_order()
        _sandbox_pays(payment)
        refund_no = _approved_refund(
            order, 1000, committed
        )  # the OrderRefundApproved handler starts it
        refund = Refund.objects.get(refund_no=refund_no)
        assert (refund.status, refund.amount_fen, refund.origin) == (
            RefundStatus.SUCCEEDED,
            1000,
            RefundOrigin.ORDER_REFUND,
        )
        payment.refresh_from_db()
        assert (payment.status, payment.refunded_fen) == (PaymentStatus.PARTIALLY_REFUNDED, 1000)
        order.refresh_from_db()
        assert (order.status, order.refunded_fen) == (OrderStatus.PARTIALLY_REFUNDED, 1000)
        assert AuditLog.objects.filter(action="payments.refund_succeeded").count() == 1

    def test_repeated_event_starts_one_refund(self, committed: Committed) -> None:
        order, payment = _pay_order()
        _sandbox_pays(payment)
        refund_no = _approved_refund(order, 1000, committed)
        again = refund_start(
            order_no=order.order_no, refund_no=refund_no, amount_fen=1000, reason="x"
        )
        assert Refund.objects.count() == 1
        assert again.refund_no == refund_no
        assert Order.objects.get(pk=order.pk).refunded_fen == 1000

    @responses.activate
    def test_wechat_refund_waits_for_its_notification(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        order = make_order()
        payment = Payment.objects.create(
            payment_no="PAY_WX1",
            order=order,
            provider="wechatpay",
            client_kind="h5",
            amount_fen=order.total_fen,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        headers, body = _wechat_notify(wechat_platform, payment)
        payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        answer = json.dumps({"refund_id": "5000000038", "status": "PROCESSING"}).encode()
        responses.add(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/refund/domestic/refunds",
            body=answer,
            headers=wechat_platform.response_headers(answer),
        )
        refund_no = _approved_refund(order, 1500, committed)
        refund = Refund.objects.get(refund_no=refund_no)
        assert (refund.status, refund.provider_refund_id) == (RefundStatus.PENDING, "5000000038")
        assert Order.objects.get(pk=order.pk).refunded_fen == 0

        headers, body = wechat_platform.notification(
            wechat_refund_resource(
                out_refund_no=refund_no, out_trade_no="PAY_WX1", refund=1500, total=order.total_fen
            ),
            event_type="REFUND.SUCCESS",
            original_type="refund",
        )
        first = refund_notification_handle(provider="wechatpay", headers=headers, body=body)
        replay = refund_notification_handle(provider="wechatpay", headers=headers, body=body)
        assert (first.code, replay.code) == ("refunded", "duplicate")
        assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCEEDED
        order.refresh_from_db()
        assert (order.status, order.refunded_fen) == (OrderStatus.PARTIALLY_REFUNDED, 1500)
        assert Payment.objects.get(pk=payment.pk).refunded_fen == 1500

    @responses.activate
    def test_refund_notification_with_another_amount_is_alerted(
        self, wechat_platform: WechatPlatform, committed: Committed
    ) -> None:
        order = make_order()
        payment = Payment.objects.create(
            payment_no="PAY_WX1",
            order=order,
            provider="wechatpay",
            client_kind="h5",
            amount_fen=order.total_fen,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        headers, body = _wechat_notify(wechat_platform, payment)
        payment_notification_handle(provider="wechatpay", headers=headers, body=body)
        answer = json.dumps({"refund_id": "5000000038", "status": "PROCESSING"}).encode()
        responses.add(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/refund/domestic/refunds",
            body=answer,
            headers=wechat_platform.response_headers(answer),
        )
        refund_no = _approved_refund(order, 1500, committed)
        headers, body = wechat_platform.notification(
            wechat_refund_resource(
                out_refund_no=refund_no, out_trade_no="PAY_WX1", refund=9999, total=order.total_fen
            ),
            event_type="REFUND.SUCCESS",
            original_type="refund",
        )
        outcome = refund_notification_handle(provider="wechatpay", headers=headers, body=body)
        assert (outcome.accepted, outcome.code) == (False, "refund_amount_mismatch")
        assert Refund.objects.get(refund_no=refund_no).status == RefundStatus.PENDING
        assert [a.payload["kind"] for a in _alerts()] == ["payments.refund_amount_mismatch"]

    def test_alipay_refund_settles_from_its_synchronous_answer(
        self, alipay_gateway: FakeAlipayGateway, committed: Committed
    ) -> None:
        order = make_order()
        payment = payment_create(
            order_no=order.order_no, person_id=order.person_id, provider="alipay", client_kind="h5"
        )
        body = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
        )
        payment_notification_handle(provider="alipay", headers={}, body=body)
        refund_no = _approved_refund(order, order.total_fen, committed)
        assert alipay_gateway.requests[-1]["biz_content"]["out_request_no"] == refund_no
        assert Refund.objects.get(refund_no=refund_no).status == RefundStatus.SUCCEEDED
        order.refresh_from_db()
        assert order.status == OrderStatus.REFUNDED
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.REFUNDED

        # Alipay's later notification about the same refund is acknowledged and changes nothing.
        refund_body = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
            trade_status="TRADE_CLOSED",
            extra={
                "out_biz_no": refund_no,
                "refund_fee": f"{order.total_fen / 100:.2f}",
                "gmt_refund": "2024-05-02 10:00:00.123",
            },
        )
        outcome = payment_notification_handle(provider="alipay", headers={}, body=refund_body)
        assert (outcome.code, outcome.ack.body) == ("duplicate", b"success")
        assert Order.objects.get(pk=order.pk).refunded_fen == order.total_fen

    def test_refund_above_what_was_paid_is_refused(self, committed: Committed) -> None:
        from freshloop.payments.errors import RefundAmountInvalid

        order, payment = _pay_order()
        _sandbox_pays(payment)
        with pytest.raises(RefundAmountInvalid):
            refund_start(
                order_no=order.order_no,
                refund_no="R_TOO_MUCH",
                amount_fen=order.total_fen + 1,
                reason="",
            )
        assert not Refund.objects.exists()
