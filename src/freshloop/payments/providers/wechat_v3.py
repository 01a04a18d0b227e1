"""WeChat Pay APIv3 callback security, shared by the real adapter and the sandbox.

Per the published rules a callback is trusted only when
1. `Wechatpay-Signature` is a valid RSA-SHA256 (PKCS#1 v1.5) signature, by the platform key
   named in `Wechatpay-Serial`, over "<Wechatpay-Timestamp>\\n<Wechatpay-Nonce>\\n<body>\\n";
2. `Wechatpay-Timestamp` is within five minutes of our clock (a replayed capture goes stale);
3. `resource` decrypts with AEAD_AES_256_GCM under the merchant's APIv3 key (nonce and
   associated_data from the resource); a failed tag means the body was not meant for us.

We verify here rather than through `wechatpayv3.WeChatPay.callback`: the library looks an
unknown serial up by downloading platform certificates (a network call inside a request
handler) and does not check the timestamp window.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from freshloop.payments.providers.base import (
    ForgedNotification,
    NotificationAck,
    NotificationStatus,
    PaymentNotification,
    RefundNotification,
    RefundStatus,
)

StatusT = TypeVar("StatusT", NotificationStatus, RefundStatus)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
TIMESTAMP_WINDOW_SECONDS = 300
ALGORITHM = "AEAD_AES_256_GCM"


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup (Django, WSGI and test clients spell them differently)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return ""


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def verify_signature(
    *,
    headers: Mapping[str, str],
    body: bytes,
    platform_keys: Mapping[str, RSAPublicKey],
    now: dt.datetime,
) -> None:
    """Raise ForgedNotification unless the headers prove WeChat Pay sent exactly `body` lately."""
    serial = header(headers, "Wechatpay-Serial")
    signature = header(headers, "Wechatpay-Signature")
    timestamp = header(headers, "Wechatpay-Timestamp")
    nonce = header(headers, "Wechatpay-Nonce")
    signature_type = header(headers, "Wechatpay-Signature-Type")
    if not (serial and signature and timestamp and nonce):
        raise ForgedNotification("missing Wechatpay-* signature headers")
    if signature_type and signature_type != SIGNATURE_TYPE:
        raise ForgedNotification(f"unsupported signature type {signature_type[:40]!r}")
    public_key = platform_keys.get(serial)
    if public_key is None:
        raise ForgedNotification(f"unknown platform key serial {serial[:64]!r}")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise ForgedNotification("timestamp is not a number") from exc
    if abs(now.timestamp() - sent_at) > TIMESTAMP_WINDOW_SECONDS:
        raise ForgedNotification("timestamp outside the five-minute window")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ForgedNotification("signature is not base64") from exc
    try:
        public_key.verify(
            raw_signature,
            signed_message(timestamp, nonce, body),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as exc:
        raise ForgedNotification("signature does not match") from exc


def read_envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ForgedNotification("body is not JSON") from exc
    if not isinstance(envelope, dict) or envelope.get("resource_type") != "encrypt-resource":
        raise ForgedNotification("body is not an encrypted-resource notification")
    if not isinstance(envelope.get("resource"), dict):
        raise ForgedNotification("notification has no resource")
    return envelope


def decrypt_text(resource: Mapping[str, Any], apiv3_key: bytes) -> str:
    """Open an AEAD_AES_256_GCM envelope (callback resource, downloaded certificate)."""
    if resource.get("algorithm") != ALGORITHM:
        raise ForgedNotification("unsupported resource algorithm")
    try:
        nonce = str(resource["nonce"]).encode()
        associated_data = str(resource.get("associated_data") or "").encode()
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        return AESGCM(apiv3_key).decrypt(nonce, ciphertext, associated_data).decode()
    except (KeyError, binascii.Error, InvalidTag, ValueError) as exc:
        raise ForgedNotification("resource does not decrypt with our APIv3 key") from exc


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: bytes) -> dict[str, Any]:
    plain = decrypt_text(resource, apiv3_key)
    try:
        data = json.loads(plain)
    except ValueError as exc:
        raise ForgedNotification("resource is not JSON") from exc
    if not isinstance(data, dict):
        raise ForgedNotification("decrypted resource is not an object")
    return data


def open_notification(
    *,
    headers: Mapping[str, str],
    body: bytes,
    platform_keys: Mapping[str, RSAPublicKey],
    apiv3_key: bytes,
    now: dt.datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify and decrypt a callback; returns (envelope, decrypted resource)."""
    verify_signature(headers=headers, body=body, platform_keys=platform_keys, now=now)
    envelope = read_envelope(body)
    return envelope, decrypt_resource(envelope["resource"], apiv3_key)


def check_merchant(resource: Mapping[str, Any], *, mchid: str) -> None:
    """A verified resource about another merchant's money is not ours to book."""
    if str(resource.get("mchid", "")) != mchid:
        raise ForgedNotification("notification is for another merchant")


def check_app(resource: Mapping[str, Any], *, appid: str) -> None:
    """A payment taken through another app (公众号/小程序) is not ours either."""
    if str(resource.get("appid", "")) != appid:
        raise ForgedNotification("notification is for another app")


