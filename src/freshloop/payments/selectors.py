from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from freshloop.core import clock
from freshloop.identity.models import Identifier, IdentifierType
from freshloop.payments.errors import PaymentNotFound
from freshloop.payments.models import (
    ContractStatus,
    Payment,
    PaymentContract,
    WechatPlatformCertificate,
)
from freshloop.payments.providers import ClientKind, enabled_providers


def payment_get(*, payment_no: str) -> Payment:
    payment = Payment.objects.select_related("order").filter(payment_no=payment_no).first()
    if payment is None:
        raise PaymentNotFound(detail={"payment_no": payment_no})
    return payment


def payment_list_for_order(*, order_no: str) -> list[Payment]:
    return list(Payment.objects.filter(order__order_no=order_no).order_by("pk"))


def wechatpay_downloaded_keys() -> dict[str, RSAPublicKey]:
    """The downloaded WeChat Pay platform certificates in force now, by serial."""
    now = clock.now()
    keys: dict[str, RSAPublicKey] = {}
    for row in WechatPlatformCertificate.objects.filter(effective_at__lte=now, expires_at__gt=now):
        key = x509.load_pem_x509_certificate(row.certificate_pem.encode()).public_key()
        if isinstance(key, RSAPublicKey):
            keys[row.serial_no] = key
    return keys


class PayContext(StrEnum):
    WECHAT = "wechat"  # WeChat's in-app browser
    MOBILE = "mobile"  # any other phone browser
    DESKTOP = "desktop"


# How each context pays: WeChat's browser only takes JSAPI (it blocks H5 pay and Alipay),
# a phone browser is sent to the provider's mobile page, a desktop shows a QR code.
_KIND_FOR_CONTEXT = {
    PayContext.WECHAT: ClientKind.JSAPI,
    PayContext.MOBILE: ClientKind.H5,
    PayContext.DESKTOP: ClientKind.NATIVE,
}
_MOBILE_MARKERS = ("mobile", "android", "iphone", "ipad", "harmonyos", "openharmony")


def pay_context(user_agent: str) -> PayContext:
    agent = user_agent.lower()
    if "micromessenger" in agent:
        return PayContext.WECHAT
    if any(marker in agent for marker in _MOBILE_MARKERS):
        return PayContext.MOBILE
    return PayContext.DESKTOP


@dataclass(frozen=True)
class PaymentMethod:
    provider: str
    client_kind: str
    label: str
    ready: bool
    hint: str = ""


def _has_openid(person_id: int, appid: str) -> bool:
    return Identifier.objects.filter(
        person_id=person_id, type=IdentifierType.WECHAT_OPENID, scope=appid
    ).exists()


def payment_methods(*, person_id: int, user_agent: str) -> tuple[PayContext, list[PaymentMethod]]:
    """The ways this buyer can pay from where they are, best first; the sandbox (where it is
    enabled) last. A method that needs a step first (WeChat login for JSAPI) says so."""
    context = pay_context(user_agent)
    client_kind = _KIND_FOR_CONTEXT[context]
    methods: list[PaymentMethod] = []
    providers = enabled_providers()
    for name in ("wechatpay", "alipay", "sandbox"):
        gateway = providers.get(name)
        if gateway is None or client_kind not in gateway.client_kinds:
            continue
        ready, hint = True, ""
        if name == "wechatpay" and client_kind == ClientKind.JSAPI:
            ready = _has_openid(person_id, str(getattr(gateway, "appid", "")))
            hint = "" if ready else "请先用微信授权登录，再用微信支付"
        label = gateway.label + ("（演示）" if name == "sandbox" else "")
        methods.append(PaymentMethod(name, client_kind.value, label, ready, hint))
    return context, methods


def contract_active_for(
    *, person_id: int, contract_no: str | None = None
) -> PaymentContract | None:
    """The customer's active contract (that one, when `contract_no` is given; else the one
    signed last): what a subscription charges its orders under."""
    contracts = PaymentContract.objects.filter(person_id=person_id, status=ContractStatus.ACTIVE)
    if contract_no is not None:
        contracts = contracts.filter(contract_no=contract_no[:40])
    return contracts.order_by("-signed_at", "-pk").first()


def contracts_for(*, person_id: int) -> list[PaymentContract]:
    """The customer's signed and ended contracts, newest first (not the abandoned signings)."""
    return list(
        PaymentContract.objects.filter(person_id=person_id)
        .exclude(status=ContractStatus.SIGNING)
        .order_by("-pk")[:20]
    )
