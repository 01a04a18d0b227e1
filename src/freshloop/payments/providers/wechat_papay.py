"""WeChat Pay 委托代扣 (contract charges, 直连商户) as a `ContractGateway`.

Every 委托代扣 API is APIv2: XML bodies signed with the merchant's APIv2 key. The v2 signature
(签名生成算法): drop `sign` and empty values, sort the rest by key (ASCII), join `k=v` with `&`,
append `&key=<APIv2 key>`, then MD5 (hex, upper case) or HMAC-SHA256 keyed with the APIv2 key
(hex, upper case). Which one is used is per API, as the pages document it:

- 公众号纯签约 `papay/entrustweb` and 申请解约 `papay/deletecontract` are signed with MD5 (their
  `sign` is at most 32 characters and neither takes a `sign_type`);
- 申请扣款 `pay/pappayapply` is sent with `sign_type=HMAC-SHA256`.

WeChat's answers and callbacks are accepted signed either way (32 hex characters: MD5, 64:
HMAC-SHA256), compared in constant time; an unsigned one is never believed.

The pre-debit notice (预扣费通知) is APIv3 and goes through the v3 provider's signed client.
Charges and pre-debit notices may only be made 07:00–22:00 Beijing time (`charge_hours`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from wechatpayv3.type import RequestType  # type: ignore[import-untyped]

from freshloop.core import clock
from freshloop.payments.config import WechatPayConfig
from freshloop.payments.providers.base import (
    ForgedNotification,
    NotificationAck,
    NotificationStatus,
    PaymentNotification,
    PaymentPrompt,
    PromptKind,
    ProviderUnavailable,
)
from freshloop.payments.providers.contracts import (
    ContractChargeRequest,
    ContractChargeResult,
    ContractChargeStatus,
    ContractNotification,
    ContractNotificationKind,
    ContractSignRequest,
)

__all__ = [
    "SignType",
    "Transport",
    "V3Post",
    "WechatPapay",
    "https_post_xml",
    "parse_xml",
    "to_xml",
    "v2_sign",
    "v2_verify",
    "v3_poster",
]

logger = logging.getLogger(__name__)

BEIJING = dt.timezone(dt.timedelta(hours=8))
API_BASE = "https://api.mch.weixin.qq.com"
ENTRUST_WEB_URL = f"{API_BASE}/papay/entrustweb"
APPLY_CHARGE_URL = f"{API_BASE}/pay/pappayapply"
DELETE_CONTRACT_URL = f"{API_BASE}/papay/deletecontract"

# (url, XML body) -> response body: the one network edge, replaced in tests.
Transport = Callable[[str, bytes], bytes]
# (path, JSON payload) -> (HTTP status, body): a signed APIv3 POST; raises ProviderUnavailable.
V3Post = Callable[[str, dict[str, Any]], tuple[int, bytes]]

# 申请扣款 errors where the same request may succeed later: retried with the same payment_no,
# which WeChat charges at most once.
RETRYABLE_CHARGE_ERRORS = frozenset({"SYSTEMERROR", "FREQUENCY_LIMITED", "FREQ_LIMIT"})
# The payment_no was already paid: the money's fate is read from the callback or 查单.
ALREADY_PAID_CHARGE_ERRORS = frozenset({"ORDERPAID"})
# A contract WeChat no longer knows is as ended as we want it to be.
GONE_CONTRACT_ERRORS = frozenset({"CONTRACT_NOT_EXIST"})
# PAP results that are not final yet (a notice normally carries SUCCESS or PAYERROR).
PENDING_TRADE_STATES = frozenset({"ACCEPT", "USERPAYING", "NOTPAY"})

# 签约、解约结果通知 `contract_termination_mode`, in words an operator reads.
TERMINATION_MODES = {
    "0": "未解约",
    "1": "协议到期",
    "2": "用户主动解约",
    "3": "商户解约",
    "4": "商户平台解约",
    "5": "用户注销微信账号",
}

# Field lengths. The pages do not say whether they count bytes or characters; where it could
# matter the cut keeps within the byte count even for 3-byte (Chinese) characters.
DISPLAY_ACCOUNT_CHARS = 42  # contract_display_account: string[1,128]
CHARGE_BODY_CHARS = 127  # body: string[1,127]
TERMINATION_REMARK_CHARS = 170  # contract_termination_remark: string[1,512]


class SignType(StrEnum):
    MD5 = "MD5"
    HMAC_SHA256 = "HMAC-SHA256"


class UnreadableXml(ValueError):
    """A body that is not the flat `<xml>` message WeChat Pay sends."""


# --- the v2 wire format -------------------------------------------------------------------


def v2_signing_string(params: Mapping[str, str], key: str) -> str:
    pairs = sorted((name, value) for name, value in params.items() if name != "sign" and value)
    return "&".join(f"{name}={value}" for name, value in pairs) + f"&key={key}"


def v2_sign(params: Mapping[str, str], key: str, sign_type: SignType) -> str:
    message = v2_signing_string(params, key).encode()
    if sign_type is SignType.MD5:
        # MD5 is WeChat Pay's own v2 signature scheme, not a choice of ours.
        return hashlib.md5(message).hexdigest().upper()  # noqa: S324
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest().upper()


def v2_verify(params: Mapping[str, str], key: str) -> bool:
    """True when `sign` is WeChat's MD5 (32 hex) or HMAC-SHA256 (64 hex) over the rest."""
    given = params.get("sign", "").upper()
    sign_type = {32: SignType.MD5, 64: SignType.HMAC_SHA256}.get(len(given))
    if sign_type is None:
        return False
    return hmac.compare_digest(v2_sign(params, key, sign_type).encode(), given.encode())


