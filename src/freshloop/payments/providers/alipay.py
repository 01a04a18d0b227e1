"""Alipay through `python-alipay-sdk`: mobile-site pay (alipay.trade.wap.pay) on a phone, a
face-to-face QR order (alipay.trade.precreate) on a desktop, 查单 (alipay.trade.query), 关单
(alipay.trade.close), RSA2 async notifications, refunds (alipay.trade.refund).

Notifications are form-encoded. Per Alipay's rules every parameter except `sign` and
`sign_type` is sorted by name, joined as `k=v` with `&` (decoded values) and checked with
RSA2 (SHA256withRSA) against the Alipay public key; then `app_id` must be ours and
`total_amount` (yuan, two decimals) must convert to fen exactly.

Answers to our gateway calls are JSON `{"<method>_response": {...}, "sign": "..."}`; the SDK
checks `sign` over the exact text of the response node with the same key. Only a signed answer
is believed, including a business failure such as ACQ.TRADE_NOT_EXIST: an unsigned or forged
answer is ProviderUnavailable, never a fact about money.

The gateway call is the one external edge: `transport(url) -> response text` defaults to an
HTTPS GET with httpx and is replaced in tests.
"""

from __future__ import annotations

import datetime as dt
import json
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
    PromptKind,
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
        answer = self._verify_and_return_sync_response(raw, response_type)
        # The SDK verifies the text after the first occurrence of the response's name wherever
        # it appears; insist that what it verified is the body's own answer to this call, so a
        # signed answer to another call (or one smuggled inside a field) cannot stand in.
        if json.loads(raw).get(response_type) != answer:
            raise AliPayValidationError(f"the verified text is not the {response_type}")
        return answer


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

SUCCESS_CODE = "10000"
# 查单/关单 of an out_trade_no Alipay has no trade for: with WAP and QR pay the trade is only
# created when the buyer opens the cashier or scans the code.
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
# 关单 of a trade that is no longer waiting for the buyer (paid, finished, or already closed).
# The v3 error table lists the two REASON_ codes with the same meaning.
CLOSE_STATUS_ERRORS = frozenset(
    {"ACQ.TRADE_STATUS_ERROR", "ACQ.REASON_ILLEGAL_STATUS", "ACQ.REASON_TRADE_STATUS_INVALID"}
)


