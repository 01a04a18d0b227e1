"""Provider adapters against payloads built per the providers' published specifications."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import secrets
from collections.abc import Callable
from urllib.parse import parse_qsl, urlparse

import pytest
import responses
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from freshloop.core import clock
from freshloop.payments.config import PaymentsConfigurationError, payments_config
from freshloop.payments.providers import (
    ClientKind,
    ForgedNotification,
    NotificationStatus,
    Payer,
    PaymentRequest,
    PromptKind,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
    enabled_providers,
    payment_provider,
    providers_reset,
    wechat_v3,
)
from freshloop.payments.providers.alipay import AlipayProvider
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.providers.wechatpay import WechatPayV3Provider
from tests.payments.helpers import (
    ALIPAY_APP_ID,
    ALIPAY_QR_CODE,
    ALIPAY_TRADE_NO,
    WECHAT_APPID,
    FakeAlipayGateway,
    WechatPlatform,
    alipay_failure,
    alipay_notification,
    alipay_signing_string,
    alipay_trade,
    private_pem,
    public_pem,
    rsa2_sign,
    rsa2_verify,
    rsa_key,
    self_signed_certificate,
    wechat_refund_resource,
    wechat_transaction,
)

NOW = dt.datetime(2024, 5, 1, 2, 35, tzinfo=dt.UTC)


def _wechat() -> WechatPayV3Provider:
    provider = payment_provider("wechatpay")
    assert isinstance(provider, WechatPayV3Provider)
    return provider


def _alipay() -> AlipayProvider:
    provider = payment_provider("alipay")
    assert isinstance(provider, AlipayProvider)
    return provider


class TestProviderConfiguration:
    def test_only_the_sandbox_without_configuration(self) -> None:
        assert sorted(enabled_providers()) == ["sandbox"]

    def test_sandbox_can_be_switched_off(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FRESHLOOP_PAYMENTS_SANDBOX", "false")
        providers_reset()
        assert enabled_providers() == {}

    def test_incomplete_wechat_configuration_is_an_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FRESHLOOP_WECHATPAY_MCHID", "1900000109")
        providers_reset()
        with pytest.raises(PaymentsConfigurationError, match="APPID"):
            payments_config()

    def test_real_providers_need_an_https_notify_url(
        self, wechat_platform: WechatPlatform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FRESHLOOP_PAYMENTS_NOTIFY_BASE_URL", "http://shop.example.com")
        providers_reset()
        with pytest.raises(PaymentsConfigurationError, match="https"):
            payments_config()

    def test_configured_providers_are_enabled(
        self, wechat_platform: WechatPlatform, alipay_gateway: FakeAlipayGateway
    ) -> None:
        assert sorted(enabled_providers()) == ["alipay", "sandbox", "wechatpay"]


class TestWechatParseNotification:
    def _headers_body(
        self, platform: WechatPlatform, **kwargs: object
    ) -> tuple[dict[str, str], bytes]:
        return platform.notification(
            wechat_transaction(out_trade_no="PAY_1", total=12000), **kwargs
        )  # type: ignore[arg-type]

    def test_valid_notification_is_read(self, wechat_platform: WechatPlatform) -> None:
        headers, body = self._headers_body(wechat_platform, now=NOW)
        with clock.frozen(NOW + dt.timedelta(seconds=30)):
            notification = _wechat().parse_notification(headers, body)
        assert notification.out_trade_no == "PAY_1"
        assert notification.amount_fen == 12000
        assert notification.status == NotificationStatus.SUCCEEDED
        assert notification.transaction_id == "4200000000202405011234567890"
        assert notification.paid_at == dt.datetime(2024, 5, 1, 2, 34, 56, tzinfo=dt.UTC)

    def test_signature_by_another_key_is_forged(self, wechat_platform: WechatPlatform) -> None:
        headers, body = self._headers_body(
            wechat_platform, now=NOW, signing_key=rsa_key("attacker")
        )
        with clock.frozen(NOW), pytest.raises(ForgedNotification, match="signature"):
            _wechat().parse_notification(headers, body)

    def test_tampered_body_is_forged(self, wechat_platform: WechatPlatform) -> None:
        headers, body = self._headers_body(wechat_platform, now=NOW)
        tampered = body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCESX")
        assert tampered != body
        with clock.frozen(NOW), pytest.raises(ForgedNotification, match="signature"):
            _wechat().parse_notification(headers, tampered)

    def test_stale_timestamp_is_refused(self, wechat_platform: WechatPlatform) -> None:
        headers, body = self._headers_body(wechat_platform, now=NOW)
        late = NOW + dt.timedelta(minutes=5, seconds=1)
        with clock.frozen(late), pytest.raises(ForgedNotification, match="window"):
            _wechat().parse_notification(headers, body)
        with clock.frozen(NOW + dt.timedelta(minutes=5)):
            assert _wechat().parse_notification(headers, body).out_trade_no == "PAY_1"

    def test_resource_encrypted_with_another_apiv3_key_is_refused(
        self, wechat_platform: WechatPlatform
    ) -> None:
        headers, body = self._headers_body(
            wechat_platform, now=NOW, apiv3_key=secrets.token_hex(16)
        )
        with clock.frozen(NOW), pytest.raises(ForgedNotification, match="APIv3"):
            _wechat().parse_notification(headers, body)

    def test_unknown_serial_is_refused_without_any_download(
        self, wechat_platform: WechatPlatform
    ) -> None:
        headers, body = self._headers_body(wechat_platform, now=NOW)
        headers["Wechatpay-Serial"] = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
        with clock.frozen(NOW), pytest.raises(ForgedNotification, match="serial"):
            _wechat().parse_notification(headers, body)

    def test_missing_headers_are_refused(self, wechat_platform: WechatPlatform) -> None:
        _, body = self._headers_body(wechat_platform, now=NOW)
        with clock.frozen(NOW), pytest.raises(ForgedNotification, match="missing"):
            _wechat().parse_notification({}, body)

    def test_another_merchants_notification_is_refused(
        self, wechat_platform: WechatPlatform
    ) -> None:
        headers, body = wechat_platform.notification(
            wechat_transaction(out_trade_no="PAY_1", total=1, mchid="1230000109"), now=NOW
        )
        with clock.frozen(NOW), pytest.raises(ForgedNotification, match="merchant"):
            _wechat().parse_notification(headers, body)

    def test_platform_certificate_mode_verifies_by_certificate_serial(
        self, wechat_platform: WechatPlatform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        certificate_key = rsa_key("wechat-platform-cert")
        serial = 0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1
        monkeypatch.delenv("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY")
        monkeypatch.delenv("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY_ID")
        monkeypatch.setenv(
            "FRESHLOOP_WECHATPAY_PLATFORM_CERT", self_signed_certificate(certificate_key, serial)
        )
        providers_reset()
        platform = WechatPlatform(
            private_key=certificate_key,
            serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            apiv3_key=wechat_platform.apiv3_key,
        )
        headers, body = platform.notification(
            wechat_transaction(out_trade_no="PAY_9", total=5), now=NOW
        )
        with clock.frozen(NOW):
            assert _wechat().parse_notification(headers, body).out_trade_no == "PAY_9"


class TestWechatRefundNotification:
    def test_refund_resource_is_read(self, wechat_platform: WechatPlatform) -> None:
        headers, body = wechat_platform.notification(
            wechat_refund_resource(out_refund_no="R1", out_trade_no="PAY_1", refund=500, total=900),
            event_type="REFUND.SUCCESS",
            original_type="refund",
            now=NOW,
        )
        with clock.frozen(NOW):
            notification = _wechat().parse_refund_notification(headers, body)
        assert (notification.refund_no, notification.amount_fen, notification.status) == (
            "R1",
            500,
            RefundStatus.SUCCEEDED,
        )

    def test_abnormal_refund_is_a_failure(self, wechat_platform: WechatPlatform) -> None:
        headers, body = wechat_platform.notification(
            wechat_refund_resource(
                out_refund_no="R1", out_trade_no="PAY_1", refund=500, total=900, status="ABNORMAL"
            ),
            event_type="REFUND.ABNORMAL",
            original_type="refund",
            now=NOW,
        )
        with clock.frozen(NOW):
            assert _wechat().parse_refund_notification(headers, body).status == RefundStatus.FAILED


def _request(client_kind: str = ClientKind.JSAPI) -> PaymentRequest:
    return PaymentRequest(
        payment_no="PAY_01HXTEST",
        amount_fen=12345,
        description="鲜环订单 O_1",
        expires_at=dt.datetime(2024, 5, 1, 3, 0, tzinfo=dt.UTC),
        client_kind=client_kind,
        return_path="/m/orders/O_1",
    )


class TestWechatCreatePayment:
    @responses.activate
    def test_jsapi_order_returns_signed_bridge_parameters(
        self, wechat_platform: WechatPlatform
    ) -> None:
        def answer(request: object) -> tuple[int, dict[str, str], bytes]:
            body = b'{"prepay_id":"wx201410272009395522657a690389285100"}'
            return 200, wechat_platform.response_headers(body), body

        responses.add_callback(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi",
            callback=answer,
        )
        prompt = _wechat().create_payment(_request(), Payer(openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"))
        sent = json.loads(responses.calls[0].request.body or b"{}")
        assert sent["out_trade_no"] == "PAY_01HXTEST"
        assert sent["amount"] == {"total": 12345, "currency": "CNY"}
        assert sent["payer"] == {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
        assert sent["notify_url"] == "https://shop.example.com/api/v1/payments/notify/wechatpay"
        assert sent["time_expire"] == "2024-05-01T11:00:00+08:00"
        assert (
            responses.calls[0]
            .request.headers["Authorization"]
            .startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000109"')
        )
        assert prompt.kind == "jsapi"
        params = prompt.jsapi
        assert params["package"] == "prepay_id=wx201410272009395522657a690389285100"
        assert params["appId"] == WECHAT_APPID
        # paySign is the merchant's RSA-SHA256 over appId\ntimeStamp\nnonceStr\npackage\n
        message = (
            f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
        )
        rsa_key("wechat-merchant").public_key().verify(
            base64.b64decode(params["paySign"]),
            message.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )

    @responses.activate
    def test_h5_order_returns_the_h5_url(self, wechat_platform: WechatPlatform) -> None:
        body = b'{"h5_url":"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"}'
        responses.add(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/pay/transactions/h5",
            body=body,
            headers=wechat_platform.response_headers(body),
        )
        prompt = _wechat().create_payment(_request(ClientKind.H5), Payer(client_ip="14.23.150.211"))
        sent = json.loads(responses.calls[0].request.body or b"{}")
        assert sent["scene_info"]["payer_client_ip"] == "14.23.150.211"
        assert prompt.redirect_url.startswith("https://wx.tenpay.com/")

    @responses.activate
    def test_a_response_not_signed_by_the_platform_is_refused(
        self, wechat_platform: WechatPlatform
    ) -> None:
        from freshloop.payments.providers import ProviderUnavailable

        body = b'{"h5_url":"https://evil.example.com/"}'
        forged = WechatPlatform(rsa_key("attacker"), wechat_platform.serial, "x" * 32)
        responses.add(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/pay/transactions/h5",
            body=body,
            headers=forged.response_headers(body),
        )
        with pytest.raises(ProviderUnavailable):
            _wechat().create_payment(_request(ClientKind.H5), Payer(client_ip="1.2.3.4"))


class TestWechatRefund:
    @responses.activate
    def test_processing_refund_waits_for_the_notification(
        self, wechat_platform: WechatPlatform
    ) -> None:
        body = json.dumps(
            {
                "refund_id": "50000000382019052709732678859",
                "out_refund_no": "R1",
                "status": "PROCESSING",
            }
        ).encode()
        responses.add(
            responses.POST,
            "https://api.mch.weixin.qq.com/v3/refund/domestic/refunds",
            body=body,
            headers=wechat_platform.response_headers(body),
        )
        result = _wechat().refund(
            RefundRequest(
                refund_no="R1",
                payment_no="PAY_1",
                transaction_id="4200000000",
                refund_fen=500,
                total_fen=900,
                reason="坏了一盒",
            )
        )
        sent = json.loads(responses.calls[0].request.body or b"{}")
        assert sent["amount"] == {"refund": 500, "total": 900, "currency": "CNY"}
        assert sent["out_refund_no"] == "R1"
        assert sent["notify_url"].endswith("/api/v1/payments/notify/wechatpay/refund")
        assert result.status == RefundStatus.PENDING
        assert result.provider_refund_id == "50000000382019052709732678859"


class TestAlipayParseNotification:
    def test_valid_rsa2_notification_is_read(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = alipay_notification(
            rsa_key("alipay-platform"), out_trade_no="PAY_1", total_amount="123.45"
        )
        notification = _alipay().parse_notification({}, body)
        assert (notification.out_trade_no, notification.amount_fen) == ("PAY_1", 12345)
        assert notification.status == NotificationStatus.SUCCEEDED
        assert notification.paid_at == dt.datetime(2024, 5, 1, 2, 34, 56, tzinfo=dt.UTC)

    def test_signed_by_another_key_is_forged(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = alipay_notification(rsa_key("attacker"), out_trade_no="PAY_1", total_amount="1.00")
        with pytest.raises(ForgedNotification, match="signature"):
            _alipay().parse_notification({}, body)

    def test_changed_amount_breaks_the_signature(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = alipay_notification(
            rsa_key("alipay-platform"), out_trade_no="PAY_1", total_amount="1.00"
        )
        with pytest.raises(ForgedNotification, match="signature"):
            _alipay().parse_notification(
                {}, body.replace(b"total_amount=1.00", b"total_amount=9.00")
            )

    def test_another_app_id_is_refused(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = alipay_notification(
            rsa_key("alipay-platform"), out_trade_no="PAY_1", total_amount="1.00", app_id="2021999"
        )
        with pytest.raises(ForgedNotification, match="app_id"):
            _alipay().parse_notification({}, body)

    def test_amount_that_is_not_whole_fen_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        body = alipay_notification(
            rsa_key("alipay-platform"), out_trade_no="PAY_1", total_amount="1.005"
        )
        with pytest.raises(ForgedNotification, match="whole number of fen"):
            _alipay().parse_notification({}, body)

    def test_unsigned_body_is_refused(self, alipay_gateway: FakeAlipayGateway) -> None:
        with pytest.raises(ForgedNotification):
            _alipay().parse_notification({}, b"out_trade_no=PAY_1&total_amount=1.00")


def _alipay_with(gateway: Callable[[str], str], **config_changes: str) -> AlipayProvider:
    """The configured Alipay provider, on another transport or with other settings."""
    config = payments_config()
    assert config.alipay is not None
    return AlipayProvider(
        config=dataclasses.replace(config.alipay, **config_changes),
        notify_base_url=config.notify_base_url,
        transport=gateway,
    )


def _signed_by_the_app(params: dict[str, str], signature: str) -> bool:
    """Alipay's request signing rule checked with `cryptography`, not the SDK: every parameter
    but `sign`, sorted by name, joined as k=v with &, SHA256withRSA with the app key
    (docs.open.alipay.com/291/105974)."""
    return rsa2_verify(
        public_pem(rsa_key("alipay-app")), alipay_signing_string(params, request=True), signature
    )


def _down(url: str) -> str:
    raise OSError("connection refused")


class TestAlipayCreatePayment:
    def test_wap_pay_redirect_is_signed_by_the_app_key(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        prompt = _alipay().create_payment(_request(ClientKind.H5), Payer())
        assert prompt.kind == PromptKind.REDIRECT
        url = urlparse(prompt.redirect_url)
        assert f"{url.scheme}://{url.netloc}{url.path}" == "https://openapi.alipay.com/gateway.do"
        params = dict(parse_qsl(url.query))
        signature = params.pop("sign")
        assert _signed_by_the_app(params, signature)
        assert not _signed_by_the_app({**params, "return_url": "https://evil.example/"}, signature)
        biz = json.loads(params["biz_content"])
        assert params["method"] == "alipay.trade.wap.pay"
        assert params["app_id"] == ALIPAY_APP_ID
        assert params["sign_type"] == "RSA2"
        assert params["notify_url"] == "https://shop.example.com/api/v1/payments/notify/alipay"
        assert params["return_url"] == "https://shop.example.com/m/orders/O_1"
        assert biz["quit_url"] == "https://shop.example.com/m/orders/O_1"
        assert biz["time_expire"] == "2024-05-01 11:00:00"  # 03:00 UTC in Beijing time
        assert biz["total_amount"] == "123.45"
        assert biz["out_trade_no"] == "PAY_01HXTEST"
        assert biz["product_code"] == "QUICK_WAP_PAY"
        assert alipay_gateway.requests == []  # WAP pay is a URL for the phone; nothing sent yet

    def test_a_return_path_off_our_site_is_refused(self, alipay_gateway: FakeAlipayGateway) -> None:
        request = dataclasses.replace(_request(ClientKind.H5), return_path="@evil.example/x")
        with pytest.raises(ProviderUnavailable, match="not a path on this site"):
            _alipay().create_payment(request, Payer())

    def test_phone_and_desktop_but_no_jsapi(self, alipay_gateway: FakeAlipayGateway) -> None:
        assert _alipay().client_kinds == {ClientKind.H5, ClientKind.NATIVE}
        with pytest.raises(ProviderUnavailable):
            _alipay().create_payment(_request(ClientKind.JSAPI), Payer())

    def test_desktop_gets_the_precreate_qr_code(self, alipay_gateway: FakeAlipayGateway) -> None:
        prompt = _alipay().create_payment(_request(ClientKind.NATIVE), Payer())

        assert prompt.kind == PromptKind.QR
        assert prompt.qr_content == ALIPAY_QR_CODE
        assert prompt.redirect_url == ""
        [sent] = alipay_gateway.requests
        assert _signed_by_the_app(sent["params"], sent["sign"])
        assert sent["method"] == "alipay.trade.precreate"
        assert sent["params"]["app_id"] == ALIPAY_APP_ID
        assert sent["params"]["notify_url"].endswith("/api/v1/payments/notify/alipay")
        assert sent["biz_content"] == {
            "out_trade_no": "PAY_01HXTEST",
            "total_amount": "123.45",
            "subject": "鲜环订单 O_1",
            "time_expire": "2024-05-01 11:00:00",
        }

    def test_a_precreate_refusal_is_unavailable_with_its_code(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.precreate"] = alipay_failure(
            "ACQ.TOTAL_FEE_EXCEED", "订单金额超过限额"
        )
        with pytest.raises(ProviderUnavailable, match=r"ACQ\.TOTAL_FEE_EXCEED"):
            _alipay().create_payment(_request(ClientKind.NATIVE), Payer())

    def test_a_qr_code_not_signed_by_alipay_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.precreate"] = {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": "PAY_01HXTEST",
            "qr_code": "https://evil.example/pay",
        }
        alipay_gateway.signing_key = rsa_key("attacker")
        with pytest.raises(ProviderUnavailable, match="not signed by Alipay"):
            _alipay().create_payment(_request(ClientKind.NATIVE), Payer())

    def test_a_qr_code_for_another_trade_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.precreate"] = {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": "PAY_SOMEONE_ELSE",
            "qr_code": ALIPAY_QR_CODE,
        }
        with pytest.raises(ProviderUnavailable, match="another out_trade_no"):
            _alipay().create_payment(_request(ClientKind.NATIVE), Payer())


class TestAlipayQueryPayment:
    def test_a_paid_trade_is_succeeded_with_alipays_trade_number(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="123.45", send_pay_date="2024-05-01 10:34:56"
        )

        found = _alipay().query_payment("PAY_1")

        [sent] = alipay_gateway.requests
        assert _signed_by_the_app(sent["params"], sent["sign"])
        assert sent["method"] == "alipay.trade.query"
        assert sent["params"]["app_id"] == ALIPAY_APP_ID
        assert sent["biz_content"] == {"out_trade_no": "PAY_1"}
        assert found is not None
        assert found.status == NotificationStatus.SUCCEEDED
        assert (found.out_trade_no, found.transaction_id) == ("PAY_1", ALIPAY_TRADE_NO)
        assert found.amount_fen == 12345
        assert found.paid_at == dt.datetime(2024, 5, 1, 2, 34, 56, tzinfo=dt.UTC)
        assert found.app_id == ALIPAY_APP_ID

    @pytest.mark.parametrize(
        ("trade_status", "status"),
        [
            ("TRADE_FINISHED", NotificationStatus.SUCCEEDED),
            ("WAIT_BUYER_PAY", NotificationStatus.PENDING),
            ("TRADE_CLOSED", NotificationStatus.CLOSED),
        ],
    )
    def test_trade_status_is_read(
        self, alipay_gateway: FakeAlipayGateway, trade_status: str, status: NotificationStatus
    ) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="9.90", trade_status=trade_status
        )
        found = _alipay().query_payment("PAY_1")
        assert found is not None
        assert (found.status, found.amount_fen) == (status, 990)
        assert (found.paid_at is not None) == (status == NotificationStatus.SUCCEEDED)

    def test_an_unknown_trade_is_none(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_failure(
            "ACQ.TRADE_NOT_EXIST", "交易不存在"
        )
        assert _alipay().query_payment("PAY_NEVER_OPENED") is None

    def test_an_answer_not_signed_by_alipay_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="123.45"
        )
        alipay_gateway.signing_key = rsa_key("attacker")
        with pytest.raises(ProviderUnavailable, match="not signed by Alipay"):
            _alipay().query_payment("PAY_1")

    def test_an_unsigned_not_exist_is_not_believed(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_failure(
            "ACQ.TRADE_NOT_EXIST", "交易不存在"
        )
        alipay_gateway.unsigned = True
        with pytest.raises(ProviderUnavailable, match="unsigned"):
            _alipay().query_payment("PAY_1")

    def test_a_signed_answer_to_another_call_cannot_stand_in(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        # Given a genuinely signed node placed under another method's name, with the query's
        # name planted in a field ahead of it (where a text search for it would land)
        node = json.dumps(
            alipay_trade(out_trade_no="PAY_1", total_amount="123.45"), separators=(",", ":")
        )
        sign = rsa2_sign(rsa_key("alipay-platform"), node)
        body = (
            '{"note":"alipay_trade_query_response",'
            f'"alipay_trade_close_response":{node},"sign":"{sign}"}}'
        )
        provider = _alipay_with(lambda url: body)
        # When it is queried, then the answer is refused rather than booked as paid
        with pytest.raises(ProviderUnavailable, match="not signed by Alipay"):
            provider.query_payment("PAY_1")

    def test_an_amount_that_is_not_whole_fen_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="1.005"
        )
        with pytest.raises(ProviderUnavailable, match="whole number of fen"):
            _alipay().query_payment("PAY_1")

    def test_an_answer_about_another_trade_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_2", total_amount="1.00"
        )
        with pytest.raises(ProviderUnavailable, match="out_trade_no"):
            _alipay().query_payment("PAY_1")

    def test_an_answer_for_another_seller_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="1.00", extra={"seller_id": "2088000000000002"}
        )
        ours = _alipay_with(alipay_gateway, seller_id="2088000000000001")
        with pytest.raises(ProviderUnavailable, match="seller_id"):
            ours.query_payment("PAY_1")
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="1.00", extra={"seller_id": "2088000000000001"}
        )
        found = ours.query_payment("PAY_1")
        assert found is not None
        assert found.amount_fen == 100

    def test_an_answer_for_another_app_is_refused(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="1.00", extra={"app_id": "2021999999999999"}
        )
        with pytest.raises(ProviderUnavailable, match="app_id"):
            _alipay().query_payment("PAY_1")

    def test_another_business_error_is_unavailable_with_its_code(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.query"] = alipay_failure(
            "ACQ.SYSTEM_ERROR", "系统错误"
        )
        with pytest.raises(ProviderUnavailable, match=r"ACQ\.SYSTEM_ERROR"):
            _alipay().query_payment("PAY_1")

    def test_an_unreachable_gateway_is_unavailable(self, alipay_gateway: FakeAlipayGateway) -> None:
        with pytest.raises(ProviderUnavailable, match="unreachable"):
            _alipay_with(_down).query_payment("PAY_1")


class TestAlipayClosePayment:
    def test_a_waiting_trade_is_closed(self, alipay_gateway: FakeAlipayGateway) -> None:
        _alipay().close_payment("PAY_1")

        [sent] = alipay_gateway.requests
        assert _signed_by_the_app(sent["params"], sent["sign"])
        assert sent["method"] == "alipay.trade.close"
        assert sent["params"]["app_id"] == ALIPAY_APP_ID
        assert sent["biz_content"] == {"out_trade_no": "PAY_1"}

    def test_an_unknown_trade_counts_as_closed(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.answers["alipay.trade.close"] = alipay_failure(
            "ACQ.TRADE_NOT_EXIST", "交易不存在"
        )
        _alipay().close_payment("PAY_NEVER_OPENED")
        assert [sent["method"] for sent in alipay_gateway.requests] == ["alipay.trade.close"]

    def test_a_paid_trade_cannot_be_closed(self, alipay_gateway: FakeAlipayGateway) -> None:
        # Given the buyer paid before the close arrived
        alipay_gateway.answers["alipay.trade.close"] = alipay_failure(
            "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"
        )
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="1.00"
        )
        # When it is closed, then the caller hears that the money arrived
        with pytest.raises(ProviderUnavailable, match=r"ACQ\.TRADE_STATUS_ERROR.*succeeded"):
            _alipay().close_payment("PAY_1")

    def test_a_trade_closed_already_is_done(self, alipay_gateway: FakeAlipayGateway) -> None:
        # Given our first close went through but its answer was lost
        alipay_gateway.answers["alipay.trade.close"] = alipay_failure(
            "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"
        )
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="1.00", trade_status="TRADE_CLOSED"
        )
        # When it is closed again, then that is done
        _alipay().close_payment("PAY_1")
        assert [sent["method"] for sent in alipay_gateway.requests] == [
            "alipay.trade.close",
            "alipay.trade.query",
        ]

    def test_a_close_answer_not_signed_by_alipay_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.signing_key = rsa_key("attacker")
        with pytest.raises(ProviderUnavailable, match="not signed by Alipay"):
            _alipay().close_payment("PAY_1")

    def test_another_business_error_is_unavailable_with_its_code(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.close"] = alipay_failure(
            "ACQ.SYSTEM_ERROR", "系统异常"
        )
        with pytest.raises(ProviderUnavailable, match=r"ACQ\.SYSTEM_ERROR"):
            _alipay().close_payment("PAY_1")

    def test_an_unreachable_gateway_is_unavailable(self, alipay_gateway: FakeAlipayGateway) -> None:
        with pytest.raises(ProviderUnavailable, match="unreachable"):
            _alipay_with(_down).close_payment("PAY_1")


class TestAlipayRefund:
    def test_fund_change_means_refunded(self, alipay_gateway: FakeAlipayGateway) -> None:
        result = _alipay().refund(
            RefundRequest(
                refund_no="R1",
                payment_no="PAY_1",
                transaction_id="2024050122001400000000000001",
                refund_fen=505,
                total_fen=900,
                reason="坏了",
            )
        )
        assert alipay_gateway.requests[0]["method"] == "alipay.trade.refund"
        assert alipay_gateway.requests[0]["biz_content"]["refund_amount"] == "5.05"
        assert alipay_gateway.requests[0]["biz_content"]["out_request_no"] == "R1"
        assert result.status == RefundStatus.SUCCEEDED

    def test_business_error_is_a_failed_refund(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.refund_answer = {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_HAS_CLOSE",
            "sub_msg": "交易已经关闭",
        }
        result = _alipay().refund(
            RefundRequest("R1", "PAY_1", "2024", refund_fen=1, total_fen=1, reason="")
        )
        assert result.status == RefundStatus.FAILED
        assert "ACQ.TRADE_HAS_CLOSE" in result.message

    def test_unreachable_gateway_is_retryable(self, alipay_gateway: FakeAlipayGateway) -> None:
        with pytest.raises(ProviderUnavailable):
            _alipay_with(_down).refund(RefundRequest("R1", "PAY_1", "2024", 1, 1, ""))


class TestSandboxProvider:
    def test_keys_are_made_once_and_reused(self, tmp_path: object) -> None:
        from pathlib import Path

        directory = Path(str(tmp_path))
        first = SandboxProvider(data_dir=directory)
        second = SandboxProvider(data_dir=directory)
        assert first.serial == second.serial
        assert (directory / "payments_sandbox_platform_key.pem").stat().st_mode & 0o077 == 0
        assert private_pem(first.private_key) == private_pem(second.private_key)

    def test_its_notification_passes_the_wechat_v3_checks(self) -> None:
        sandbox = SandboxProvider()
        headers, body = sandbox.build_payment_notification(
            payment_no="PAY_1", amount_fen=990, succeed=True
        )
        assert set(headers) >= {
            "Wechatpay-Serial",
            "Wechatpay-Signature",
            "Wechatpay-Timestamp",
            "Wechatpay-Nonce",
        }
        assert b'"algorithm":"AEAD_AES_256_GCM"' in body
        assert b"PAY_1" not in body  # the resource is encrypted
        notification = sandbox.parse_notification(headers, body)
        assert (notification.out_trade_no, notification.amount_fen) == ("PAY_1", 990)
        with pytest.raises(ForgedNotification):
            sandbox.parse_notification(headers, body.replace(b"encrypt", b"encrypX"))

    @pytest.mark.parametrize(
        ("field", "value", "refusal"),
        [("mchid", "1230000109", "merchant"), ("appid", "wx-other-app", "app")],
    )
    def test_a_notification_for_another_merchant_or_app_is_refused(
        self, tmp_path: object, field: str, value: str, refusal: str
    ) -> None:
        # given a callback signed and encrypted with the sandbox platform's own keys, but about
        # another merchant's (or app's) money — docs/payments.md says the sandbox checks both
        from pathlib import Path

        sandbox = SandboxProvider(data_dir=Path(str(tmp_path)))
        resource = {
            **wechat_transaction(out_trade_no="PAY_1", total=990),
            "mchid": sandbox.mchid,
            "appid": sandbox.appid,
            field: value,
        }
        headers, body = wechat_v3.build_notification(
            private_key=sandbox.private_key,
            serial=sandbox.serial,
            apiv3_key=sandbox.apiv3_key,
            event_type="TRANSACTION.SUCCESS",
            original_type="transaction",
            resource=resource,
            summary="支付成功",
            now=clock.now(),
        )
        # then it is refused like a forged one
        with pytest.raises(ForgedNotification, match=refusal):
            sandbox.parse_notification(headers, body)
