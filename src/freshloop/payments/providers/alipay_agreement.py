"""Alipay 商家扣款 / 周期扣款 (agreement charges) as a ContractGateway, on the Alipay provider's
client, notification check and answer guard.

- Signing: `alipay.user.agreement.page.sign` (docs.open.alipay.com/api_2/
  alipay.user.agreement.page.sign) is a page, not a call: a signed gateway URL the buyer opens
  in the Alipay app. Periodic deduction signs the personal product CYCLE_PAY_AUTH_P under the
  sales product GENERAL_WITHHOLDING (商家扣款) or CYCLE_PAY_AUTH (the older 周期扣款 contract),
  with `period_rule_params` (period_type DAY needs a period of at least 7 days; execute_time
  yyyy-MM-dd; single_amount in yuan) that Alipay shows the buyer and enforces on every charge.
- Callbacks: form-encoded and RSA2-signed like trade notifications, with notify_type
  `dut_user_sign` (status NORMAL, sign_time) or `dut_user_unsign` (status UNSIGN,
  unsign_time), `agreement_no` (Alipay's) and `external_agreement_no` (ours), and no
  seller_id. An agreement that simply expires sends nothing.
- Charging: `alipay.trade.pay` with the same product_code and `agreement_params.agreement_no`
  answers at once: 10000 money taken, 10003 waiting (the trade notification follows), 40004
  refused with a sub_code. The trade's result is also posted to the payment notify URL as an
  ordinary trade notification.
- Ending: `alipay.user.agreement.unsign` (docs.open.alipay.com/api_2/
  alipay.user.agreement.unsign).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from freshloop.core import clock
from freshloop.core.money import fen_to_yuan
from freshloop.payments.providers.alipay import (
    BEIJING,
    SUCCESS_CODE,
    _beijing_time,
    _refusal,
    yuan_text_to_fen,
)
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

if TYPE_CHECKING:
    from freshloop.payments.providers.alipay import AlipayProvider

PERSONAL_PRODUCT_CODE = "CYCLE_PAY_AUTH_P"
# The signing page opens in the Alipay app (钱包 H5); QRCODE is for a page shown on a desktop.
SIGN_CHANNEL = "ALIPAYAPP"
# Alipay's rule for external_agreement_no: letters and digits, at most 32.
EXTERNAL_AGREEMENT_NO = re.compile(r"[A-Za-z0-9]{1,32}")
# alipay.trade.pay: the trade is open at Alipay but not settled yet (等待用户付款 / 处理中).
WAITING_CODE = "10003"
BUSINESS_FAILURE_CODE = "40004"
# Alipay cannot tell whether the money was taken; the same out_trade_no may be sent again.
UNKNOWN_OUTCOME_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR"})
# Our earlier request for this out_trade_no took the money (its answer was lost).
TRADE_HAS_SUCCESS = "ACQ.TRADE_HAS_SUCCESS"
# Unsigning an agreement Alipay no longer has (unsigned by the buyer, or by us before).
AGREEMENT_GONE_SUB_CODES = frozenset(
    {"USER_AGREEMENT_NOT_EXIST", "ACQ.USER_AGREEMENT_NOT_EXIST", "ACQ.AGREEMENT_NOT_EXIST"}
)
_NOTIFY_KINDS = {
    ("dut_user_sign", "NORMAL"): ContractNotificationKind.SIGNED,
    ("dut_user_unsign", "UNSIGN"): ContractNotificationKind.TERMINATED,
}


class AlipayAgreements:
    name = "alipay"
    # Alipay sets no hours for agreement charges (WeChat Pay's 07:00–22:00 rule is its own);
    # what it enforces is the period rule the buyer signed.
    charge_hours = (0, 24)

    def __init__(self, provider: AlipayProvider) -> None:
        self.provider = provider
        self.config = provider.config
        self.notify_url = f"{provider.base_url}/api/v1/payments/contracts/notify/alipay"

    def sign_prompt(self, request: ContractSignRequest) -> PaymentPrompt:
        if not EXTERNAL_AGREEMENT_NO.fullmatch(request.contract_no):
            raise ProviderUnavailable(
                f"contract number {request.contract_no[:40]!r} is not 1-32 letters and digits, "
                "as Alipay's external_agreement_no must be"
            )
        biz_content: dict[str, Any] = {
            "personal_product_code": PERSONAL_PRODUCT_CODE,
            "product_code": self.config.agreement_product_code,
            "sign_scene": self.config.agreement_sign_scene,
            "external_agreement_no": request.contract_no,
            "access_params": {"channel": SIGN_CHANNEL},
            "period_rule_params": {
                "period_type": "DAY",
                "period": self.config.agreement_period_days,
                # The first period starts on the signing day (Beijing); later charges fall
                # every `period` days from it.
                "execute_time": clock.now().astimezone(BEIJING).date().isoformat(),
                "single_amount": str(fen_to_yuan(self.config.agreement_single_amount_fen)),
            },
        }
        if request.display_account:
            biz_content["external_logon_id"] = request.display_account[:100]
        query = self.provider.client.client_api(
            "alipay.user.agreement.page.sign",
            biz_content,
            notify_url=self.notify_url,
            return_url=self.provider._site_url(request.return_path),
        )
        return PaymentPrompt(
            kind=PromptKind.REDIRECT, redirect_url=f"{self.provider.gateway}?{query}"
        )

    def parse_contract_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> ContractNotification:
        params = self.provider._verified_params(body, seller_required=False)
        notify_type = params.get("notify_type", "")
        kind = _NOTIFY_KINDS.get((notify_type, params.get("status", "")))
        if kind is None:
            raise ForgedNotification(f"unknown notify_type {notify_type[:40]!r} for agreements")
        contract_no = params.get("external_agreement_no", "")
        agreement_no = params.get("agreement_no", "")
        if not (contract_no and agreement_no):
            raise ForgedNotification("agreement notification without agreement numbers")
        signed = kind == ContractNotificationKind.SIGNED
        return ContractNotification(
            kind=kind,
            contract_no=contract_no,
            provider_contract_id=agreement_no,
            at=_beijing_time(params.get("sign_time" if signed else "unsign_time", "")),
            # Alipay says nothing of who ended it (the buyer in the app, or our unsign call).
            detail="" if signed else "支付宝通知解约 (dut_user_unsign)",
        )

    def pre_debit_notify(self, *, provider_contract_id: str, amount_fen: int) -> None:
        """Nothing to send: Alipay asks no 预扣费通知 for agreement charges; the buyer agreed
        to the period and the ceiling on the signing page, and Alipay enforces both."""

    def charge(self, request: ContractChargeRequest) -> ContractChargeResult:
        """alipay.trade.pay under the agreement (docs.open.alipay.com/api_1/alipay.trade.pay).
        A retried out_trade_no is never charged twice: Alipay answers ACQ.TRADE_HAS_SUCCESS,
        and the trade it already has is read back with 查单."""
        answer = self.provider._signed_answer(
            "agreement pay",
            request.payment_no,
            lambda: self.provider.client.server_api(
                "alipay.trade.pay",
                {
                    "out_trade_no": request.payment_no,
                    "total_amount": str(fen_to_yuan(request.amount_fen)),
                    "subject": request.description[:256],
                    "product_code": self.config.agreement_product_code,
                    "agreement_params": {"agreement_no": request.provider_contract_id},
                },
                notify_url=self.provider.notify_url,
            ),
        )
        code = str(answer.get("code", ""))
        if code == SUCCESS_CODE:
            return self._money_taken(request, answer)
        if code == WAITING_CODE:
            return ContractChargeResult(status=ContractChargeStatus.ACCEPTED)
        sub_code = str(answer.get("sub_code", ""))
        if code != BUSINESS_FAILURE_CODE or sub_code in UNKNOWN_OUTCOME_SUB_CODES:
            raise ProviderUnavailable(f"alipay agreement pay failed: {_refusal(answer)}")
        if sub_code == TRADE_HAS_SUCCESS:
            return self._already_taken(request.payment_no)
        return ContractChargeResult(
            status=ContractChargeStatus.REFUSED,
            code=sub_code,
            message=str(answer.get("sub_msg", ""))[:200],
        )

    def _money_taken(
        self, request: ContractChargeRequest, answer: Mapping[str, Any]
    ) -> ContractChargeResult:
        if answer.get("out_trade_no") != request.payment_no:
            raise ProviderUnavailable("alipay agreement pay answered for another out_trade_no")
        trade_no = str(answer.get("trade_no", ""))
        if not trade_no:
            raise ProviderUnavailable("alipay agreement pay answered no trade_no")
        try:
            amount_fen = yuan_text_to_fen(str(answer.get("total_amount", "")))
            paid_at = _beijing_time(str(answer.get("gmt_payment", "")))
        except ForgedNotification as exc:
            raise ProviderUnavailable(f"alipay agreement pay answer refused: {exc}") from exc
        return ContractChargeResult(
            status=ContractChargeStatus.SUCCEEDED,
            notification=PaymentNotification(
                out_trade_no=request.payment_no,
                transaction_id=trade_no,
                amount_fen=amount_fen,
                status=NotificationStatus.SUCCEEDED,
                paid_at=paid_at,
                app_id=self.config.app_id,
            ),
        )

    def _already_taken(self, payment_no: str) -> ContractChargeResult:
        found = self.provider.query_payment(payment_no)
        if found is None or found.status != NotificationStatus.SUCCEEDED:
            state = found.status.value if found is not None else "unknown"
            raise ProviderUnavailable(
                f"alipay says the trade was paid, but 查单 finds it {state}; query it again"
            )
        return ContractChargeResult(status=ContractChargeStatus.SUCCEEDED, notification=found)

    def parse_charge_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification:
        # alipay.trade.pay above names the payment notify URL, so an agreement charge's
        # result is an ordinary trade notification.
        return self.provider.parse_notification(headers, body)

    def terminate(self, *, contract_no: str, provider_contract_id: str, reason: str) -> None:
        """解约. Alipay takes agreement_no before external_agreement_no when both are given;
        the latter (with product and scene) finds an agreement whose number we never heard."""
        biz_content: dict[str, Any] = {
            "personal_product_code": PERSONAL_PRODUCT_CODE,
            "sign_scene": self.config.agreement_sign_scene,
            "external_agreement_no": contract_no,
        }
        if provider_contract_id:
            biz_content["agreement_no"] = provider_contract_id
        answer = self.provider._signed_answer(
            "agreement unsign",
            "",
            lambda: self.provider.client.server_api(
                "alipay.user.agreement.unsign", biz_content, notify_url=self.notify_url
            ),
        )
        if str(answer.get("code")) == SUCCESS_CODE:
            return
        if answer.get("sub_code") in AGREEMENT_GONE_SUB_CODES:
            return
        raise ProviderUnavailable(f"alipay agreement unsign refused: {_refusal(answer)}")

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        return self.provider.acknowledge(accepted=accepted, message=message, retry=retry)
