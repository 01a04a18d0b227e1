"""Payment provider settings, read from `FRESHLOOP_WECHATPAY_*`, `FRESHLOOP_ALIPAY_*` and
`FRESHLOOP_PAYMENTS_*` (documented in docs/payments.md).

The sandbox is on by default outside production and is the only provider until a real one
is configured. Keys may be given inline (PEM text) or as a path to a PEM file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings


class PaymentsConfigurationError(RuntimeError):
    """The payment environment variables are incomplete or contradictory."""


@dataclass(frozen=True)
class WechatPayConfig:
    mchid: str
    appid: str
    cert_serial_no: str
    private_key: str
    apiv3_key: str
    platform_public_key: str
    platform_public_key_id: str
    # One or more PEM certificates (an old and a new one side by side while WeChat Pay rotates).
    platform_certificate: str
    # Fetch the platform certificates with the certificate download API on a schedule
    # (certificate mode); the downloaded ones are trusted beside the configured keys.
    download_certificates: bool = False
    # 委托代扣 (contract charges) is APIv2 only: it is signed with the APIv2 key and runs under
    # one contract template (plan_id). Contracts are offered only when both are set.
    apiv2_key: str = ""
    contract_plan_id: str = ""


@dataclass(frozen=True)
class AlipayConfig:
    app_id: str
    app_private_key: str
    alipay_public_key: str
    seller_id: str
    use_sandbox_gateway: bool
    # 商家扣款 / 周期扣款 (agreement charges): offered only when switched on, because the app
    # must have the product signed with Alipay first.
    agreement_enabled: bool = False
    # GENERAL_WITHHOLDING is today's 商家扣款 contract; apps signed for the older 周期扣款
    # contract use CYCLE_PAY_AUTH. Both sign the personal product CYCLE_PAY_AUTH_P.
    agreement_product_code: str = "GENERAL_WITHHOLDING"
    # The industry scene written into the merchant's contract with Alipay (代扣产品常见场景值);
    # it must be a real scene, never DEFAULT|DEFAULT, once external_agreement_no is sent.
    agreement_sign_scene: str = "INDUSTRY|DIGITAL_MEDIA"
    # The largest single charge the buyer authorises (period_rule_params.single_amount).
    agreement_single_amount_fen: int = 50000
    # Charges may be made once per this many days; Alipay refuses a DAY period under 7.
    agreement_period_days: int = 7


@dataclass(frozen=True)
class PaymentsConfig:
    sandbox_enabled: bool
    notify_base_url: str
    wechatpay: WechatPayConfig | None
    alipay: AlipayConfig | None


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _pem(name: str) -> str:
    """PEM text given inline, or read from the file the variable names."""
    raw = os.environ.get(name, "").strip()
    if not raw or raw.startswith("-----BEGIN"):
        return raw.replace("\\n", "\n")
    path = Path(raw)
    if not path.is_file():
        raise PaymentsConfigurationError(f"{name} is neither PEM text nor a readable file")
    return path.read_text().strip()


def _bool(name: str, default: bool) -> bool:
    raw = _env(name).lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise PaymentsConfigurationError(f"{name} must be true or false, got {raw!r}")


def _wechatpay() -> WechatPayConfig | None:
    mchid = _env("FRESHLOOP_WECHATPAY_MCHID")
    if not mchid:
        return None
    config = WechatPayConfig(
        mchid=mchid,
        appid=_env("FRESHLOOP_WECHATPAY_APPID"),
        cert_serial_no=_env("FRESHLOOP_WECHATPAY_CERT_SERIAL_NO"),
        private_key=_pem("FRESHLOOP_WECHATPAY_PRIVATE_KEY"),
        apiv3_key=_env("FRESHLOOP_WECHATPAY_APIV3_KEY"),
        platform_public_key=_pem("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY"),
        platform_public_key_id=_env("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY_ID"),
        platform_certificate=_pem("FRESHLOOP_WECHATPAY_PLATFORM_CERT"),
        download_certificates=_bool(
            "FRESHLOOP_WECHATPAY_DOWNLOAD_CERTIFICATES",
            not _env("FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY"),
        ),
        apiv2_key=_env("FRESHLOOP_WECHATPAY_APIV2_KEY"),
        contract_plan_id=_env("FRESHLOOP_WECHATPAY_CONTRACT_PLAN_ID"),
    )
    if bool(config.apiv2_key) != bool(config.contract_plan_id):
        raise PaymentsConfigurationError(
            "WeChat Pay contracts need both FRESHLOOP_WECHATPAY_APIV2_KEY and "
            "FRESHLOOP_WECHATPAY_CONTRACT_PLAN_ID, or neither"
        )
    missing = [
        name
        for name, value in (
            ("FRESHLOOP_WECHATPAY_APPID", config.appid),
            ("FRESHLOOP_WECHATPAY_CERT_SERIAL_NO", config.cert_serial_no),
            ("FRESHLOOP_WECHATPAY_PRIVATE_KEY", config.private_key),
            ("FRESHLOOP_WECHATPAY_APIV3_KEY", config.apiv3_key),
        )
        if not value
    ]
    if missing:
        raise PaymentsConfigurationError(f"WeChat Pay is configured but lacks {', '.join(missing)}")
    if len(config.apiv3_key.encode()) != 32:
        raise PaymentsConfigurationError("FRESHLOOP_WECHATPAY_APIV3_KEY must be 32 bytes")
    has_public_key = bool(config.platform_public_key and config.platform_public_key_id)
    if not (has_public_key or config.platform_certificate):
        raise PaymentsConfigurationError(
            "WeChat Pay needs FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY and "
            "FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY_ID, or FRESHLOOP_WECHATPAY_PLATFORM_CERT"
        )
    return config


ALIPAY_AGREEMENT_PRODUCT_CODES = frozenset({"GENERAL_WITHHOLDING", "CYCLE_PAY_AUTH"})


def _alipay_whole_number(name: str, default: int, *, minimum: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise PaymentsConfigurationError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise PaymentsConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _alipay() -> AlipayConfig | None:
    app_id = _env("FRESHLOOP_ALIPAY_APP_ID")
    if not app_id:
        return None
    config = AlipayConfig(
        app_id=app_id,
        app_private_key=_pem("FRESHLOOP_ALIPAY_APP_PRIVATE_KEY"),
        alipay_public_key=_pem("FRESHLOOP_ALIPAY_PUBLIC_KEY"),
        seller_id=_env("FRESHLOOP_ALIPAY_SELLER_ID"),
        use_sandbox_gateway=_bool("FRESHLOOP_ALIPAY_SANDBOX_GATEWAY", False),
        agreement_enabled=_bool("FRESHLOOP_ALIPAY_AGREEMENT", False),
        agreement_product_code=_env("FRESHLOOP_ALIPAY_AGREEMENT_PRODUCT_CODE")
        or AlipayConfig.agreement_product_code,
        agreement_sign_scene=_env("FRESHLOOP_ALIPAY_AGREEMENT_SIGN_SCENE")
        or AlipayConfig.agreement_sign_scene,
        agreement_single_amount_fen=_alipay_whole_number(
            "FRESHLOOP_ALIPAY_AGREEMENT_SINGLE_AMOUNT_FEN",
            AlipayConfig.agreement_single_amount_fen,
            minimum=1,
        ),
        agreement_period_days=_alipay_whole_number(
            "FRESHLOOP_ALIPAY_AGREEMENT_PERIOD_DAYS",
            AlipayConfig.agreement_period_days,
            minimum=7,
        ),
    )
    if not (config.app_private_key and config.alipay_public_key):
        raise PaymentsConfigurationError(
            "Alipay is configured but lacks FRESHLOOP_ALIPAY_APP_PRIVATE_KEY or "
            "FRESHLOOP_ALIPAY_PUBLIC_KEY"
        )
    if config.agreement_product_code not in ALIPAY_AGREEMENT_PRODUCT_CODES:
        raise PaymentsConfigurationError(
            "FRESHLOOP_ALIPAY_AGREEMENT_PRODUCT_CODE must be one of "
            f"{', '.join(sorted(ALIPAY_AGREEMENT_PRODUCT_CODES))}"
        )
    scene = config.agreement_sign_scene
    if "|" not in scene or scene.upper() == "DEFAULT|DEFAULT":
        raise PaymentsConfigurationError(
            "FRESHLOOP_ALIPAY_AGREEMENT_SIGN_SCENE must be the scene in the Alipay contract "
            "(e.g. INDUSTRY|DIGITAL_MEDIA), never DEFAULT|DEFAULT"
        )
    return config


@lru_cache(maxsize=1)
def payments_config() -> PaymentsConfig:
    production = settings.FRESHLOOP.is_production
    wechatpay = _wechatpay()
    alipay = _alipay()
    notify_base_url = _env("FRESHLOOP_PAYMENTS_NOTIFY_BASE_URL").rstrip("/")
    if (wechatpay or alipay) and not notify_base_url.startswith("https://"):
        raise PaymentsConfigurationError(
            "FRESHLOOP_PAYMENTS_NOTIFY_BASE_URL (https://…) is required for real providers"
        )
    return PaymentsConfig(
        sandbox_enabled=_bool("FRESHLOOP_PAYMENTS_SANDBOX", not production),
        notify_base_url=notify_base_url,
        wechatpay=wechatpay,
        alipay=alipay,
    )
