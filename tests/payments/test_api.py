"""HTTP: the consumer's pay call, the sandbox cashier page, and the providers' callback URLs."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.test import Client, override_settings

from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.models import Payment, PaymentNotificationLog, PaymentStatus
from freshloop.payments.services import payment_create
from tests.factories import make_person
from tests.payments.helpers import (
    FakeAlipayGateway,
    WechatPlatform,
    alipay_notification,
    make_order,
    rsa_key,
    wechat_h5_payment,
    wechat_transaction,
)

pytestmark = pytest.mark.django_db


def _bearer(person: Person) -> dict[str, str]:
    token, _ = consumer_token_issue(person=person, method="otp")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _create(client: Client, order: Order, **fields: Any) -> Any:
    body = {"order_no": order.order_no, "provider": "sandbox", "client_kind": "h5", **fields}
    return client.post(
        "/api/v1/payments", body, content_type="application/json", **_bearer(order.person)
    )


class TestCreatePaymentApi:
    def test_returns_the_sandbox_cashier_url(self, client: Client) -> None:
        order = make_order()
        response = _create(client, order)
        assert response.status_code == 200, response.content
        body = response.json()
        payment = Payment.objects.get()
        assert body["payment_no"] == payment.payment_no
        assert body["amount_fen"] == order.total_fen
        assert body["prompt"] == {
            "kind": "redirect",
            "redirect_url": f"/m/pay/{payment.payment_no}?next=%2Fm%2Forders%2F{order.order_no}",
            "jsapi": {},
            "qr_content": "",
            "qr_svg": "",
        }

    def test_needs_a_logged_in_consumer(self, client: Client) -> None:
        order = make_order()
        response = client.post(
            "/api/v1/payments",
            {"order_no": order.order_no, "provider": "sandbox"},
            content_type="application/json",
        )
        assert response.status_code == 401

    def test_someone_elses_order_is_not_found(self, client: Client) -> None:
        order = make_order()
        response = client.post(
            "/api/v1/payments",
            {"order_no": order.order_no, "provider": "sandbox"},
            content_type="application/json",
            **_bearer(make_person()),
        )
        assert response.status_code == 404
        assert response.json()["code"] == "order_not_found"

    def test_unknown_provider_and_fields_are_clear_errors(self, client: Client) -> None:
        order = make_order()
        unknown = _create(client, order, provider="paypal")
        assert unknown.status_code == 422
        assert unknown.json()["code"] == "payment_provider_unavailable"
        extra = _create(client, order, tip_fen=100)
        assert extra.status_code == 422
        assert not Payment.objects.exists()


class TestSandboxCashierEndToEnd:
    def test_pay_through_the_cashier_page(self, client: Client) -> None:
        # given an unpaid order and a payment opened through the API
        order = make_order(price_fen=4990, quantity=1)
        url = _create(client, order).json()["prompt"]["redirect_url"]
        # when the consumer opens the cashier and confirms
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "¥" in html
        assert "确认支付" in html
        assert "模拟支付失败" in html
        response = client.post(url, {"action": "succeed"})
        # then the signed notification went through verification and the order is paid
        assert response.status_code == 302
        assert response["Location"] == f"/m/orders/{order.order_no}"
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID
        assert order.payment_provider == "sandbox"
        log = PaymentNotificationLog.objects.get()
        assert (log.provider, log.verified, log.outcome) == ("sandbox", True, "paid")
        # and pressing the button again changes nothing
        assert client.post(url, {"action": "succeed"}).status_code == 302
        assert PaymentNotificationLog.objects.count() == 1

    def test_simulated_failure_leaves_the_order_open(self, client: Client) -> None:
        order = make_order()
        url = _create(client, order).json()["prompt"]["redirect_url"]
        response = client.post(url, {"action": "fail"})
        assert response.status_code == 302
        assert Payment.objects.get().status == PaymentStatus.FAILED
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_PAYMENT
        # the consumer can try again with a fresh payment
        again = _create(client, order)
        assert again.json()["payment_no"] != Payment.objects.order_by("pk").first().payment_no  # type: ignore[union-attr]

    def test_unknown_payment_page_is_404(self, client: Client) -> None:
        assert client.get("/m/pay/PAY_NOPE").status_code == 404

    def test_page_is_gone_without_the_sandbox(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from freshloop.payments.providers import providers_reset

        order = make_order()
        url = _create(client, order).json()["prompt"]["redirect_url"]
        monkeypatch.setenv("FRESHLOOP_PAYMENTS_SANDBOX", "false")
        providers_reset()
        assert client.post(url, {"action": "succeed"}).status_code == 404
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_PAYMENT


class TestNotifyEndpoints:
    def _wechat_payment(self) -> Payment:
        order = make_order()
        return Payment.objects.create(
            payment_no="PAY_WX1",
            order=order,
            provider="wechatpay",
            client_kind="h5",
            amount_fen=order.total_fen,
            created_at=order.created_at,
            updated_at=order.created_at,
        )

    def _post_wechat(
        self, client: Client, headers: dict[str, str], body: bytes, path: str = ""
    ) -> Any:
        meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        return client.generic(
            "POST",
            f"/api/v1/payments/notify/wechatpay{path}",
            body,
            content_type="application/json",
            **meta,
        )

    def test_wechat_success_is_204_and_failure_is_fail_json(
        self, client: Client, wechat_platform: WechatPlatform
    ) -> None:
        payment = self._wechat_payment()
        headers, body = wechat_platform.notification(
            wechat_transaction(out_trade_no=payment.payment_no, total=payment.amount_fen)
        )
        forged = self._post_wechat(client, {**headers, "Wechatpay-Nonce": "other"}, body)
        assert forged.status_code == 400
        assert forged.json()["code"] == "FAIL"
        accepted = self._post_wechat(client, headers, body)
        assert accepted.status_code == 204
        assert accepted.content == b""
        assert Order.objects.get(pk=payment.order_id).status == OrderStatus.PAID

    def test_alipay_answers_plain_success_or_fail(
        self, client: Client, alipay_gateway: FakeAlipayGateway
    ) -> None:
        order = make_order()
        payment = Payment.objects.create(
            payment_no="PAY_ALI1",
            order=order,
            provider="alipay",
            client_kind="h5",
            amount_fen=order.total_fen,
            created_at=order.created_at,
            updated_at=order.created_at,
        )
        good = alipay_notification(
            rsa_key("alipay-platform"),
            out_trade_no=payment.payment_no,
            total_amount=f"{payment.amount_fen / 100:.2f}",
        )
        bad = alipay_notification(
            rsa_key("attacker"), out_trade_no=payment.payment_no, total_amount="1.00"
        )
        form = "application/x-www-form-urlencoded; charset=utf-8"
        rejected = client.generic("POST", "/api/v1/payments/notify/alipay", bad, content_type=form)
        assert (rejected.status_code, rejected.content) == (200, b"fail")
        accepted = client.generic("POST", "/api/v1/payments/notify/alipay", good, content_type=form)
        assert (accepted.status_code, accepted.content) == (200, b"success")
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID

    def test_unconfigured_provider_is_404(self, client: Client) -> None:
        response = client.post(
            "/api/v1/payments/notify/wechatpay", b"{}", content_type="application/json"
        )
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_garbage_is_refused_not_a_500(self, client: Client) -> None:
        for path in ("/api/v1/payments/notify/sandbox", "/api/v1/payments/notify/sandbox/refund"):
            response = client.post(path, b"\xff\x00not json", content_type="application/json")
            assert response.status_code == 400
            assert json.loads(response.content)["code"] == "FAIL"
        assert PaymentNotificationLog.objects.filter(verified=False).count() == 2


# What production runs with behind its TLS proxy (config/settings.py, FRESHLOOP_BEHIND_TLS).
BEHIND_TLS = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}


@pytest.mark.usefixtures("wechat_api")
class TestProviderCallbacksThroughAProxy:
    """A proxy that forwards a provider's callback without X-Forwarded-Proto makes it look like
    plain http. WeChat Pay and Alipay do not follow redirects: a 301 there loses the callback,
    so provider callback paths are never redirected, while pages and the consumer API are."""

    @override_settings(**BEHIND_TLS)
    def test_a_plain_http_wechat_callback_is_processed_not_redirected(
        self, client: Client, wechat_platform: WechatPlatform
    ) -> None:
        # given a WeChat Pay payment, and production's https redirect
        payment = wechat_h5_payment(wechat_platform)
        headers, body = wechat_platform.notification(
            wechat_transaction(out_trade_no=payment.payment_no, total=payment.amount_fen)
        )
        meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}

        # when its genuine callback arrives over plain http, without X-Forwarded-Proto
        response = client.generic(
            "POST",
            "/api/v1/payments/notify/wechatpay",
            body,
            content_type="application/json",
            **meta,
        )

        # then it is answered and booked, not redirected
        assert response.status_code == 204
        assert Order.objects.get(pk=payment.order_id).status == OrderStatus.PAID

    @override_settings(**BEHIND_TLS)
    def test_a_plain_http_alipay_callback_is_processed_not_redirected(
        self, client: Client, alipay_gateway: FakeAlipayGateway
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
        response = client.generic(
            "POST",
            "/api/v1/payments/notify/alipay",
            body,
            content_type="application/x-www-form-urlencoded; charset=utf-8",
            HTTP_X_FORWARDED_PROTO="http",
        )
        assert (response.status_code, response.content) == (200, b"success")
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID

    @override_settings(**BEHIND_TLS)
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/payments/notify/sandbox/refund",
            # Delivery receipts (SMS providers post them back) fall under the same rule,
            # whatever module mounts them; an unmounted one is a 404, never a 301.
            "/api/v1/messaging/sms/receipts/aliyun",
            "/api/v1/messaging/receipt/tencent",
        ],
    )
    def test_every_provider_callback_path_is_exempt(self, client: Client, path: str) -> None:
        response = client.post(path, b"{}", content_type="application/json")
        assert response.status_code != 301

    @override_settings(**BEHIND_TLS)
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/"),
            ("get", "/m/auth/wechat/callback"),  # a browser's OAuth return: it follows redirects
            ("post", "/api/v1/payments"),
            ("get", "/api/v1/payments/notifyx/wechatpay"),
            ("get", "/api/v1/notify-me"),
        ],
    )
    def test_pages_and_the_consumer_api_still_redirect_to_https(
        self, client: Client, method: str, path: str
    ) -> None:
        response = getattr(client, method)(path)
        assert response.status_code == 301
        assert response["Location"] == f"https://testserver{path}"

    @override_settings(**BEHIND_TLS)
    def test_a_callback_over_https_is_processed_as_before(self, client: Client) -> None:
        response = client.post(
            "/api/v1/payments/notify/sandbox",
            b"not json",
            content_type="application/json",
            HTTP_X_FORWARDED_PROTO="https",
        )
        assert response.status_code == 400  # refused as unverifiable, not redirected


class TestRefundFromTheBackOffice:
    def test_operator_approval_refunds_a_sandbox_payment(
        self, client: Client, committed: Callable[[], AbstractContextManager[Any]]
    ) -> None:
        from freshloop.core.audit import Actor
        from freshloop.orders.services import order_refund_request, refund_request_approve

        order = make_order()
        url = _create(client, order).json()["prompt"]["redirect_url"]
        client.post(url, {"action": "succeed"})
        operator = Actor(type="user", id="1", label="客服")
        request = order_refund_request(
            order_no=order.order_no, reason="不新鲜", actor=operator, amount_fen=order.total_fen
        )
        with committed():
            refund_request_approve(refund_no=request.refund_no, actor=operator)
        order.refresh_from_db()
        assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, order.total_fen)
        assert Payment.objects.get().status == PaymentStatus.REFUNDED
