"""Alipay through `python-alipay-sdk`: mobile-site pay (alipay.trade.wap.pay), RSA2 async
notifications, refunds (alipay.trade.refund).

Notifications are form-encoded. Per Alipay's rules every parameter except `sign` and
`sign_type` is sorted by name, joined as `k=v` with `&` (decoded values) and checked with
RSA2 (SHA256withRSA) against the Alipay public key; then `app_id` must be ours and
`total_amount` (yuan, two decimals) must convert to fen exactly.

The gateway call is the one external edge: `transport(url) -> response text` defaults to an
HTTPS GET with httpx and is replaced in tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import httpx
from alipay import AliPay  # type: ignore[import-untyped]
from alipay.exceptions import AliPayException, AliPayValidationError  # type: ignore[import-untyped]

from freshloop.core import clock
from freshloop.core.money import fen_to_yuan, yuan_to_fen
from freshloop.payments.config import AlipayConfig
from freshloop.payments.providers.base import (
    ClientKind,
    ForgedNotification,
    NotificationAck,
    NotificationStatus,
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
Transport = Callable[[str], str]


def https_get(url: str) -> str:
    response = httpx.get(url, timeout=15.0)
    response.raise_for_status()
    return response.text


class _AliPayClient(AliPay):
    """The SDK's client with its urlopen call replaced by an injectable transport."""

    def __init__(self, *, transport: Transport, **kwargs: Any) -> None:
        self._transport = transport
        super().__init__(**kwargs)

    def verified_sync_response(self, data: dict[str, Any], response_type: str) -> Any:
        raw = self._transport(self._gateway + "?" + self.sign_data(data))
        return self._verify_and_return_sync_response(raw, response_type)


def yuan_text_to_fen(text: str) -> int:
    """ "12.30" -> 1230; anything that is not a whole number of fen is refused."""
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise ForgedNotification(f"amount {text[:20]!r} is not a number") from exc
    if not value.is_finite() or value < 0:
        raise ForgedNotification("amount is not a positive number")
    fen = yuan_to_fen(value)
    if fen_to_yuan(fen) != value:
        raise ForgedNotification(f"amount {text[:20]!r} is not a whole number of fen")
    return fen


