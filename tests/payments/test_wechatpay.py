"""WeChat Pay v3 beyond callbacks: Native and H5 orders, 查单, 关单, platform key rotation and
the certificate download API — checked with our own `cryptography` code against the formats
WeChat Pay publishes (签名生成 / 签名验证 / 平台证书下载), never with the SDK we send through."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from freshloop.core import clock
from freshloop.payments.models import WechatPlatformCertificate
from freshloop.payments.providers import (
    ClientKind,
    ForgedNotification,
    NotificationStatus,
    Payer,
    PaymentRequest,
    PromptKind,
    ProviderUnavailable,
    payment_provider,
    providers_reset,
    wechat_v3,
)
from freshloop.payments.providers.wechatpay import WechatPayV3Provider
from freshloop.payments.services import wechatpay_certificates_refresh
from tests.payments.helpers import (
    WECHAT_MCHID,
    WechatPlatform,
    rsa_key,
    self_signed_certificate,
    wechat_transaction,
)

GATEWAY = "https://api.mch.weixin.qq.com"
CERT_SERIAL = 0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1
NEW_CERT_SERIAL = 0x7132D72A03E93CDDF8C03BBD1F37EEDF204E0A44


def _wechat() -> WechatPayV3Provider:
    provider = payment_provider("wechatpay")
    assert isinstance(provider, WechatPayV3Provider)
    return provider


def _request(client_kind: str, return_path: str = "/live/L1") -> PaymentRequest:
    return PaymentRequest(
        payment_no="PAY_01HXNATIVE",
        amount_fen=1590,
        description="鲜环订单 O_1",
        expires_at=dt.datetime(2024, 5, 1, 3, 0, tzinfo=dt.UTC),
        client_kind=client_kind,
        return_path=return_path,
    )


def _signed(platform: WechatPlatform, status: int, payload: dict[str, Any] | None) -> Any:
    """A responses callback answering like WeChat Pay: JSON signed with the platform key."""

    def answer(request: object) -> tuple[int, dict[str, str], bytes]:
        body = b"" if payload is None else json.dumps(payload).encode()
        return status, platform.response_headers(body), body

    return answer


def _verify_authorization(request: Any, merchant_key: RSAPrivateKey) -> dict[str, str]:
    """Check the Authorization header exactly as WeChat Pay's 签名验证 describes it: the
    merchant signs "METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n" (URL = path and query)."""
    scheme, _, fields = request.headers["Authorization"].partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    parts = dict(re.findall(r'(\w+)="([^"]*)"', fields))
    url = urlparse(request.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    body = request.body or b""
    body_text = body.decode() if isinstance(body, bytes) else body
    message = f"{request.method}\n{path}\n{parts['timestamp']}\n{parts['nonce_str']}\n{body_text}\n"
    merchant_key.public_key().verify(
        base64.b64decode(parts["signature"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return parts


class TestRequestSignature:
    @responses.activate
    def test_native_order_is_signed_per_the_published_format(
        self, wechat_platform: WechatPlatform
    ) -> None:
        # given WeChat Pay answering a Native order with its code_url
        responses.add_callback(
            responses.POST,
            f"{GATEWAY}/v3/pay/transactions/native",
            callback=_signed(
                wechat_platform, 200, {"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}
            ),
        )
        # when a desktop buyer pays
        prompt = _wechat().create_payment(_request(ClientKind.NATIVE), Payer())
        # then the request is signed by the merchant key over the published string
        parts = _verify_authorization(responses.calls[0].request, rsa_key("wechat-merchant"))
        assert parts["mchid"] == WECHAT_MCHID
        assert parts["serial_no"] == "444F4864EA9B34415ABCDEF0123456789ABCDEF0"
        # and the page gets a QR of the code_url
        assert (prompt.kind, prompt.qr_content) == (
            PromptKind.QR,
            "weixin://wxpay/bizpayurl?pr=p4lpSuKzz",
        )
        sent = json.loads(responses.calls[0].request.body)
        assert sent["amount"] == {"total": 1590, "currency": "CNY"}
        assert "payer" not in sent

    @responses.activate
    def test_query_with_a_query_string_is_signed_over_path_and_query(
        self, wechat_platform: WechatPlatform
    ) -> None:
        responses.add_callback(
            responses.GET,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1\?mchid=.*"),
            callback=_signed(
                wechat_platform, 200, wechat_transaction(out_trade_no="PAY_1", total=100)
            ),
        )
        _wechat().query_payment("PAY_1")
        request = responses.calls[0].request
        assert parse_qs(urlparse(request.url).query) == {"mchid": [WECHAT_MCHID]}
        _verify_authorization(request, rsa_key("wechat-merchant"))


class TestH5ReturnsToThePage:
    @responses.activate
    def test_h5_url_carries_the_encoded_return_address(
        self, wechat_platform: WechatPlatform
    ) -> None:
        h5_url = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=1"
        responses.add_callback(
            responses.POST,
            f"{GATEWAY}/v3/pay/transactions/h5",
            callback=_signed(wechat_platform, 200, {"h5_url": h5_url}),
        )
        prompt = _wechat().create_payment(
            _request(ClientKind.H5, "/live/L1?paid=O_1"), Payer(client_ip="14.23.150.211")
        )
        # the H5 pay guide: append &redirect_url=<urlencoded address> to h5_url
        assert prompt.kind == PromptKind.REDIRECT
        assert prompt.redirect_url.startswith(h5_url + "&redirect_url=")
        back = parse_qs(urlparse(prompt.redirect_url).query)["redirect_url"]
        assert back == ["https://shop.example.com/live/L1?paid=O_1"]


class TestQuery:
    @responses.activate
    def test_a_paid_transaction_is_read(self, wechat_platform: WechatPlatform) -> None:
        responses.add_callback(
            responses.GET,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1.*"),
            callback=_signed(
                wechat_platform, 200, wechat_transaction(out_trade_no="PAY_1", total=1590)
            ),
        )
        answer = _wechat().query_payment("PAY_1")
        assert answer is not None
        assert (answer.status, answer.amount_fen, answer.transaction_id) == (
            NotificationStatus.SUCCEEDED,
            1590,
            "4200000000202405011234567890",
        )

    @responses.activate
    def test_an_unpaid_transaction_is_pending(self, wechat_platform: WechatPlatform) -> None:
        unpaid = wechat_transaction(out_trade_no="PAY_1", total=1590, trade_state="NOTPAY")
        responses.add_callback(
            responses.GET,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1.*"),
            callback=_signed(wechat_platform, 200, unpaid),
        )
        answer = _wechat().query_payment("PAY_1")
        assert answer is not None
        assert answer.status == NotificationStatus.PENDING

    @responses.activate
    def test_an_order_wechat_never_saw_is_none(self, wechat_platform: WechatPlatform) -> None:
        responses.add_callback(
            responses.GET,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1.*"),
            callback=_signed(
                wechat_platform, 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
            ),
        )
        assert _wechat().query_payment("PAY_1") is None

    @responses.activate
    def test_an_answer_about_another_merchant_is_not_used(
        self, wechat_platform: WechatPlatform
    ) -> None:
        theirs = wechat_transaction(out_trade_no="PAY_1", total=1590, mchid="1230000109")
        responses.add_callback(
            responses.GET,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1.*"),
            callback=_signed(wechat_platform, 200, theirs),
        )
        with pytest.raises(ProviderUnavailable, match="merchant"):
            _wechat().query_payment("PAY_1")

    @responses.activate
    def test_an_answer_not_signed_by_the_platform_is_refused(
        self, wechat_platform: WechatPlatform
    ) -> None:
        forged = WechatPlatform(rsa_key("attacker"), wechat_platform.serial, "x" * 32)
        responses.add_callback(
            responses.GET,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1.*"),
            callback=_signed(forged, 200, wechat_transaction(out_trade_no="PAY_1", total=1)),
        )
        with pytest.raises(ProviderUnavailable):
            _wechat().query_payment("PAY_1")


class TestClose:
    @responses.activate
    def test_close_is_a_signed_post_answered_204(self, wechat_platform: WechatPlatform) -> None:
        responses.add_callback(
            responses.POST,
            f"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1/close",
            callback=_signed(wechat_platform, 204, None),
        )
        _wechat().close_payment("PAY_1")
        request = responses.calls[0].request
        assert json.loads(request.body) == {"mchid": WECHAT_MCHID}
        _verify_authorization(request, rsa_key("wechat-merchant"))

    @responses.activate
    def test_closing_what_wechat_never_saw_is_done(self, wechat_platform: WechatPlatform) -> None:
        responses.add_callback(
            responses.POST,
            f"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1/close",
            callback=_signed(wechat_platform, 404, {"code": "ORDER_NOT_EXIST", "message": "x"}),
        )
        _wechat().close_payment("PAY_1")

    @responses.activate
    def test_a_refused_close_is_retryable(self, wechat_platform: WechatPlatform) -> None:
        responses.add_callback(
            responses.POST,
            f"{GATEWAY}/v3/pay/transactions/out-trade-no/PAY_1/close",
            callback=_signed(wechat_platform, 500, {"code": "SYSTEM_ERROR", "message": "忙"}),
        )
        with pytest.raises(ProviderUnavailable, match="SYSTEM_ERROR"):
            _wechat().close_payment("PAY_1")


def _now() -> dt.datetime:
    """This instant: callbacks are built and checked against it, and responses signed by the
    fake platform carry the real time (a module-level constant went stale in a long run)."""
    return clock.now().replace(microsecond=0)


def _callback_by(platform: WechatPlatform) -> tuple[dict[str, str], bytes]:
    return platform.notification(wechat_transaction(out_trade_no="PAY_R", total=5), now=_now())


class TestKeyRotation:
    def test_a_public_key_and_a_certificate_are_both_trusted(
        self, wechat_platform: WechatPlatform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a public key (the fixture) and, beside it, the old platform certificate
        certificate_key = rsa_key("wechat-platform-cert")
        monkeypatch.setenv(
            "FRESHLOOP_WECHATPAY_PLATFORM_CERT",
            self_signed_certificate(certificate_key, CERT_SERIAL),
        )
        providers_reset()
        by_certificate = WechatPlatform(
            certificate_key, format(CERT_SERIAL, "X"), wechat_platform.apiv3_key
        )
        with clock.frozen(_now()):
            # then a callback signed with either is accepted, each by its own serial
            assert _wechat().parse_notification(*_callback_by(wechat_platform)).amount_fen == 5
            assert _wechat().parse_notification(*_callback_by(by_certificate)).amount_fen == 5

    def test_two_certificates_side_by_side_during_a_rotation(
        self, wechat_platform: WechatPlatform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        old_key, new_key = rsa_key("wechat-platform-cert"), rsa_key("wechat-platform-cert-new")
        monkeypatch.delenv("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY")
        monkeypatch.delenv("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY_ID")
        monkeypatch.setenv(
            "FRESHLOOP_WECHATPAY_PLATFORM_CERT",
            self_signed_certificate(old_key, CERT_SERIAL)
            + "\n"
            + self_signed_certificate(new_key, NEW_CERT_SERIAL),
        )
        monkeypatch.setenv("FRESHLOOP_WECHATPAY_DOWNLOAD_CERTIFICATES", "false")
        providers_reset()
        old = WechatPlatform(old_key, format(CERT_SERIAL, "X"), wechat_platform.apiv3_key)
        new = WechatPlatform(new_key, format(NEW_CERT_SERIAL, "X"), wechat_platform.apiv3_key)
        with clock.frozen(_now()):
            assert _wechat().parse_notification(*_callback_by(old)).out_trade_no == "PAY_R"
            assert _wechat().parse_notification(*_callback_by(new)).out_trade_no == "PAY_R"
            # and a key under a serial nobody configured is still refused
            stranger = WechatPlatform(rsa_key("attacker"), "ABCDEF", wechat_platform.apiv3_key)
            with pytest.raises(ForgedNotification, match="unknown platform key"):
                _wechat().parse_notification(*_callback_by(stranger))


def _certificates_answer(
    platform: WechatPlatform, certificate_pem: str, serial: int, *, apiv3_key: str | None = None
) -> dict[str, Any]:
    """The body of GET /v3/certificates as published: each certificate AEAD-encrypted."""
    return {
        "data": [
            {
                "serial_no": format(serial, "X"),
                "effective_time": "2024-01-01T00:00:00+08:00",
                "expire_time": "2029-01-01T00:00:00+08:00",
                "encrypt_certificate": wechat_v3.encrypt_resource(
                    certificate_pem,
                    apiv3_key=(apiv3_key or platform.apiv3_key).encode(),
                    original_type="certificate",
                    associated_data="certificate",
                ),
            }
        ]
    }


@pytest.fixture
def certificate_mode(
    wechat_platform: WechatPlatform, monkeypatch: pytest.MonkeyPatch
) -> WechatPlatform:
    """WeChat Pay in certificate mode with download on: the old certificate configured."""
    old_key = rsa_key("wechat-platform-cert")
    monkeypatch.delenv("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY")
    monkeypatch.delenv("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY_ID")
    monkeypatch.setenv(
        "FRESHLOOP_WECHATPAY_PLATFORM_CERT", self_signed_certificate(old_key, CERT_SERIAL)
    )
    providers_reset()
    return WechatPlatform(old_key, format(CERT_SERIAL, "X"), wechat_platform.apiv3_key)


@pytest.mark.django_db
class TestCertificateDownload:
    @responses.activate
    def test_a_new_certificate_is_fetched_kept_and_then_trusted(
        self, certificate_mode: WechatPlatform
    ) -> None:
        # given WeChat Pay rotating to a new certificate, announced by the download API and
        # signed (as the published downloader expects) with the new certificate itself
        new_key = rsa_key("wechat-platform-cert-new")
        new_pem = self_signed_certificate(new_key, NEW_CERT_SERIAL)
        new_platform = WechatPlatform(
            new_key, format(NEW_CERT_SERIAL, "X"), certificate_mode.apiv3_key
        )
        responses.add_callback(
            responses.GET,
            f"{GATEWAY}/v3/certificates",
            callback=_signed(
                new_platform, 200, _certificates_answer(new_platform, new_pem, NEW_CERT_SERIAL)
            ),
        )
        with clock.frozen(_now()):
            # a callback by the new certificate is not trusted yet
            with pytest.raises(ForgedNotification):
                _wechat().parse_notification(*_callback_by(new_platform))
            # when the scheduled refresh runs
            assert wechatpay_certificates_refresh() == 1
            # then the certificate is kept, and its callbacks are trusted
            kept = WechatPlatformCertificate.objects.get()
            assert kept.serial_no == format(NEW_CERT_SERIAL, "X")
            assert _wechat().parse_notification(*_callback_by(new_platform)).amount_fen == 5
            # and a second refresh adds nothing
            assert wechatpay_certificates_refresh() == 0
        _verify_authorization(responses.calls[0].request, rsa_key("wechat-merchant"))

    @responses.activate
    def test_a_certificate_not_encrypted_with_our_apiv3_key_is_refused(
        self, certificate_mode: WechatPlatform
    ) -> None:
        attacker_key = rsa_key("attacker")
        attacker = WechatPlatform(attacker_key, format(NEW_CERT_SERIAL, "X"), "y" * 32)
        pem = self_signed_certificate(attacker_key, NEW_CERT_SERIAL)
        responses.add_callback(
            responses.GET,
            f"{GATEWAY}/v3/certificates",
            callback=_signed(
                attacker,
                200,
                _certificates_answer(
                    attacker, pem, NEW_CERT_SERIAL, apiv3_key=secrets.token_hex(16)
                ),
            ),
        )
        with pytest.raises(ProviderUnavailable):
            _wechat().download_certificates()
        assert not WechatPlatformCertificate.objects.exists()

    def test_public_key_mode_does_not_download(self, wechat_platform: WechatPlatform) -> None:
        # responses is not active: any HTTP call would go out and fail the test
        assert wechatpay_certificates_refresh() == 0
