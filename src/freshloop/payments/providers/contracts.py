"""Payment contracts (委托代扣 / 周期扣款): what a provider offers to charge a customer later
without them at the till, whatever its wire format.

A provider that supports contracts exposes a `ContractGateway` as its `contracts` attribute
(None when the merchant has no contract plan configured). Like the payment side, a gateway
never touches the database: it builds the signing page, verifies and reads the provider's
signing / termination callbacks, asks the provider to charge or to end a contract, and reads
the charge's result callback as an ordinary `PaymentNotification` (booked by the payment path).

- WeChat Pay: every 委托代扣 API is APIv2 (XML, signed with the APIv2 key): 公众号 pre-sign
  page `papay/entrustweb`, sign/terminate callbacks, `pay/pappayapply` (trade_type PAP; the
  result arrives by callback or by 查单), `papay/deletecontract`. The pre-debit notice
  (预扣费通知) is APIv3. Charges may only be made 07:00–22:00 Beijing time.
- Alipay: `alipay.user.agreement.page.sign` (a page the buyer signs on), `dut_user_sign` /
  `dut_user_unsign` notifications, `alipay.trade.pay` with `agreement_params` (answers at
  once), `alipay.user.agreement.unsign`.
- The sandbox: a local signing page, callbacks signed like WeChat Pay's, a charge that
  succeeds unless the customer chose "余额不足" when signing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from freshloop.payments.providers.base import NotificationAck, PaymentNotification, PaymentPrompt

__all__ = [
    "ContractChargeRequest",
    "ContractChargeResult",
    "ContractChargeStatus",
    "ContractGateway",
    "ContractNotification",
    "ContractNotificationKind",
    "ContractSignRequest",
]


@dataclass(frozen=True)
class ContractSignRequest:
    """What the provider's signing page needs. `contract_no` is ours (WeChat's
    contract_code, Alipay's external_agreement_no); `display_account` is shown to the buyer
    on the signing page (never a nickname: WeChat refuses 4-byte characters)."""

    contract_no: str
    display_account: str
    return_path: str
    client_ip: str = ""
    openid: str = ""


class ContractNotificationKind(StrEnum):
    SIGNED = "signed"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class ContractNotification:
    """A verified signing or termination callback."""

    kind: ContractNotificationKind
    contract_no: str
    provider_contract_id: str
    at: dt.datetime | None
    # Why it ended, in the provider's words (user, merchant, expiry…): shown to operators.
    detail: str = ""


@dataclass(frozen=True)
class ContractChargeRequest:
    payment_no: str
    amount_fen: int
    description: str
    provider_contract_id: str
    client_ip: str = "127.0.0.1"


class ContractChargeStatus(StrEnum):
    # The provider took the request; the money's fate arrives by callback or 查单.
    ACCEPTED = "accepted"
    # The money is taken now; `notification` carries the transaction to book.
    SUCCEEDED = "succeeded"
    # The provider refused (balance, contract ended, limits): the buyer must pay by hand.
    REFUSED = "refused"


@dataclass(frozen=True)
class ContractChargeResult:
    status: ContractChargeStatus
    notification: PaymentNotification | None = None
    code: str = ""
    message: str = ""


class ContractGateway(Protocol):
    # The provider's name, as in PaymentProvider.name.
    name: str
    # Local hours (Beijing) in which charges may be made: [start, end).
    charge_hours: tuple[int, int]

    def sign_prompt(self, request: ContractSignRequest) -> PaymentPrompt:
        """Where the buyer goes to sign (a redirect); raise ProviderUnavailable if refused."""
        ...

    def parse_contract_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> ContractNotification:
        """Verify a signing / termination callback; ForgedNotification when unverifiable."""
        ...

    def pre_debit_notify(self, *, provider_contract_id: str, amount_fen: int) -> None:
        """Tell the buyer ahead of a charge (预扣费通知) where the provider requires it;
        raise ProviderUnavailable when it cannot be sent (the charge then waits)."""
        ...

    def charge(self, request: ContractChargeRequest) -> ContractChargeResult:
        """Ask the provider to take the money under the contract. The same payment_no is
        charged at most once by the provider, so a retried call is safe. Raise
        ProviderUnavailable on transport failure or a provider-side error worth retrying."""
        ...

    def parse_charge_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification:
        """Verify the charge's result callback; ForgedNotification when unverifiable."""
        ...

    def terminate(self, *, contract_no: str, provider_contract_id: str, reason: str) -> None:
        """End the contract at the provider (解约); one it no longer knows is ended."""
        ...

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        """The response the provider expects to a contract or charge callback."""
        ...