def _cdata(value: str) -> str:
    # "]]>" would end the section early; split it across two sections.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(params: Mapping[str, str]) -> bytes:
    """The flat `<xml>` message WeChat Pay reads; names are ours, values are escaped."""
    fields = "".join(f"<{name}>{_cdata(value)}</{name}>" for name, value in params.items())
    return f"<xml>{fields}</xml>".encode()


def parse_xml(body: bytes) -> dict[str, str]:
    """Read a flat `<xml>` message. Anything with a DOCTYPE is refused before expat sees it:
    without one, no entity beyond the five predefined ones can be declared (no expansion
    bombs, no external entities)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableXml("not UTF-8") from exc
    if "<!doctype" in text.lower() or "<!entity" in text.lower():
        raise UnreadableXml("a DOCTYPE is not accepted")
    # The declared encoding is overridden, so no UTF-16 declaration can hide a DOCTYPE.
    parser = ET.XMLParser(encoding="utf-8")  # noqa: S314  (no DOCTYPE: checked above)
    try:
        parser.feed(body)
        root = parser.close()
    except ET.ParseError as exc:
        raise UnreadableXml(f"not XML: {exc}") from exc
    if root.tag != "xml":
        raise UnreadableXml(f"root element is <{root.tag}>, not <xml>")
    message: dict[str, str] = {}
    for child in root:
        if len(child) or child.tag in message:
            # Nested or repeated fields would let the signed value differ from the read one.
            raise UnreadableXml(f"<{child.tag}> is nested or repeated")
        message[child.tag] = child.text or ""
    return message


def _without_four_byte_characters(text: str) -> str:
    # WeChat refuses characters beyond the BMP (4 bytes in UTF-8: emoji and the like).
    return "".join(char for char in text if ord(char) <= 0xFFFF)


def _beijing_time(value: str, pattern: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, pattern).replace(tzinfo=BEIJING).astimezone(dt.UTC)
    except ValueError:
        return None


# --- the network edges -------------------------------------------------------------------


def https_post_xml(url: str, body: bytes) -> bytes:
    response = httpx.post(
        url,
        content=body,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=httpx.Timeout(15.0, connect=5.0),
    )
    response.raise_for_status()
    return response.content


def v3_poster(client: Any) -> V3Post:
    """A signed APIv3 POST through the provider's `wechatpayv3` client, whose response
    verifier (the provider's) checks every 2xx answer against the trusted platform keys."""

    def post(path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        try:
            status, body = client._core.request(path, method=RequestType.POST, data=payload)
        except Exception as exc:  # the library raises bare Exception (e.g. a bad signature)
            raise ProviderUnavailable(f"wechatpay POST {path} failed: {exc}") from exc
        raw = body if isinstance(body, bytes) else str(body or "").encode()
        return int(status), raw

    return post


# --- the gateway --------------------------------------------------------------------------


class WechatPapay:
    name = "wechatpay"
    charge_hours = (7, 22)

    def __init__(
        self,
        *,
        config: WechatPayConfig,
        notify_base_url: str,
        v3_post: V3Post,
        transport: Transport = https_post_xml,
    ) -> None:
        if not (config.apiv2_key and config.contract_plan_id):
            raise ValueError("WeChat Pay contracts need the APIv2 key and a contract plan id")
        self.appid = config.appid
        self.mchid = config.mchid
        self.plan_id = config.contract_plan_id
        self._key = config.apiv2_key
        self._v3_post = v3_post
        self._transport = transport
        self.contract_notify_url = f"{notify_base_url}/api/v1/payments/contracts/notify/wechatpay"
        self.charge_notify_url = (
            f"{notify_base_url}/api/v1/payments/contracts/notify/wechatpay/charge"
        )
        self._serial_lock = threading.Lock()
        self._last_serial = 0

    # --- signing ----------------------------------------------------------------------------

    def _next_request_serial(self) -> int:
        """request_serial must be a unique positive int64, used by WeChat to order requests:
        milliseconds since the epoch, bumped when two requests share one."""
        with self._serial_lock:
            serial = max(int(clock.now().timestamp() * 1000), self._last_serial + 1)
            self._last_serial = serial
            return serial

    def sign_prompt(self, request: ContractSignRequest) -> PaymentPrompt:
        display_account = _without_four_byte_characters(request.display_account).strip()
        if not display_account:
            raise ProviderUnavailable("the contract needs an account name to show the buyer")
        params = {
            "appid": self.appid,
            "mch_id": self.mchid,
            "plan_id": self.plan_id,
            "contract_code": request.contract_no,
            "request_serial": str(self._next_request_serial()),
            "contract_display_account": display_account[:DISPLAY_ACCOUNT_CHARS],
            "notify_url": self.contract_notify_url,
            "version": "1.0",
            "timestamp": str(int(clock.now().timestamp())),
            # entrustweb takes no return address: with return_web=1 WeChat sends the buyer back
            # to the page that opened it (its referrer, with from_wxpay=1). So `return_path` is
            # honoured by opening the prompt from that page, which per the page's notes must
            # declare <meta name="referrer" content="no-referrer-when-downgrade"> and navigate
            # with window.location.href (not location.replace).
            "return_web": "1",
        }
        # Signed over the raw values; each value is URL-encoded only in the address.
        params["sign"] = v2_sign(params, self._key, SignType.MD5)
        return PaymentPrompt(
            kind=PromptKind.REDIRECT, redirect_url=f"{ENTRUST_WEB_URL}?{urlencode(params)}"
        )

    # --- callbacks --------------------------------------------------------------------------

    def _verified_callback(self, body: bytes) -> dict[str, str]:
        try:
            message = parse_xml(body)
        except UnreadableXml as exc:
            raise ForgedNotification(f"wechatpay callback unreadable: {exc}") from exc
        if not message.get("sign"):
            raise ForgedNotification("wechatpay callback is not signed")
        if not v2_verify(message, self._key):
            raise ForgedNotification("wechatpay callback signature does not verify")
        if message.get("return_code") != "SUCCESS":
            raise ForgedNotification(f"wechatpay callback failed: {message.get('return_msg')}")
        if message.get("mch_id") != self.mchid:
            raise ForgedNotification("wechatpay callback is about another merchant")
        return message

    def parse_contract_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> ContractNotification:
        message = self._verified_callback(body)
        if message.get("plan_id") != self.plan_id:
            raise ForgedNotification("wechatpay contract callback is about another plan")
        if message.get("result_code") != "SUCCESS":
            raise ForgedNotification("wechatpay contract callback reports no change")
        change_type = message.get("change_type", "")
        contract_no = message.get("contract_code", "")
        provider_contract_id = message.get("contract_id", "")
        if not (contract_no and provider_contract_id):
            raise ForgedNotification("wechatpay contract callback names no contract")
        at = _beijing_time(message.get("operate_time", ""), "%Y-%m-%d %H:%M:%S")
        if change_type == "ADD":
            return ContractNotification(
                kind=ContractNotificationKind.SIGNED,
                contract_no=contract_no,
                provider_contract_id=provider_contract_id,
                at=at,
            )
        if change_type == "DELETE":
            mode = message.get("contract_termination_mode", "")
            return ContractNotification(
                kind=ContractNotificationKind.TERMINATED,
                contract_no=contract_no,
                provider_contract_id=provider_contract_id,
                at=at,
                detail=TERMINATION_MODES.get(mode, f"解约方式 {mode}" if mode else ""),
            )
        raise ForgedNotification(f"wechatpay contract callback change_type {change_type!r}")

    def parse_charge_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification:
        message = self._verified_callback(body)
        if message.get("appid") != self.appid:
            raise ForgedNotification("wechatpay charge callback is about another app")
        out_trade_no = message.get("out_trade_no", "")
        if not out_trade_no:
            raise ForgedNotification("wechatpay charge callback names no payment")
        trade_state = message.get("trade_state", "")
        if message.get("result_code") != "SUCCESS":
            status = NotificationStatus.FAILED
        elif trade_state in ("", "SUCCESS"):
            status = NotificationStatus.SUCCEEDED
        elif trade_state in PENDING_TRADE_STATES:
            status = NotificationStatus.PENDING
        else:
            status = NotificationStatus.FAILED
        total_fee = message.get("total_fee", "")
        transaction_id = message.get("transaction_id", "")
        if status is NotificationStatus.SUCCEEDED and not (total_fee.isdigit() and transaction_id):
            raise ForgedNotification("wechatpay charge callback lacks the amount or transaction")
        return PaymentNotification(
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            amount_fen=int(total_fee) if total_fee.isdigit() else 0,
            status=status,
            paid_at=_beijing_time(message.get("time_end", ""), "%Y%m%d%H%M%S"),
            app_id=message["appid"],
        )

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        # APIv2 has no "do not retry" answer: anything but SUCCESS is sent again on WeChat's
        # schedule, which is what an unverifiable or not-yet-processable callback needs.
        answer = {"return_code": "SUCCESS", "return_msg": "OK"}
        if not accepted:
            answer = {"return_code": "FAIL", "return_msg": message[:128] or "FAIL"}
        return NotificationAck(
            status=200, content_type="text/xml; charset=utf-8", body=to_xml(answer)
        )

    # --- calls ------------------------------------------------------------------------------

    def _call(self, label: str, url: str, params: dict[str, str]) -> dict[str, str]:
        """POST a signed v2 request; the answer is read only when WeChat signed it."""
        try:
            raw = self._transport(url, to_xml(params))
        except (httpx.HTTPError, OSError) as exc:
            raise ProviderUnavailable(f"wechatpay {label} failed: {exc}") from exc
        try:
            answer = parse_xml(raw)
        except UnreadableXml as exc:
            raise ProviderUnavailable(f"wechatpay {label}: unreadable answer ({exc})") from exc
        if answer.get("return_code") != "SUCCESS":
            raise ProviderUnavailable(f"wechatpay {label} refused: {answer.get('return_msg')}")
        if not v2_verify(answer, self._key):
            raise ProviderUnavailable(f"wechatpay {label}: answer is unsigned or forged")
        for field, ours in (("mch_id", self.mchid), ("appid", self.appid)):
            if answer.get(field, ours) != ours:
                raise ProviderUnavailable(f"wechatpay {label}: answer is about another {field}")
        return answer

    def charge(self, request: ContractChargeRequest) -> ContractChargeResult:
        params = {
            "appid": self.appid,
            "mch_id": self.mchid,
            "nonce_str": secrets.token_hex(16),
            "sign_type": SignType.HMAC_SHA256.value,
            "body": request.description[:CHARGE_BODY_CHARS],
            "out_trade_no": request.payment_no,
            "total_fee": str(request.amount_fen),
            "spbill_create_ip": request.client_ip or "127.0.0.1",
            "notify_url": self.charge_notify_url,
            "trade_type": "PAP",
            "contract_id": request.provider_contract_id,
        }
        params["sign"] = v2_sign(params, self._key, SignType.HMAC_SHA256)
        answer = self._call("pappayapply", APPLY_CHARGE_URL, params)
        result_code = answer.get("result_code")
        if result_code == "SUCCESS":
            return ContractChargeResult(ContractChargeStatus.ACCEPTED)
        code, description = answer.get("err_code", ""), answer.get("err_code_des", "")
        if result_code != "FAIL":
            raise ProviderUnavailable(f"wechatpay pappayapply: result_code {result_code!r}")
        if code in RETRYABLE_CHARGE_ERRORS:
            raise ProviderUnavailable(f"wechatpay pappayapply: {code} {description}")
        if code in ALREADY_PAID_CHARGE_ERRORS:
            return ContractChargeResult(
                ContractChargeStatus.ACCEPTED, code=code, message=description
            )
        logger.info("wechatpay refused charge %s: %s %s", request.payment_no, code, description)
        return ContractChargeResult(ContractChargeStatus.REFUSED, code=code, message=description)

    def terminate(self, *, contract_no: str, provider_contract_id: str, reason: str) -> None:
        # Two documented ways to name the contract: WeChat's id, else our plan and code.
        params = {"appid": self.appid, "mch_id": self.mchid}
        if provider_contract_id:
            params["contract_id"] = provider_contract_id
        else:
            params |= {"plan_id": self.plan_id, "contract_code": contract_no}
        params |= {
            "contract_termination_remark": reason[:TERMINATION_REMARK_CHARS] or "商户解约",
            "version": "1.0",
        }
        params["sign"] = v2_sign(params, self._key, SignType.MD5)
        answer = self._call("deletecontract", DELETE_CONTRACT_URL, params)
        if answer.get("result_code") == "SUCCESS":
            return
        code = answer.get("err_code", "")
        if code in GONE_CONTRACT_ERRORS:
            return
        raise ProviderUnavailable(
            f"wechatpay deletecontract refused: {code} {answer.get('err_code_des', '')}"
        )

    def pre_debit_notify(self, *, provider_contract_id: str, amount_fen: int) -> None:
        # The charge window (扣费持续时间) is left at WeChat's default.
        path = f"/v3/papay/contracts/{quote(provider_contract_id, safe='')}/notify"
        payload = {
            "mchid": self.mchid,
            "appid": self.appid,
            "estimated_amount": {"amount": amount_fen, "currency": "CNY"},
        }
        status, body = self._v3_post(path, payload)
        if status in (200, 204):
            return
        try:
            error = json.loads(body or b"{}")
        except ValueError:
            error = {}
        detail = (
            f"{error.get('code', '')} {error.get('message', '')}" if isinstance(error, dict) else ""
        )
        raise ProviderUnavailable(f"wechatpay pre-debit notice refused ({status}): {detail}")
