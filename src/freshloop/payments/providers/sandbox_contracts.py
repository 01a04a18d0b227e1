"""The sandbox's contracts (委托代扣): a local signing page, callbacks signed and encrypted like
WeChat Pay's, and charges that succeed unless the buyer chose "余额不足" when signing.

Its ledger (files in the data directory, as for the sandbox's payments) holds each signed
contract, so every process sees the same platform: a charge under a contract the platform
does not know, or one that was ended, is refused the way WeChat Pay refuses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from freshloop.core import clock
from freshloop.payments.providers import wechat_v3
from freshloop.payments.providers.base import (
    ForgedNotification,
    NotificationAck,
    PaymentNotification,
    PaymentPrompt,
    PromptKind,
)
from freshloop.payments.providers.contracts import (
    ContractChargeRequest,
    ContractChargeResult,
    ContractChargeStatus,
    ContractNotification,
    ContractNotificationKind,
    ContractSignRequest,
)
from freshloop.payments.providers.sandbox import SandboxProvider

BEIJING = dt.timezone(dt.timedelta(hours=8))
CONTRACT_EVENT_TYPES = {
    "PAPAY.SIGN": ContractNotificationKind.SIGNED,
    "PAPAY.TERMINATE": ContractNotificationKind.TERMINATED,
}


class SandboxContracts:
    name = "sandbox"
    # WeChat Pay only charges 07:00–22:00; the sandbox charges at any hour so the demo (and
    # the browser tests, which cannot move the server's clock) never wait for morning. The
    # window itself is tested against a gateway that keeps WeChat's hours.
    charge_hours = (0, 24)

    def __init__(self, platform: SandboxProvider) -> None:
        self.platform = platform

    # --- merchant side ----------------------------------------------------------------------

    def sign_prompt(self, request: ContractSignRequest) -> PaymentPrompt:
        page = f"/m/pay/contracts/{request.contract_no}"
        if request.return_path:
            page += "?" + urlencode({"next": request.return_path})
        return PaymentPrompt(kind=PromptKind.REDIRECT, redirect_url=page)

    def parse_contract_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> ContractNotification:
        envelope, resource = wechat_v3.open_notification(
            headers=headers,
            body=body,
            platform_keys={self.platform.serial: self.platform.private_key.public_key()},
            apiv3_key=self.platform.apiv3_key,
            now=clock.now(),
        )
        wechat_v3.check_merchant(resource, mchid=self.platform.mchid)
        kind = CONTRACT_EVENT_TYPES.get(str(envelope.get("event_type", "")))
        if kind is None:
            raise ForgedNotification("not a contract notification")
        try:
            at = dt.datetime.fromisoformat(str(resource["operate_time"])).astimezone(dt.UTC)
            return ContractNotification(
                kind=kind,
                contract_no=str(resource["contract_code"]),
                provider_contract_id=str(resource["contract_id"]),
                at=at,
                detail=str(resource.get("termination_detail", "")),
            )
        except (KeyError, ValueError) as exc:
            raise ForgedNotification(f"contract resource unreadable: {exc}") from exc

    def pre_debit_notify(self, *, provider_contract_id: str, amount_fen: int) -> None:
        """The sandbox tells nobody; its charges need no notice period."""

    def charge(self, request: ContractChargeRequest) -> ContractChargeResult:
        contract = self.platform._ledger_read("contracts", request.provider_contract_id)
        if contract is None or self.platform._ledger_read(
            "contracts_ended", request.provider_contract_id
        ):
            return ContractChargeResult(
                status=ContractChargeStatus.REFUSED,
                code="CONTRACT_NOT_EXIST",
                message="签约协议不存在或已解约（沙箱）",
            )
        if contract.get("refuse_charges"):
            return ContractChargeResult(
                status=ContractChargeStatus.REFUSED,
                code="NOTENOUGH",
                message="余额不足（沙箱模拟）",
            )
        # Like WeChat Pay's pappayapply: the request is accepted and the money taken; its
        # fate reaches the merchant by callback or 查单 (the ledger answers the query).
        if self.platform._ledger_read("paid", request.payment_no) is None:
            self.platform.record_paid(payment_no=request.payment_no, amount_fen=request.amount_fen)
        return ContractChargeResult(status=ContractChargeStatus.ACCEPTED)

    def parse_charge_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification:
        return self.platform.parse_notification(headers, body)

    def terminate(self, *, contract_no: str, provider_contract_id: str, reason: str) -> None:
        if provider_contract_id:
            self.platform._ledger_write(
                "contracts_ended", provider_contract_id, {"reason": reason[:100]}
            )

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        return wechat_v3.acknowledge(accepted=accepted, message=message, retry=retry)

    # --- platform side (what the sandbox signing page calls) ----------------------------------

    @staticmethod
    def contract_id_for(contract_no: str) -> str:
        return "SBXC" + hashlib.sha256(contract_no.encode()).hexdigest()[:24].upper()

    def record_signed(self, *, contract_no: str, refuse_charges: bool) -> str:
        """The platform signs the contract (what its charges will check); its contract id."""
        contract_id = self.contract_id_for(contract_no)
        self.platform._ledger_write(
            "contracts",
            contract_id,
            {"contract_code": contract_no, "refuse_charges": refuse_charges},
        )
        return contract_id

    def build_contract_notification(
        self,
        *,
        contract_no: str,
        kind: ContractNotificationKind,
        detail: str = "",
        now: dt.datetime | None = None,
    ) -> tuple[dict[str, str], bytes]:
        now = now or clock.now()
        resource: dict[str, Any] = {
            "mchid": self.platform.mchid,
            "appid": self.platform.appid,
            "contract_code": contract_no,
            "contract_id": self.contract_id_for(contract_no),
            "operate_time": now.astimezone(BEIJING).isoformat(timespec="seconds"),
            "termination_detail": detail,
        }
        event_type = next(name for name, value in CONTRACT_EVENT_TYPES.items() if value == kind)
        return wechat_v3.build_notification(
            private_key=self.platform.private_key,
            serial=self.platform.serial,
            apiv3_key=self.platform.apiv3_key,
            event_type=event_type,
            original_type="contract",
            resource=resource,
            summary="签约成功" if kind == ContractNotificationKind.SIGNED else "解约成功",
            now=now,
        )