def _parse_time(value: object) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ForgedNotification("time is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise ForgedNotification("time has no zone")
    return moment.astimezone(dt.UTC)


def _fen(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ForgedNotification("amount is not a whole number of fen")
    return value


def _known_state(states: Mapping[str, StatusT], state: str, field: str) -> StatusT:
    """What a provider state means to us; a state we do not know is not trusted."""
    status = states.get(state)
    if status is None:
        raise ForgedNotification(f"unknown {field} {state[:20]!r}")
    return status


_TRADE_STATES = {
    "SUCCESS": NotificationStatus.SUCCEEDED,
    "CLOSED": NotificationStatus.CLOSED,
    "REVOKED": NotificationStatus.CLOSED,
    "PAYERROR": NotificationStatus.FAILED,
    "NOTPAY": NotificationStatus.PENDING,
    "USERPAYING": NotificationStatus.PENDING,
    "REFUND": NotificationStatus.SUCCEEDED,
}


def transaction_to_notification(transaction: Mapping[str, Any]) -> PaymentNotification:
    """Read a decrypted `transaction` resource (支付成功通知)."""
    try:
        out_trade_no = str(transaction["out_trade_no"])
        state = str(transaction["trade_state"])
        amount = transaction["amount"]
        total = _fen(amount["total"])
    except (KeyError, TypeError) as exc:
        raise ForgedNotification(f"transaction resource lacks {exc}") from exc
    return PaymentNotification(
        out_trade_no=out_trade_no,
        transaction_id=str(transaction.get("transaction_id") or ""),
        amount_fen=total,
        status=_known_state(_TRADE_STATES, state, "trade_state"),
        paid_at=_parse_time(transaction.get("success_time")),
        app_id=str(transaction.get("appid") or ""),
    )


_REFUND_STATES = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "CLOSED": RefundStatus.FAILED,
    "ABNORMAL": RefundStatus.FAILED,
    "PROCESSING": RefundStatus.PENDING,
}


def refund_to_notification(refund: Mapping[str, Any]) -> RefundNotification:
    """Read a decrypted `refund` resource (退款结果通知)."""
    try:
        refund_no = str(refund["out_refund_no"])
        state = str(refund["refund_status"])
        amount = _fen(refund["amount"]["refund"])
    except (KeyError, TypeError) as exc:
        raise ForgedNotification(f"refund resource lacks {exc}") from exc
    return RefundNotification(
        refund_no=refund_no,
        out_trade_no=str(refund.get("out_trade_no") or ""),
        provider_refund_id=str(refund.get("refund_id") or ""),
        amount_fen=amount,
        status=_known_state(_REFUND_STATES, state, "refund_status"),
        refunded_at=_parse_time(refund.get("success_time")),
    )


def acknowledge(*, accepted: bool, message: str, retry: bool) -> NotificationAck:
    """WeChat Pay reads 200/204 as received; any 4xx/5xx with {"code": "FAIL"} is retried."""
    if accepted:
        return NotificationAck(status=204, content_type="application/json", body=b"")
    body = json.dumps({"code": "FAIL", "message": message[:200]}, ensure_ascii=False).encode()
    return NotificationAck(status=500 if retry else 400, content_type="application/json", body=body)


# --- the platform's side: used by the sandbox (and by tests acting as WeChat Pay) -----------


def encrypt_resource(
    plain: Mapping[str, Any] | str,
    *,
    apiv3_key: bytes,
    original_type: str,
    associated_data: str,
) -> dict[str, str]:
    nonce = secrets.token_hex(6)  # 12 ASCII characters, as WeChat Pay sends
    text = (
        plain
        if isinstance(plain, str)
        else json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    )
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), text.encode(), associated_data.encode())
    return {
        "original_type": original_type,
        "algorithm": ALGORITHM,
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def sign_headers(
    *,
    private_key: RSAPrivateKey,
    serial: str,
    body: bytes,
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, str]:
    nonce = nonce or secrets.token_hex(16)
    signature = private_key.sign(
        signed_message(str(timestamp), nonce, body), padding.PKCS1v15(), hashes.SHA256()
    )
    return {
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": base64.b64encode(signature).decode(),
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def build_notification(
    *,
    private_key: RSAPrivateKey,
    serial: str,
    apiv3_key: bytes,
    event_type: str,
    original_type: str,
    resource: Mapping[str, Any],
    summary: str,
    now: dt.datetime,
) -> tuple[dict[str, str], bytes]:
    """A callback exactly as WeChat Pay would send it: (headers, body)."""
    envelope = {
        "id": f"EV-{secrets.token_hex(10)}",
        "create_time": now.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat(
            timespec="seconds"
        ),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": encrypt_resource(
            resource,
            apiv3_key=apiv3_key,
            original_type=original_type,
            associated_data=original_type,
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    headers = sign_headers(
        private_key=private_key, serial=serial, body=body, timestamp=int(now.timestamp())
    )
    return headers, body
