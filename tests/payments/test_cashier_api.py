"""HTTP: the cashier picks the way to pay by where the buyer is, draws QR codes, and asks the
provider (查单) when the buyer comes back."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import pytest
from django.test import Client

from freshloop.identity.models import IdentifierType, Person
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.models import Payment
from freshloop.payments.providers import payment_provider
from freshloop.payments.providers.sandbox import SandboxProvider
from tests.factories import make_person
from tests.payments.helpers import WECHAT_APPID, WechatPlatform, make_order

pytestmark = pytest.mark.django_db

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI"
)
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36"
)
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


def _bearer(person: Person, agent: str = PHONE_UA) -> dict[str, str]:
    token, _ = consumer_token_issue(person=person, method="otp")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_USER_AGENT": agent}


def _methods(client: Client, person: Person, agent: str) -> dict[str, Any]:
    response = client.get("/api/v1/payments/methods", **_bearer(person, agent))
    assert response.status_code == 200, response.content
    return dict(response.json())


def _pay(client: Client, order: Order, **fields: Any) -> Any:
    body = {"order_no": order.order_no, "provider": "sandbox", "client_kind": "h5", **fields}
    return client.post(
        "/api/v1/payments", body, content_type="application/json", **_bearer(order.person)
    )


class TestMethodsByContext:
    def test_the_sandbox_alone_follows_the_buyers_context(self, client: Client) -> None:
        person = make_person()
        for agent, context, kind in (
            (WECHAT_UA, "wechat", "jsapi"),
            (PHONE_UA, "mobile", "h5"),
            (DESKTOP_UA, "desktop", "native"),
        ):
            answer = _methods(client, person, agent)
            assert answer["context"] == context
            assert [(m["provider"], m["client_kind"]) for m in answer["methods"]] == [
                ("sandbox", kind)
            ]

    def test_inside_wechat_jsapi_needs_the_buyers_openid(
        self, client: Client, wechat_platform: WechatPlatform
    ) -> None:
        # given WeChat Pay configured and a buyer who logged in by phone only
        person = make_person(phone="13800138123")
        first = _methods(client, person, WECHAT_UA)["methods"][0]
        # then WeChat Pay is offered but not ready, and says why
        assert (first["provider"], first["client_kind"], first["ready"]) == (
            "wechatpay",
            "jsapi",
            False,
        )
        assert "微信授权登录" in first["hint"]
        # when the buyer logs in with WeChat (their openid under our app)
        same = identify(
            identifiers=[
                IdentifierInput(type=IdentifierType.PHONE, value="13800138123", verified=True),
                IdentifierInput(
                    type=IdentifierType.WECHAT_OPENID,
                    value="oUpF8uMuAJO_M2px",
                    scope=WECHAT_APPID,
                    verified=True,
                ),
            ],
            source="wechat_oauth",
        ).person
        assert same.pk == person.pk
        # then JSAPI is ready
        assert _methods(client, person, WECHAT_UA)["methods"][0]["ready"] is True

    def test_a_phone_gets_h5_and_a_desktop_gets_the_qr(
        self, client: Client, wechat_platform: WechatPlatform
    ) -> None:
        person = make_person()
        phone = _methods(client, person, PHONE_UA)["methods"]
        desktop = _methods(client, person, DESKTOP_UA)["methods"]
        assert [(m["provider"], m["client_kind"]) for m in phone][:1] == [("wechatpay", "h5")]
        assert [(m["provider"], m["client_kind"]) for m in desktop][:1] == [("wechatpay", "native")]
        assert phone[-1]["provider"] == "sandbox"  # the demo's own, last

    def test_methods_need_a_logged_in_buyer(self, client: Client) -> None:
        assert client.get("/api/v1/payments/methods").status_code == 401


class TestQrCashier:
    def test_a_desktop_payment_comes_with_a_qr_of_the_cashier(self, client: Client) -> None:
        order = make_order()
        response = _pay(client, order, client_kind="native")
        assert response.status_code == 200, response.content
        prompt = response.json()["prompt"]
        assert prompt["kind"] == "qr"
        # the QR holds an address a phone can open: absolute, on this site
        assert prompt["qr_content"].startswith("/m/pay/")
        assert prompt["qr_svg"].startswith("data:image/svg+xml")
        header, _, data = prompt["qr_svg"].partition(",")
        decoded = base64.b64decode(data).decode() if header.endswith(";base64") else unquote(data)
        assert "<svg" in decoded
        assert "<path" in decoded


class TestReturnTo:
    def test_the_provider_page_returns_to_the_live_room(self, client: Client) -> None:
        order = make_order()
        response = _pay(client, order, return_to="/live/L1?paid=1")
        assert response.status_code == 200, response.content
        assert response.json()["prompt"]["redirect_url"].endswith("?next=%2Flive%2FL1%3Fpaid%3D1")

    @pytest.mark.parametrize(
        "target", ["https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com"]
    )
    def test_another_site_is_refused(self, client: Client, target: str) -> None:
        response = _pay(client, make_order(), return_to=target)
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
        assert not Payment.objects.exists()


class TestSyncEndpoint:
    def test_the_returning_buyer_sees_the_payment_booked_by_query(self, client: Client) -> None:
        # given a buyer who paid at the provider, and a callback that was lost
        order = make_order()
        payment_no = _pay(client, order).json()["payment_no"]
        sandbox = payment_provider("sandbox")
        assert isinstance(sandbox, SandboxProvider)
        sandbox.record_paid(payment_no=payment_no, amount_fen=order.total_fen)
        # when their page asks on return
        response = client.post(f"/api/v1/payments/{payment_no}/sync", **_bearer(order.person))
        # then the answer is the provider's: paid
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "succeeded"
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID

    def test_another_buyer_cannot_probe_a_payment(self, client: Client) -> None:
        order = make_order()
        payment_no = _pay(client, order).json()["payment_no"]
        response = client.post(f"/api/v1/payments/{payment_no}/sync", **_bearer(make_person()))
        assert response.status_code == 404
        assert response.json()["code"] == "payment_not_found"