def _beijing_time(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        naive = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise ForgedNotification("time is not yyyy-MM-dd HH:mm:ss") from exc
    return naive.replace(tzinfo=BEIJING).astimezone(dt.UTC)


_TRADE_STATUSES = {
    "TRADE_SUCCESS": NotificationStatus.SUCCEEDED,
    "TRADE_FINISHED": NotificationStatus.SUCCEEDED,
    "WAIT_BUYER_PAY": NotificationStatus.PENDING,
    "TRADE_CLOSED": NotificationStatus.CLOSED,
}


class AlipayProvider:
    name = "alipay"
    label = "支付宝"
    client_kinds = frozenset({ClientKind.H5.value})

    def __init__(
        self, *, config: AlipayConfig, notify_base_url: str, transport: Transport | None = None
    ) -> None:
        self.config = config
        self.base_url = notify_base_url
        self.notify_url = f"{notify_base_url}/api/v1/payments/notify/alipay"
        self.client = _AliPayClient(
            transport=transport or https_get,
            appid=config.app_id,
            app_notify_url=self.notify_url,
            app_private_key_string=config.app_private_key,
            alipay_public_key_string=config.alipay_public_key,
            sign_type="RSA2",
            debug=config.use_sandbox_gateway,
        )

    @property
    def gateway(self) -> str:
        return str(self.client._gateway)

    def create_payment(self, request: PaymentRequest, payer: Payer) -> PaymentPrompt:
        extra: dict[str, str] = {}
        if request.expires_at is not None:
            extra["time_expire"] = request.expires_at.astimezone(BEIJING).strftime(
                "%Y-%m-%d %H:%M:%S"
            )
        query = self.client.api_alipay_trade_wap_pay(
            subject=request.description[:256],
            out_trade_no=request.payment_no,
            total_amount=str(fen_to_yuan(request.amount_fen)),
            return_url=f"{self.base_url}{request.return_path}" if request.return_path else None,
            notify_url=self.notify_url,
            **extra,
        )
        return PaymentPrompt(kind="redirect", redirect_url=f"{self.gateway}?{query}")

    def _verified_params(self, body: bytes) -> dict[str, str]:
        try:
            params = dict(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise ForgedNotification("body is not a form") from exc
        signature = params.pop("sign", "")
        if not signature:
            raise ForgedNotification("notification is not signed")
        unsigned = dict(params)
        try:
            verified = self.client.verify(unsigned, signature)
        except (AliPayException, ValueError, TypeError, IndexError) as exc:
            raise ForgedNotification(f"signature unreadable: {exc}") from exc
        if not verified:
            raise ForgedNotification("signature does not match")
        if params.get("app_id") != self.config.app_id:
            raise ForgedNotification("notification is for another app_id")
        if self.config.seller_id and params.get("seller_id") != self.config.seller_id:
            raise ForgedNotification("notification is for another seller")
        return params

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotification:
        params = self._verified_params(body)
        status = _TRADE_STATUSES.get(params.get("trade_status", ""))
        if status is None:
            raise ForgedNotification("unknown trade_status")
        return PaymentNotification(
            out_trade_no=params.get("out_trade_no", ""),
            transaction_id=params.get("trade_no", ""),
            amount_fen=yuan_text_to_fen(params.get("total_amount", "")),
            status=status,
            paid_at=_beijing_time(params.get("gmt_payment", "")),
            app_id=params.get("app_id", ""),
        )

    def is_refund_notification(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Alipay reports refunds on the trade's notify_url, with `out_biz_no` and `refund_fee`."""
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return False
        return bool(params.get("out_biz_no") and params.get("refund_fee"))

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotification:
        params = self._verified_params(body)
        if not params.get("out_biz_no"):
            raise ForgedNotification("refund notification without out_biz_no")
        return RefundNotification(
            refund_no=params["out_biz_no"],
            out_trade_no=params.get("out_trade_no", ""),
            provider_refund_id=params.get("trade_no", ""),
            amount_fen=None,
            status=RefundStatus.SUCCEEDED,
            refunded_at=_beijing_time(params.get("gmt_refund", "")[:19]),
            total_refunded_fen=yuan_text_to_fen(params.get("refund_fee", "")),
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        try:
            response = self.client.api_alipay_trade_refund(
                refund_amount=str(fen_to_yuan(request.refund_fen)),
                out_trade_no=None if request.transaction_id else request.payment_no,
                trade_no=request.transaction_id or None,
                out_request_no=request.refund_no,
                refund_reason=request.reason[:256],
            )
        except (httpx.HTTPError, OSError, AliPayValidationError) as exc:
            raise ProviderUnavailable(f"alipay refund failed: {exc!r}") from exc
        except AliPayException as exc:
            return RefundResult(RefundStatus.FAILED, message=f"alipay refused: {exc}"[:200])
        if str(response.get("code")) != "10000":
            return RefundResult(
                RefundStatus.FAILED,
                message=f"{response.get('sub_code', '')} {response.get('sub_msg', '')}"[:200],
            )
        trade_no = str(response.get("trade_no", ""))
        if response.get("fund_change") == "Y":
            refunded_at = _beijing_time(str(response.get("gmt_refund_pay", ""))[:19])
            return RefundResult(RefundStatus.SUCCEEDED, trade_no, refunded_at or clock.now())
        # Accepted without moving money yet: the async notification (or a query) settles it.
        return RefundResult(RefundStatus.PENDING, trade_no)

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        """Alipay stops retrying only on the plain text `success`."""
        return NotificationAck(
            status=200, content_type="text/plain", body=b"success" if accepted else b"fail"
        )
