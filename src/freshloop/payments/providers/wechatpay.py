"""WeChat Pay APIv3 through the `wechatpayv3` library: JSAPI and H5 orders, refunds, callbacks.

The library is built in public-key mode so it never downloads platform certificates: with a
platform public key (微信支付公钥) we pass it and its id as they are; with a platform
certificate we pass the certificate's public key under the certificate's serial, which is
what WeChat Pay puts in `Wechatpay-Serial` when it signs with that certificate.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from wechatpayv3 import WeChatPay, WeChatPayType  # type: ignore[import-untyped]

from freshloop.core import clock
from freshloop.payments.config import PaymentsConfigurationError, WechatPayConfig
from freshloop.payments.providers import wechat_v3
from freshloop.payments.providers.base import (
    ClientKind,
    NotificationAck,
    Payer,
    PaymentNotification,
    PaymentPrompt,
    PaymentRequest,
    ProviderUnavailable,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
)

BEIJING = dt.timezone(dt.timedelta(hours=8))


def platform_key_from_config(config: WechatPayConfig) -> tuple[str, RSAPublicKey]:
    """(serial or public-key id, key) that WeChat Pay signs callbacks and responses with."""
    if config.platform_public_key and config.platform_public_key_id:
        key = serialization.load_pem_public_key(config.platform_public_key.encode())
        if not isinstance(key, RSAPublicKey):
            raise PaymentsConfigurationError("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY is not RSA")
        return config.platform_public_key_id, key
    certificate = x509.load_pem_x509_certificate(config.platform_certificate.encode())
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise PaymentsConfigurationError("FRESHLOOP_WECHATPAY_PLATFORM_CERT is not RSA")
    return format(certificate.serial_number, "X").zfill(40), key


def _public_pem(key: RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class WechatPayV3Provider:
    name = "wechatpay"
    label = "微信支付"
    client_kinds = frozenset({ClientKind.H5.value, ClientKind.JSAPI.value})

    def __init__(self, *, config: WechatPayConfig, notify_base_url: str) -> None:
        self.config = config
        self.appid = config.appid
        self.notify_url = f"{notify_base_url}/api/v1/payments/notify/wechatpay"
        self.refund_notify_url = f"{notify_base_url}/api/v1/payments/notify/wechatpay/refund"
        self.platform_serial, self.platform_key = platform_key_from_config(config)
        self.client = WeChatPay(
            wechatpay_type=WeChatPayType.JSAPI,
            mchid=config.mchid,
            private_key=config.private_key,
            cert_serial_no=config.cert_serial_no,
            appid=config.appid,
            apiv3_key=config.apiv3_key,
            notify_url=self.notify_url,
            public_key=_public_pem(self.platform_key),
            public_key_id=self.platform_serial,
            timeout=(5, 15),
        )

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            code, message = getattr(self.client, operation)(**kwargs)
        except Exception as exc:
            raise ProviderUnavailable(f"wechatpay {operation} failed: {exc}") from exc
        try:
            data = json.loads(message) if message else {}
        except (TypeError, ValueError) as exc:
            raise ProviderUnavailable(f"wechatpay {operation}: unreadable response") from exc
        if not 200 <= int(code) < 300:
            raise ProviderUnavailable(
                f"wechatpay {operation} refused ({code}): {data.get('code', '')} {data.get('message', '')}"
            )
        return dict(data)

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
            data = self._call(
                "pay", pay_type=WeChatPayType.JSAPI, payer={"openid": payer.openid}, **common
            )
            prepay_id = str(data.get("prepay_id", ""))
            if not prepay_id:
                raise ProviderUnavailable("wechatpay returned no prepay_id")
            return PaymentPrompt(kind="jsapi", jsapi=self.jsapi_params(prepay_id))
        data = self._call(
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
        return PaymentPrompt(kind="redirect", redirect_url=h5_url)

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
            platform_keys={self.platform_serial: self.platform_key},
            apiv3_key=self.config.apiv3_key.encode(),
            now=clock.now(),
        )
        wechat_v3.check_merchant(resource, mchid=self.config.mchid)
        return resource

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotification:
        resource = self._open(headers, body)
        wechat_v3.check_app(resource, appid=self.config.appid)
        return wechat_v3.transaction_to_notification(resource)

    def refund(self, request: RefundRequest) -> RefundResult:
        data = self._call(
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