def _beijing_text(moment: dt.datetime) -> str:
    """Alipay's `yyyy-MM-dd HH:mm:ss`, which it reads as Beijing time."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _refusal(answer: Mapping[str, Any]) -> str:
    """A business failure as people read it: `40004 ACQ.TOTAL_FEE_EXCEED 订单金额超过限额`."""
    parts = (answer.get("code", ""), answer.get("sub_code", ""), answer.get("sub_msg", ""))
    return " ".join(str(part) for part in parts if part)[:200]


class AlipayProvider:
    name = "alipay"
    label = "支付宝"
    client_kinds = frozenset({ClientKind.H5.value, ClientKind.NATIVE.value})

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
        # Imported here: the agreement module builds on this one's helpers.
        from freshloop.payments.providers.alipay_agreement import AlipayAgreements

        self.contracts = AlipayAgreements(self) if config.agreement_enabled else None

    @property
    def gateway(self) -> str:
        return str(self.client._gateway)

    def _site_url(self, path: str) -> str | None:
        """Our page the cashier returns to. Only a path on our own site is joined to the base
        URL: `@evil.example` would turn `https://shop.example.com@evil.example` into a
        redirect to another host."""
        if not path:
            return None
        if not path.startswith("/") or path.startswith("//"):
            raise ProviderUnavailable(f"return path {path[:40]!r} is not a path on this site")
        return f"{self.base_url}{path}"

    def create_payment(self, request: PaymentRequest, payer: Payer) -> PaymentPrompt:
        if request.client_kind == ClientKind.NATIVE:
            return self._precreate(request)
        if request.client_kind != ClientKind.H5:
            raise ProviderUnavailable(f"alipay has no {request.client_kind!r} cashier")
        return self._wap_pay(request)

    def _wap_pay(self, request: PaymentRequest) -> PaymentPrompt:
        """手机网站支付: a signed gateway URL the phone browser opens; nothing is sent yet, the
        trade exists at Alipay only once the buyer opens it.
        https://docs.open.alipay.com/api_1/alipay.trade.wap.pay (quit_url: where the cashier's
        "back" goes; time_expire: absolute deadline, yyyy-MM-dd HH:mm:ss in Beijing time)."""
        extra: dict[str, str] = {}
        if request.expires_at is not None:
            extra["time_expire"] = _beijing_text(request.expires_at)
        back = self._site_url(request.return_path)
        if back:
            extra["quit_url"] = back
        query = self.client.api_alipay_trade_wap_pay(
            subject=request.description[:256],
            out_trade_no=request.payment_no,
            total_amount=str(fen_to_yuan(request.amount_fen)),
            return_url=back,
            notify_url=self.notify_url,
            **extra,
        )
        return PaymentPrompt(kind=PromptKind.REDIRECT, redirect_url=f"{self.gateway}?{query}")

    def _precreate(self, request: PaymentRequest) -> PaymentPrompt:
        """当面付 预下单: Alipay opens the trade now and answers a `qr_code` URL for the buyer's
        phone to scan; failures are code 40004 with a sub_code (e.g. ACQ.TOTAL_FEE_EXCEED).
        product_code is left to Alipay's default for 当面付 (FACE_TO_FACE_PAYMENT).
        https://docs.open.alipay.com/api_1/alipay.trade.precreate"""
        extra: dict[str, str] = {}
        if request.expires_at is not None:
            extra["time_expire"] = _beijing_text(request.expires_at)
        answer = self._signed_answer(
            "precreate",
            request.payment_no,
            lambda: self.client.api_alipay_trade_precreate(
                subject=request.description[:256],
                out_trade_no=request.payment_no,
                total_amount=str(fen_to_yuan(request.amount_fen)),
                notify_url=self.notify_url,
                **extra,
            ),
        )
        if str(answer.get("code")) != SUCCESS_CODE:
            raise ProviderUnavailable(f"alipay precreate refused: {_refusal(answer)}")
        qr_code = answer.get("qr_code")
        if not isinstance(qr_code, str) or not qr_code:
            raise ProviderUnavailable("alipay precreate answered no qr_code")
        if answer.get("out_trade_no") != request.payment_no:
            raise ProviderUnavailable("alipay precreate answered for another out_trade_no")
        return PaymentPrompt(kind=PromptKind.QR, qr_content=qr_code)

    def query_payment(self, payment_no: str) -> PaymentNotification | None:
        """查单 by out_trade_no: https://opendocs.alipay.com/open/02e7gm (alipay.trade.query; also
        https://docs.open.alipay.com/api_1/alipay.trade.query). trade_status WAIT_BUYER_PAY /
        TRADE_SUCCESS / TRADE_FINISHED / TRADE_CLOSED, total_amount in yuan, send_pay_date in
        Beijing time; ACQ.TRADE_NOT_EXIST when no trade was ever opened."""
        answer = self._signed_answer(
            "query", payment_no, lambda: self.client.api_alipay_trade_query(out_trade_no=payment_no)
        )
        if str(answer.get("code")) != SUCCESS_CODE:
            if answer.get("sub_code") == TRADE_NOT_EXIST:
                return None
            raise ProviderUnavailable(f"alipay query refused: {_refusal(answer)}")
        if answer.get("out_trade_no") != payment_no:
            raise ProviderUnavailable("alipay query answered for another out_trade_no")
        status = _TRADE_STATUSES.get(str(answer.get("trade_status", "")))
        if status is None:
            raise ProviderUnavailable("alipay query answered an unknown trade_status")
        try:
            amount_fen = yuan_text_to_fen(str(answer.get("total_amount", "")))
            paid_at = (
                _beijing_time(str(answer.get("send_pay_date", "")))
                if status == NotificationStatus.SUCCEEDED
                else None
            )
        except ForgedNotification as exc:
            raise ProviderUnavailable(f"alipay query answer refused: {exc}") from exc
        return PaymentNotification(
            out_trade_no=payment_no,
            transaction_id=str(answer.get("trade_no", "")),
            amount_fen=amount_fen,
            status=status,
            paid_at=paid_at,
            app_id=self.config.app_id,
        )

    def close_payment(self, payment_no: str) -> None:
        """关单 by out_trade_no: https://opendocs.alipay.com/open/02e7gn (alipay.trade.close; also
        https://docs.open.alipay.com/api_1/alipay.trade.close). Only a WAIT_BUYER_PAY trade can
        be closed; any other state answers ACQ.TRADE_STATUS_ERROR."""
        answer = self._signed_answer(
            "close", payment_no, lambda: self.client.api_alipay_trade_close(out_trade_no=payment_no)
        )
        if str(answer.get("code")) == SUCCESS_CODE:
            return
        sub_code = answer.get("sub_code")
        if sub_code == TRADE_NOT_EXIST:
            return  # never opened at Alipay: nothing can be paid on it any more than now
        if sub_code in CLOSE_STATUS_ERRORS:
            # Closed already (our earlier close whose answer was lost) is done; paid or finished
            # is money that arrived and must be booked, which only the caller can do.
            found = self.query_payment(payment_no)
            if found is not None and found.status == NotificationStatus.CLOSED:
                return
            state = found.status.value if found is not None else "unknown"
            raise ProviderUnavailable(
                f"alipay close refused ({sub_code}): the trade is {state}, not waiting for "
                "payment; query it and book the money"
            )
        raise ProviderUnavailable(f"alipay close refused: {_refusal(answer)}")

    def _signed_answer(
        self, operation: str, payment_no: str, call: Callable[[], Any]
    ) -> dict[str, Any]:
        """Make one gateway call and return Alipay's signed answer (a success or a business
        failure). Unreachable, unsigned, forged or foreign answers are ProviderUnavailable."""
        try:
            answer = call()
        except (httpx.HTTPError, OSError) as exc:
            raise ProviderUnavailable(f"alipay {operation}: gateway unreachable: {exc!r}") from exc
        except AliPayValidationError as exc:
            raise ProviderUnavailable(
                f"alipay {operation}: answer not signed by Alipay's key, refused"
            ) from exc
        except AliPayException as exc:
            # The SDK raises this for an answer without `sign` (or an `error_response`):
            # gateway-level errors such as a bad app id or request signature.
            raise ProviderUnavailable(f"alipay {operation}: unsigned answer: {exc}"[:300]) from exc
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ProviderUnavailable(f"alipay {operation}: unreadable answer") from exc
        if not isinstance(answer, dict):
            raise ProviderUnavailable(f"alipay {operation}: unreadable answer")
        # The answer names the trade (and, in some answers, the app and seller); where it does,
        # it must be ours, so a genuine answer about another trade cannot be replayed to us.
        for field, ours in (
            ("out_trade_no", payment_no),
            ("app_id", self.config.app_id),
            ("seller_id", self.config.seller_id),
        ):
            theirs = answer.get(field)
            if theirs and ours and theirs != ours:
                raise ProviderUnavailable(f"alipay {operation}: answer is for another {field}")
        return answer

    def _verified_params(self, body: bytes, *, seller_required: bool = True) -> dict[str, str]:
        """The notification's parameters once its RSA2 signature and app_id are ours. Trade
        notifications name the seller; agreement (dut_user_*) ones name none, so for them
        (`seller_required=False`) only a seller_id that is present must be ours."""
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
        seller = params.get("seller_id")
        seller_named = seller_required or seller is not None
        if self.config.seller_id and seller_named and seller != self.config.seller_id:
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
