"""What every payment provider offers, whatever its wire format.

A provider turns a payment into something the consumer's client can act on (a redirect or
JSAPI parameters), turns a provider callback into a verified fact, and starts refunds. It
never touches the database: services decide what a verified fact means for our rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

# The provider interface; `freshloop.payments.providers` re-exports exactly these.
__all__ = [
    "ClientKind",
    "ForgedNotification",
    "NotificationAck",
    "NotificationStatus",
    "Payer",
    "PaymentNotification",
    "PaymentPrompt",
    "PaymentProvider",
    "PaymentRequest",
    "PromptKind",
    "ProviderUnavailable",
    "RefundNotification",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
]


class ForgedNotification(Exception):
    """A callback failed verification: bad signature, stale timestamp, undecryptable body."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or refused the request; the caller may retry."""


class ClientKind(StrEnum):
    """Where the consumer pays, which decides how a provider takes the money."""

    H5 = "h5"  # a phone browser outside WeChat: WeChat H5 pay, Alipay WAP pay
    JSAPI = "jsapi"  # WeChat's in-app browser: WeixinJSBridge getBrandWCPayRequest
    NATIVE = "native"  # a desktop browser: a QR code the consumer scans with their phone


class PromptKind(StrEnum):
    """What the consumer's page does with a payment prompt."""

    REDIRECT = "redirect"  # open `redirect_url` (the provider's page, which returns to us)
    JSAPI = "jsapi"  # call WeixinJSBridge with `jsapi`
    QR = "qr"  # draw `qr_content` as a QR code for the phone to scan


class NotificationStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"
    PENDING = "pending"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class PaymentRequest:
    """What a provider needs to open a payment with the gateway."""

    payment_no: str
    amount_fen: int
    description: str
    expires_at: dt.datetime | None
    client_kind: str
    # Where the provider's H5/WAP page sends the consumer back to: a path on our site (the
    # live room or the order page), joined to the public base URL by the provider.
    return_path: str = ""


@dataclass(frozen=True)
class Payer:
    """Who pays: WeChat JSAPI needs the payer's openid, H5 needs the client's IP."""

    openid: str = ""
    client_ip: str = ""


@dataclass(frozen=True)
class PaymentPrompt:
    """What the client does next: follow `redirect_url`, call WeChat JSAPI with `jsapi`, or
    show `qr_content` as a QR code (see PromptKind)."""

    kind: str
    redirect_url: str = ""
    jsapi: dict[str, str] = field(default_factory=dict)
    qr_content: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "redirect_url": self.redirect_url,
            "jsapi": dict(self.jsapi),
            "qr_content": self.qr_content,
        }


@dataclass(frozen=True)
class PaymentNotification:
    """A verified payment callback. `amount_fen` is what the provider says was paid."""

    out_trade_no: str
    transaction_id: str
    amount_fen: int
    status: NotificationStatus
    paid_at: dt.datetime | None
    app_id: str = ""


@dataclass(frozen=True)
class RefundRequest:
    refund_no: str
    payment_no: str
    transaction_id: str
    refund_fen: int
    total_fen: int
    reason: str


@dataclass(frozen=True)
class RefundResult:
    """The provider's answer to a refund request: done now, accepted (wait), or refused."""

    status: RefundStatus
    provider_refund_id: str = ""
    refunded_at: dt.datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class RefundNotification:
    """A verified refund callback."""

    refund_no: str
    out_trade_no: str
    provider_refund_id: str
    amount_fen: int | None
    status: RefundStatus
    refunded_at: dt.datetime | None
    # Alipay reports the payment's refunded total so far instead of this refund's amount.
    total_refunded_fen: int | None = None


@dataclass(frozen=True)
class NotificationAck:
    """The HTTP answer a provider expects to a callback, in its own format."""

    status: int
    content_type: str
    body: bytes


class PaymentProvider(Protocol):
    name: str
    label: str
    client_kinds: frozenset[str]

    def create_payment(self, request: PaymentRequest, payer: Payer) -> PaymentPrompt:
        """Open the payment with the gateway; raise ProviderUnavailable if it refuses."""
        ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotification:
        """Verify a payment callback and read it; raise ForgedNotification when unverifiable."""
        ...

    def query_payment(self, payment_no: str) -> PaymentNotification | None:
        """查单: the provider's own view of the payment, verified like a callback; None when the
        provider has no such order (never opened there, e.g. an Alipay page never visited).
        Raise ProviderUnavailable when it cannot answer."""
        ...

    def close_payment(self, payment_no: str) -> None:
        """关单: make the provider refuse any further money for the payment. Closing one the
        provider does not know is done; raise ProviderUnavailable when it cannot close it (the
        caller queries first, so money that already arrived is booked, never lost)."""
        ...

    def refund(self, request: RefundRequest) -> RefundResult:
        """Ask the gateway to give money back; raise ProviderUnavailable on transport failure."""
        ...

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotification:
        """Verify a refund callback and read it; raise ForgedNotification when unverifiable."""
        ...

    def is_refund_notification(self, headers: Mapping[str, str], body: bytes) -> bool:
        """True when a callback that arrived at the payment URL is really about a refund."""
        ...

    def acknowledge(self, *, accepted: bool, message: str, retry: bool) -> NotificationAck:
        """The response the gateway expects: `accepted` stops its retries."""
        ...
