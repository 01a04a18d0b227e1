"""The offline payment provider: no gateway, but callbacks secured exactly like WeChat Pay v3.

A sandbox "platform" key pair and APIv3 key are generated once into the data directory.
The sandbox pay page (/m/pay/<payment_no>) builds a callback signed with that private key and
encrypted with that APIv3 key, and feeds it through the same verification as real WeChat Pay
callbacks, so the demo exercises the production code path end to end.

The sandbox platform also keeps a ledger (one small file per paid or closed payment in the
data directory, so every process sees it) that its 查单 answers from: the cashier page can
take the money and "lose" the callback, and reconciliation by query is then what books it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from django.conf import settings

from freshloop.core import clock
from freshloop.payments.providers import wechat_v3
from freshloop.payments.providers.base import (
    ClientKind,
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

PRIVATE_KEY_FILE = "payments_sandbox_platform_key.pem"
APIV3_KEY_FILE = "payments_sandbox_apiv3_key"
LEDGER_DIR = "payments_sandbox_ledger"


def _write_once(path: Path, content: bytes) -> None:
    """Create `path` with `content` unless another process already did (first writer wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    temporary.write_bytes(content)
    temporary.chmod(0o600)
    try:
        os.link(temporary, path)  # atomic, and fails if the file exists
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


@lru_cache(maxsize=4)
def sandbox_keys(data_dir: Path) -> tuple[RSAPrivateKey, bytes]:
    """The sandbox platform's RSA key and APIv3 key, created on first use."""
    key_path = data_dir / PRIVATE_KEY_FILE
    if not key_path.exists():
        generated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_once(
            key_path,
            generated.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    apiv3_path = data_dir / APIV3_KEY_FILE
    if not apiv3_path.exists():
        _write_once(apiv3_path, secrets.token_hex(16).encode())  # 32 ASCII bytes, like WeChat's
    private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(private_key, RSAPrivateKey):
        raise RuntimeError(f"{key_path} does not hold an RSA key")
    return private_key, apiv3_path.read_bytes().strip()


def _serial_of(private_key: RSAPrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SANDBOX_" + hashlib.sha256(der).hexdigest()[:32].upper()


class SandboxProvider:
    """Pays instantly on a local page; refunds succeed at once."""

    name = "sandbox"
    label = "沙箱支付"
    client_kinds = frozenset(kind.value for kind in ClientKind)
    mchid = "sandbox-mch"
    appid = "sandbox-app"

    def __init__(self, *, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or settings.FRESHLOOP.data_dir
        self.private_key, self.apiv3_key = sandbox_keys(self.data_dir)
        self.serial = _serial_of(self.private_key)
        self.ledger = self.data_dir / LEDGER_DIR
        from freshloop.payments.providers.sandbox_contracts import SandboxContracts

        self.contracts = SandboxContracts(self)

    # --- merchant side (what production code calls) -------------------------------------

    def create_payment(self, request: PaymentRequest, payer: Payer) -> PaymentPrompt:
        cashier = f"/m/pay/{request.payment_no}"
        if request.return_path:
            cashier += "?" + urlencode({"next": request.return_path})
        if request.client_kind == ClientKind.NATIVE:
            # The QR holds the cashier's address; the API makes it absolute for the phone.
            return PaymentPrompt(kind=PromptKind.QR, qr_content=cashier)
        return PaymentPrompt(kind=PromptKind.REDIRECT, redirect_url=cashier)

    def _open(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Verify and decrypt a callback signed with the sandbox's own key, as WeChat Pay's;
        like the real adapter, a notification for another merchant or app is not ours."""
        _, resource = wechat_v3.open_notification(
            headers=headers,
            body=body,
            platform_keys={self.serial: self.private_key.public_key()},
            apiv3_key=self.apiv3_key,
            now=clock.now(),
        )
        wechat_v3.check_merchant(resource, mchid=self.mchid)
        return resource

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotification:
        resource = self._open(headers, body)
        wechat_v3.check_app(resource, appid=self.appid)
        return wechat_v3.transaction_to_notification(resource)

    def query_payment(self, payment_no: str) -> PaymentNotification | None:
        paid = self._ledger_read("paid", payment_no)
        if paid is not None:
            return wechat_v3.transaction_to_notification(paid)
        state = "CLOSED" if self._ledger_read("closed", payment_no) is not None else "NOTPAY"
        return wechat_v3.transaction_to_notification(
            self._transaction(payment_no=payment_no, amount_fen=0, state=state)
        )

    def close_payment(self, payment_no: str) -> None:
        if self._ledger_read("paid", payment_no) is not None:
            raise ProviderUnavailable("sandbox: ORDERPAID, the payment was already made")
        self._ledger_write("closed", payment_no, {"out_trade_no": payment_no})

    def refund(self, request: RefundRequest) -> RefundResult:
        return RefundResult(
            status=RefundStatus.SUCCEEDED,
            provider_refund_id=f"SBXR{hashlib.sha256(request.refund_no.encode()).hexdigest()[:24]}",
            refunded_at=clock.now(),
        )

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotification:
        return wechat_v3.refund_to_notification(self._open(headers, body))

    def is_refund_notification(self, headers: Mapping[str, str], body: bytes) -> bool:
        return False

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        return wechat_v3.acknowledge(accepted=accepted, message=message, retry=retry)

    # --- platform side (what the sandbox pay page calls) -----------------------------------

    @staticmethod
    def transaction_id_for(payment_no: str) -> str:
        """One transaction per payment, so a double-clicked 确认支付 is a replay, not a second payment."""
        return "SBX" + hashlib.sha256(payment_no.encode()).hexdigest()[:26].upper()

    def _ledger_path(self, shelf: str, payment_no: str) -> Path:
        safe = "".join(ch for ch in payment_no if ch.isalnum() or ch in "-_")[:64]
        return self.ledger / shelf / f"{safe}.json"

    def _ledger_read(self, shelf: str, payment_no: str) -> dict[str, Any] | None:
        path = self._ledger_path(shelf, payment_no)
        if not path.exists():
            return None
        return dict(json.loads(path.read_text()))

    def _ledger_write(self, shelf: str, payment_no: str, record: Mapping[str, Any]) -> None:
        _write_once(self._ledger_path(shelf, payment_no), json.dumps(record).encode())

    def _transaction(
        self, *, payment_no: str, amount_fen: int, state: str, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """The platform's transaction resource, as its query API and callbacks carry it."""
        succeed = state == "SUCCESS"
        resource: dict[str, Any] = {
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": payment_no,
            "transaction_id": self.transaction_id_for(payment_no) if succeed else "",
            "trade_type": "MWEB",
            "trade_state": state,
            "trade_state_desc": {"SUCCESS": "支付成功", "PAYERROR": "模拟支付失败"}.get(state, ""),
            "bank_type": "OTHERS",
            "attach": "",
            "payer": {"openid": "sandbox-payer"},
            "amount": {
                "total": amount_fen,
                "payer_total": amount_fen if succeed else 0,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        if succeed:
            moment = (now or clock.now()).astimezone(dt.timezone(dt.timedelta(hours=8)))
            resource["success_time"] = moment.isoformat(timespec="seconds")
        return resource

    def record_paid(self, *, payment_no: str, amount_fen: int) -> None:
        """The sandbox platform takes the money (what its 查单 will report from now on)."""
        if self._ledger_read("closed", payment_no) is not None:
            raise ProviderUnavailable("sandbox: the payment was closed")
        self._ledger_write(
            "paid",
            payment_no,
            self._transaction(payment_no=payment_no, amount_fen=amount_fen, state="SUCCESS"),
        )

    def build_payment_notification(
        self, *, payment_no: str, amount_fen: int, succeed: bool, now: dt.datetime | None = None
    ) -> tuple[dict[str, str], bytes]:
        now = now or clock.now()
        resource = self._ledger_read("paid", payment_no) if succeed else None
        if resource is None:
            resource = self._transaction(
                payment_no=payment_no,
                amount_fen=amount_fen,
                state="SUCCESS" if succeed else "PAYERROR",
                now=now,
            )
        return wechat_v3.build_notification(
            private_key=self.private_key,
            serial=self.serial,
            apiv3_key=self.apiv3_key,
            event_type="TRANSACTION.SUCCESS" if succeed else "TRANSACTION.FAIL",
            original_type="transaction",
            resource=resource,
            summary="支付成功" if succeed else "支付失败",
            now=now,
        )
