"""WeChat Pay APIv3 through the `wechatpayv3` library: JSAPI, H5 and Native orders, 查单,
关单, refunds, callbacks and the platform certificate download.

The library is built in public-key mode so it never downloads platform certificates on its
own: it is given the first key we trust. Every response and callback is then verified by our
own code (`wechat_v3.verify_signature`) against *every* key we trust, by serial: the
configured platform public key (微信支付公钥), each configured platform certificate and each
certificate fetched with the download API and not yet expired. That is what lets WeChat Pay
rotate keys: for a while it signs with the old or the new one, and both are accepted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from wechatpayv3 import WeChatPay, WeChatPayType  # type: ignore[import-untyped]

from freshloop.core import clock
from freshloop.payments.config import PaymentsConfigurationError, WechatPayConfig
from freshloop.payments.providers import wechat_v3
from freshloop.payments.providers.base import (
    ClientKind,
    ForgedNotification,
    NotificationAck,
    Payer,
    PaymentNotification,
    PaymentPrompt,
    PaymentRequest,
    PromptKind,
    ProviderUnavailable,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
)
from freshloop.payments.providers.wechat_papay import WechatPapay, v3_poster

BEIJING = dt.timezone(dt.timedelta(hours=8))
logger = logging.getLogger(__name__)

TrustedKeys = Mapping[str, RSAPublicKey]


def certificate_serial(certificate: x509.Certificate) -> str:
    """The serial as WeChat Pay writes it in `Wechatpay-Serial`: upper-case hex."""
    return format(certificate.serial_number, "X")


def _rsa_key_of(certificate: x509.Certificate, origin: str) -> RSAPublicKey:
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise PaymentsConfigurationError(f"{origin} is not an RSA certificate")
    return key


def platform_keys_from_config(config: WechatPayConfig) -> dict[str, RSAPublicKey]:
    """Every platform key the configuration names, by the serial/id WeChat Pay signs with."""
    keys: dict[str, RSAPublicKey] = {}
    if config.platform_public_key and config.platform_public_key_id:
        key = serialization.load_pem_public_key(config.platform_public_key.encode())
        if not isinstance(key, RSAPublicKey):
            raise PaymentsConfigurationError("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY is not RSA")
        keys[config.platform_public_key_id] = key
    if config.platform_certificate:
        for certificate in x509.load_pem_x509_certificates(config.platform_certificate.encode()):
            keys[certificate_serial(certificate)] = _rsa_key_of(
                certificate, "FRESHLOOP_WECHATPAY_PLATFORM_CERT"
            )
    return keys


def _public_pem(key: RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class PlatformCertificate:
    """A certificate from the download API, decrypted and checked."""

    serial_no: str
    certificate_pem: str
    effective_at: dt.datetime
    expires_at: dt.datetime


def _key_of_pem(certificate_pem: str) -> RSAPublicKey:
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    return _rsa_key_of(certificate, "downloaded certificate")


def _no_downloaded_keys() -> TrustedKeys:
    return {}


class _TrustedKeys(Mapping[str, RSAPublicKey]):
    """The configured keys, then the downloaded ones: the store of downloaded certificates is
    read only for a serial the configuration does not know (a rotation in progress)."""

    def __init__(self, configured: TrustedKeys, downloaded: Callable[[], TrustedKeys]) -> None:
        self._configured = configured
        self._downloaded = downloaded

    def _all(self) -> dict[str, RSAPublicKey]:
        return {**self._downloaded(), **self._configured}

    def __getitem__(self, serial: str) -> RSAPublicKey:
        if serial in self._configured:
            return self._configured[serial]
        return self._downloaded()[serial]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


class WechatPayV3Provider:
    name = "wechatpay"
    label = "微信支付"
    client_kinds = frozenset(kind.value for kind in ClientKind)

    def __init__(
        self,
        *,
        config: WechatPayConfig,
        notify_base_url: str,
        downloaded_keys: Callable[[], TrustedKeys] = _no_downloaded_keys,
    ) -> None:
        self.config = config
        self.appid = config.appid
        self.base_url = notify_base_url
        self.notify_url = f"{notify_base_url}/api/v1/payments/notify/wechatpay"
        self.refund_notify_url = f"{notify_base_url}/api/v1/payments/notify/wechatpay/refund"
        self.configured_keys = platform_keys_from_config(config)
        if not self.configured_keys:
            raise PaymentsConfigurationError("WeChat Pay has no platform key to trust")
        # Downloaded certificates are consulted only when certificate download is on.
        self.downloaded_keys = (
            downloaded_keys if config.download_certificates else _no_downloaded_keys
        )
        first_serial, first_key = next(iter(self.configured_keys.items()))
        self.client = WeChatPay(
            wechatpay_type=WeChatPayType.JSAPI,
            mchid=config.mchid,
            private_key=config.private_key,
            cert_serial_no=config.cert_serial_no,
            appid=config.appid,
            apiv3_key=config.apiv3_key,
            notify_url=self.notify_url,
            # Public-key mode keeps the library from downloading certificates in a request;
            # the key itself is not what verifies (see _verify_response).
            public_key=_public_pem(first_key),
            public_key_id=first_serial,
            timeout=(5, 15),
        )
        # The library trusts one key and otherwise downloads certificates inside the request;
        # our verifier accepts every trusted key by serial and never calls out.
        self.client._core._verify_signature = self._verify_response
        # 委托代扣 exists only where the merchant has an APIv2 key and a contract template.
        self.contracts = (
            WechatPapay(
                config=config, notify_base_url=notify_base_url, v3_post=v3_poster(self.client)
            )
            if config.apiv2_key and config.contract_plan_id
            else None
        )

    # --- keys -------------------------------------------------------------------------------

    def trusted_keys(self) -> TrustedKeys:
        return _TrustedKeys(self.configured_keys, self.downloaded_keys)

    def _verify_response(self, headers: Mapping[str, str], body: str | bytes) -> bool:
        raw = body.encode() if isinstance(body, str) else body
        # The certificate download answer is signed by a certificate it carries; that one is
        # trusted only because it decrypts with our APIv3 key, a secret WeChat Pay alone shares.
        carried = {cert.serial_no: _key_of_pem(cert.certificate_pem) for cert in self._carried(raw)}
        keys = _TrustedKeys({**carried, **self.configured_keys}, self.downloaded_keys)
        try:
            wechat_v3.verify_signature(
                headers=headers, body=raw, platform_keys=keys, now=clock.now()
            )
        except ForgedNotification as exc:
            logger.warning("wechatpay response refused: %s", exc)
            return False
        return True

    def _carried(self, body: bytes) -> list[PlatformCertificate]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return []
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            return []
        try:
            return self._certificates_in(data["data"])
        except ForgedNotification:
            return []

    def _certificates_in(self, entries: list[Any]) -> list[PlatformCertificate]:
        certificates = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(
                entry.get("encrypt_certificate"), dict
            ):
                raise ForgedNotification("certificate entry has no encrypt_certificate")
            pem = wechat_v3.decrypt_text(
                entry["encrypt_certificate"], self.config.apiv3_key.encode()
            )
            try:
                certificate = x509.load_pem_x509_certificate(pem.encode())
            except ValueError as exc:
                raise ForgedNotification("downloaded certificate is not PEM") from exc
            serial = certificate_serial(certificate)
            if str(entry.get("serial_no", "")).upper() != serial:
                raise ForgedNotification("certificate serial does not match its entry")
            certificates.append(
                PlatformCertificate(
                    serial_no=serial,
                    certificate_pem=pem,
                    effective_at=certificate.not_valid_before_utc,
                    expires_at=certificate.not_valid_after_utc,
                )
            )
        return certificates

    def download_certificates(self) -> list[PlatformCertificate]:
        """GET /v3/certificates: the platform certificates in force, decrypted and verified."""
        data = self._call_path("/v3/certificates")
        entries = data.get("data")
        if not isinstance(entries, list):
            raise ProviderUnavailable("wechatpay certificates: no data")
        try:
            return self._certificates_in(entries)
        except ForgedNotification as exc:
            raise ProviderUnavailable(f"wechatpay certificates unreadable: {exc}") from exc

    # --- calls ------------------------------------------------------------------------------

    def _call(
        self, operation: str, *, absent: frozenset[str] = frozenset(), **kwargs: Any
    ) -> dict[str, Any] | None:
        """One API call through the library; None when the provider answers with one of the
        `absent` error codes (e.g. ORDER_NOT_EXIST for a query)."""
        return self._send(operation, lambda: getattr(self.client, operation)(**kwargs), absent)

    def _call_path(self, path: str) -> dict[str, Any]:
        """A GET the library has no method for (the certificate download)."""
        data = self._send(f"GET {path}", lambda: self.client._core.request(path), frozenset())
        assert data is not None  # no code counts as absent
        return data

    def _send(
        self, label: str, request: Callable[[], tuple[int, Any]], absent: frozenset[str]
    ) -> dict[str, Any] | None:
        try:
            code, message = request()
        except Exception as exc:  # the library raises bare Exception (e.g. a bad signature)
            raise ProviderUnavailable(f"wechatpay {label} failed: {exc}") from exc
        return self._read(label, int(code), message, absent)

    @staticmethod
    def _read(
        operation: str, code: int, message: str | bytes, absent: frozenset[str]
    ) -> dict[str, Any] | None:
        try:
            data = json.loads(message) if message else {}
        except (TypeError, ValueError) as exc:
            raise ProviderUnavailable(f"wechatpay {operation}: unreadable response") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"wechatpay {operation}: response is not an object")
        if not 200 <= code < 300:
            if str(data.get("code", "")) in absent:
                return None
            raise ProviderUnavailable(
                f"wechatpay {operation} refused ({code}): {data.get('code', '')} {data.get('message', '')}"
            )
        return data

    def create_payment(self, request: PaymentRequest, payer: Payer) -> PaymentPrompt:
        common: dict[str, Any] = {
            "description": request.description[:127],
            "out_trade_no": request.payment_no,
            "amount": {"total": request.amount_fen, "currency": "CNY"},
            "notify_url": self.notify_url,
        }
        if request.expires_at is not None:
            common["time_expire"] = request.expires_at.astimezone(BEIJING).isoformat(
                timespec="seconds"
            )
        if request.client_kind == ClientKind.JSAPI:
            if not payer.openid:
                raise ProviderUnavailable("JSAPI payment needs the payer's openid")
            data = self._answer(
                "pay", pay_type=WeChatPayType.JSAPI, payer={"openid": payer.openid}, **common
            )
            prepay_id = str(data.get("prepay_id", ""))
            if not prepay_id:
                raise ProviderUnavailable("wechatpay returned no prepay_id")
            return PaymentPrompt(kind=PromptKind.JSAPI, jsapi=self.jsapi_params(prepay_id))
        if request.client_kind == ClientKind.NATIVE:
            data = self._answer("pay", pay_type=WeChatPayType.NATIVE, **common)
            code_url = str(data.get("code_url", ""))
            if not code_url.startswith("weixin://"):
                raise ProviderUnavailable("wechatpay returned no code_url")
            return PaymentPrompt(kind=PromptKind.QR, qr_content=code_url)
        data = self._answer(
            "pay",
            pay_type=WeChatPayType.H5,
            scene_info={
                "payer_client_ip": payer.client_ip or "127.0.0.1",
                "h5_info": {"type": "Wap"},
            },
            **common,
        )
        h5_url = str(data.get("h5_url", ""))
        if not h5_url:
            raise ProviderUnavailable("wechatpay returned no h5_url")
        if request.return_path:
            # Per the H5 pay guide, WeChat's page returns the buyer to `redirect_url`
            # (URL-encoded, on the domain registered for H5 pay) once they have paid or left.
            h5_url += "&redirect_url=" + quote(self.base_url + request.return_path, safe="")
        return PaymentPrompt(kind=PromptKind.REDIRECT, redirect_url=h5_url)

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """Parameters for WeixinJSBridge getBrandWCPayRequest, signed with the merchant key."""
        timestamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        signature = self.client.sign([self.config.appid, timestamp, nonce, package])
        return {
            "appId": self.config.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": str(signature),
        }

    def _open(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _, resource = wechat_v3.open_notification(
            headers=headers,
            body=body,
            platform_keys=self.trusted_keys(),
            apiv3_key=self.config.apiv3_key.encode(),
            now=clock.now(),
        )
        wechat_v3.check_merchant(resource, mchid=self.config.mchid)
        return resource

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotification:
        resource = self._open(headers, body)
        wechat_v3.check_app(resource, appid=self.config.appid)
        return wechat_v3.transaction_to_notification(resource)

    def query_payment(self, payment_no: str) -> PaymentNotification | None:
        data = self._call("query", absent=frozenset({"ORDER_NOT_EXIST"}), out_trade_no=payment_no)
        if data is None:
            return None
        # The answer is signed (checked by _verify_response) but still must be ours.
        try:
            wechat_v3.check_merchant(data, mchid=self.config.mchid)
            wechat_v3.check_app(data, appid=self.config.appid)
            notification = wechat_v3.transaction_to_notification(data)
        except ForgedNotification as exc:
            raise ProviderUnavailable(f"wechatpay query answer unusable: {exc}") from exc
        if notification.out_trade_no != payment_no:
            raise ProviderUnavailable("wechatpay query answered about another payment")
        return notification

    def close_payment(self, payment_no: str) -> None:
        # 204 when closed; closing what WeChat Pay never saw, or already closed, is done too.
        self._call(
            "close", absent=frozenset({"ORDER_NOT_EXIST", "ORDER_CLOSED"}), out_trade_no=payment_no
        )

    def _answer(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        data = self._call(operation, **kwargs)
        assert data is not None  # no code counts as absent
        return data

    def refund(self, request: RefundRequest) -> RefundResult:
        data = self._answer(
            "refund",
            out_refund_no=request.refund_no,
            amount={"refund": request.refund_fen, "total": request.total_fen, "currency": "CNY"},
            transaction_id=request.transaction_id or None,
            out_trade_no=None if request.transaction_id else request.payment_no,
            reason=request.reason[:80] or None,
            notify_url=self.refund_notify_url,
        )
        status = str(data.get("status", ""))
        refund_id = str(data.get("refund_id", ""))
        if status == "SUCCESS":
            success_time = data.get("success_time")
            refunded_at = (
                dt.datetime.fromisoformat(str(success_time)).astimezone(dt.UTC)
                if success_time
                else clock.now()
            )
            return RefundResult(RefundStatus.SUCCEEDED, refund_id, refunded_at)
        if status == "PROCESSING":
            return RefundResult(RefundStatus.PENDING, refund_id)
        return RefundResult(RefundStatus.FAILED, refund_id, message=f"wechatpay status {status}")

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotification:
        return wechat_v3.refund_to_notification(self._open(headers, body))

    def is_refund_notification(self, headers: Mapping[str, str], body: bytes) -> bool:
        return False  # refunds have their own notify_url

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        return wechat_v3.acknowledge(accepted=accepted, message=message, retry=retry)
