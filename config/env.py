"""Typed reading of FreshLoop's environment (`FRESHLOOP_*`, `DATABASE_URL`, `REDIS_URL`).

Every variable is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Environment = Literal["development", "test", "production"]

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """The environment is missing or contradicts a required setting."""


def _read_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be a boolean (true/false), got {raw!r}")


def _read_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _read_float(name: str, default: float, *, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc
    if not value >= minimum:  # also refuses NaN
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _read_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _read_choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name, "").strip() or default
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _local_secret(data_dir: Path, filename: str, make: bool) -> str | None:
    """Return a per-checkout secret kept in the data directory, creating it when allowed.

    Development machines get working keys without any set-up; production must be given
    its keys explicitly, because a key generated on one host would not match the others.
    """
    path = data_dir / filename
    if path.exists():
        return path.read_text().strip()
    if not make:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    path.write_text(value)
    path.chmod(0o600)
    return value


def _parse_key_ring(raw: str) -> dict[str, bytes]:
    ring: dict[str, bytes] = {}
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise ConfigurationError(
                "FRESHLOOP_PII_KEYS entries must look like '<key id>:<base64 key>'"
            )
        try:
            key = base64.urlsafe_b64decode(encoded)
        except ValueError as exc:
            raise ConfigurationError(f"PII key {key_id!r} is not valid base64") from exc
        if len(key) != 32:
            raise ConfigurationError(
                f"PII key {key_id!r} must be 32 bytes (AES-256), got {len(key)}"
            )
        ring[key_id] = key
    return ring


SmsProviderName = Literal["sandbox", "aliyun", "tencent"]


@dataclass(frozen=True)
class SmsGatewaySettings:
    """What a real SMS provider needs (docs/operator-guide.md, "SMS"); empty for the sandbox."""

    sign_name: str = ""
    # message purpose ("login_code", "live_reminder", …) → the provider's template id
    templates: dict[str, str] = field(default_factory=dict)
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = ""
    aliyun_endpoint: str = "https://dysmsapi.aliyuncs.com"
    aliyun_region: str = "cn-hangzhou"
    tencent_secret_id: str = ""
    tencent_secret_key: str = ""
    tencent_sdk_app_id: str = ""
    tencent_endpoint: str = "https://sms.tencentcloudapi.com"
    tencent_region: str = "ap-guangzhou"
    # shared secret in the delivery-receipt URL the provider console is given
    receipt_token: str = ""
    timeout_seconds: float = 5.0


def _parse_templates(raw: str) -> dict[str, str]:
    templates: dict[str, str] = {}
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        purpose, sep, template_id = entry.partition(":")
        if not sep or not purpose.strip() or not template_id.strip():
            raise ConfigurationError(
                "FRESHLOOP_SMS_TEMPLATES entries must look like '<purpose>:<template id>', "
                f"got {entry!r}"
            )
        templates[purpose.strip()] = template_id.strip()
    return templates


def _load_sms_gateway(provider: str, *, production: bool) -> SmsGatewaySettings:
    """Read FRESHLOOP_SMS_*; a real provider without its keys, sign name or login template
    refuses to start (a login code that cannot be sent is found at start-up, not by users)."""
    env = os.environ.get
    gateway = SmsGatewaySettings(
        sign_name=env("FRESHLOOP_SMS_SIGN_NAME", "").strip(),
        templates=_parse_templates(env("FRESHLOOP_SMS_TEMPLATES", "")),
        aliyun_access_key_id=env("FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_ID", "").strip(),
        aliyun_access_key_secret=env("FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_SECRET", "").strip(),
        aliyun_endpoint=(
            env("FRESHLOOP_SMS_ALIYUN_ENDPOINT", "").strip() or SmsGatewaySettings.aliyun_endpoint
        ).rstrip("/"),
        aliyun_region=env("FRESHLOOP_SMS_ALIYUN_REGION", "").strip() or "cn-hangzhou",
        tencent_secret_id=env("FRESHLOOP_SMS_TENCENT_SECRET_ID", "").strip(),
        tencent_secret_key=env("FRESHLOOP_SMS_TENCENT_SECRET_KEY", "").strip(),
        tencent_sdk_app_id=env("FRESHLOOP_SMS_TENCENT_SDK_APP_ID", "").strip(),
        tencent_endpoint=(
            env("FRESHLOOP_SMS_TENCENT_ENDPOINT", "").strip() or SmsGatewaySettings.tencent_endpoint
        ).rstrip("/"),
        tencent_region=env("FRESHLOOP_SMS_TENCENT_REGION", "").strip() or "ap-guangzhou",
        receipt_token=env("FRESHLOOP_SMS_RECEIPT_TOKEN", "").strip(),
        timeout_seconds=_read_float("FRESHLOOP_SMS_TIMEOUT_SECONDS", 5.0, minimum=0.5),
    )
    if provider == "sandbox":
        if production:
            raise ConfigurationError(
                "FRESHLOOP_SMS_PROVIDER=sandbox sends no texts and is refused in production: "
                "set it to aliyun or tencent with its keys"
            )
        return gateway
    required = {
        "aliyun": [
            ("FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_ID", gateway.aliyun_access_key_id),
            ("FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_SECRET", gateway.aliyun_access_key_secret),
        ],
        "tencent": [
            ("FRESHLOOP_SMS_TENCENT_SECRET_ID", gateway.tencent_secret_id),
            ("FRESHLOOP_SMS_TENCENT_SECRET_KEY", gateway.tencent_secret_key),
            ("FRESHLOOP_SMS_TENCENT_SDK_APP_ID", gateway.tencent_sdk_app_id),
        ],
    }[provider]
    required.append(("FRESHLOOP_SMS_SIGN_NAME", gateway.sign_name))
    if production:
        required.append(("FRESHLOOP_SMS_RECEIPT_TOKEN", gateway.receipt_token))
    missing = [name for name, value in required if not value]
    if "login_code" not in gateway.templates:
        missing.append("FRESHLOOP_SMS_TEMPLATES (login_code:<template id>)")
    if missing:
        raise ConfigurationError(f"FRESHLOOP_SMS_PROVIDER={provider} needs " + ", ".join(missing))
    endpoints = [gateway.aliyun_endpoint, gateway.tencent_endpoint]
    if production and not all(url.startswith("https://") for url in endpoints):
        raise ConfigurationError("SMS provider endpoints must be https:// URLs in production")
    return gateway


@dataclass(frozen=True)
class CommunitySettings:
    """Community operations (docs/community-assistant.md): the shared secret a 会话存档 relay
    signs inbound group messages with (empty = the inbound API is off, 403), and the daily
    check-in's points (a day; a bonus on every `checkin_bonus_every`-th day of a streak)."""

    inbound_secret: str = ""
    checkin_points: int = 5
    checkin_bonus: int = 20
    checkin_bonus_every: int = 7


def _load_community() -> CommunitySettings:
    return CommunitySettings(
        inbound_secret=os.environ.get("FRESHLOOP_COMMUNITY_INBOUND_SECRET", "").strip(),
        checkin_points=_read_int("FRESHLOOP_COMMUNITY_CHECKIN_POINTS", 5, minimum=0),
        checkin_bonus=_read_int("FRESHLOOP_COMMUNITY_CHECKIN_BONUS", 20, minimum=0),
        checkin_bonus_every=_read_int("FRESHLOOP_COMMUNITY_CHECKIN_BONUS_EVERY", 7, minimum=0),
    )


@dataclass(frozen=True)
class GroupbuySettings:
    """Community group buying (docs/groupbuy.md): how many days a customer keeps the leader they
    last attached to before another leader's link may take them over."""

    attribution_days: int = 30


def _load_groupbuy() -> GroupbuySettings:
    return GroupbuySettings(
        attribution_days=_read_int("FRESHLOOP_GROUPBUY_ATTRIBUTION_DAYS", 30, minimum=1),
    )


@dataclass(frozen=True)
class WecomSettings:
    """The WeCom (企业微信) corp FreshLoop works for (docs/scrm.md); empty = the offline sandbox."""

    corp_id: str = ""
    # 客户联系 secret: the external-contact APIs (customers, groups, mass messages) take its token
    contact_secret: str = ""
    # a self-built app (自建应用), for the welcome-template notice and later app messages
    agent_id: str = ""
    agent_secret: str = ""
    # what the 客户联系 callback settings page is given (接收事件服务器)
    callback_token: str = ""
    callback_aes_key: str = ""
    # a callback older (or newer) than this is acknowledged and dropped, never acted on
    callback_max_age_seconds: int = 300
    timeout_seconds: float = 5.0
    # tries per call for rate limits and "system busy" (-1), with exponential back-off
    max_attempts: int = 3
    backoff_seconds: float = 0.5

    @property
    def configured(self) -> bool:
        return bool(self.corp_id and self.contact_secret)

    @property
    def callback_enabled(self) -> bool:
        return bool(self.callback_token and self.callback_aes_key)


def _load_wecom() -> WecomSettings:
    """Read FRESHLOOP_WECOM_*; half a configuration refuses to start (a corp id without its
    secret, a callback token without its key), so it is found at start-up, not by customers."""
    env = os.environ.get
    wecom = WecomSettings(
        corp_id=env("FRESHLOOP_WECOM_CORP_ID", "").strip(),
        contact_secret=env("FRESHLOOP_WECOM_CONTACT_SECRET", "").strip(),
        agent_id=env("FRESHLOOP_WECOM_AGENT_ID", "").strip(),
        agent_secret=env("FRESHLOOP_WECOM_AGENT_SECRET", "").strip(),
        callback_token=env("FRESHLOOP_WECOM_CALLBACK_TOKEN", "").strip(),
        callback_aes_key=env("FRESHLOOP_WECOM_CALLBACK_AES_KEY", "").strip(),
        callback_max_age_seconds=_read_int(
            "FRESHLOOP_WECOM_CALLBACK_MAX_AGE_SECONDS", 300, minimum=30
        ),
        timeout_seconds=_read_float("FRESHLOOP_WECOM_TIMEOUT_SECONDS", 5.0, minimum=0.5),
        max_attempts=_read_int("FRESHLOOP_WECOM_MAX_ATTEMPTS", 3, minimum=1),
        backoff_seconds=_read_float("FRESHLOOP_WECOM_BACKOFF_SECONDS", 0.5, minimum=0.0),
    )
    if bool(wecom.corp_id) != bool(wecom.contact_secret):
        raise ConfigurationError(
            "FRESHLOOP_WECOM_CORP_ID and FRESHLOOP_WECOM_CONTACT_SECRET go together "
            "(neither: the WeCom sandbox)"
        )
    if bool(wecom.agent_id) != bool(wecom.agent_secret):
        raise ConfigurationError(
            "FRESHLOOP_WECOM_AGENT_ID and FRESHLOOP_WECOM_AGENT_SECRET go together"
        )
    if bool(wecom.callback_token) != bool(wecom.callback_aes_key):
        raise ConfigurationError(
            "FRESHLOOP_WECOM_CALLBACK_TOKEN and FRESHLOOP_WECOM_CALLBACK_AES_KEY go together"
        )
    if wecom.callback_aes_key:
        # WeCom's EncodingAESKey: 43 characters, base64 of a 32-byte AES key without its "=".
        try:
            key = base64.b64decode(wecom.callback_aes_key + "=", validate=True)
        except ValueError:
            key = b""
        if len(wecom.callback_aes_key) != 43 or len(key) != 32:
            raise ConfigurationError(
                "FRESHLOOP_WECOM_CALLBACK_AES_KEY must be the 43-character EncodingAESKey"
            )
    return wecom


def _read_proxies(name: str) -> list[str]:
    entries = _read_list(name, [])
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ConfigurationError(
                f"{name} entries must be IP addresses or networks, got {entry!r}"
            ) from exc
    return entries


@dataclass(frozen=True)
class FrequencyCap:
    """At most `limit` marketing messages per person per channel in the last `days` calendar
    days (Asia/Shanghai, today included)."""

    limit: int
    days: int


WecomMassWindow = Literal["day", "week", "month"]


@dataclass(frozen=True)
class MarketingPolicySettings:
    """The outbound message policy for marketing sends (docs/operator-guide.md, "Outbound
    message policy"); transactional messages never pass through it."""

    caps: tuple[FrequencyCap, ...] = (FrequencyCap(limit=1, days=1), FrequencyCap(limit=4, days=7))
    # Minutes after midnight, Asia/Shanghai; equal start and end switch quiet hours off.
    quiet_start_minute: int = 22 * 60
    quiet_end_minute: int = 8 * 60
    # WeCom's own rule for 企业群发 per external contact (developer.work.weixin.qq.com
    # /document/path/92135): per month as many as the month has days, or per week 7, or per
    # day 1, as the corp chose in 群发助手; 0 means the platform's number for the window.
    wecom_mass_window: WecomMassWindow = "month"
    wecom_mass_limit: int = 0


def _parse_caps(raw: str) -> tuple[FrequencyCap, ...]:
    """`1/1d,4/7d` → caps; `off` → none."""
    if raw.strip().lower() == "off":
        return ()
    caps = []
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        limit, sep, days = entry.partition("/")
        if not sep or not days.endswith("d") or not limit.isdigit() or not days[:-1].isdigit():
            raise ConfigurationError(
                f"FRESHLOOP_MARKETING_CAPS entries must look like '<count>/<days>d', got {entry!r}"
            )
        cap = FrequencyCap(limit=int(limit), days=int(days[:-1]))
        if cap.days < 1 or cap.days > 366:
            raise ConfigurationError("FRESHLOOP_MARKETING_CAPS windows must be 1 to 366 days")
        caps.append(cap)
    return tuple(caps)


def _parse_clock_minute(name: str, raw: str) -> int:
    hours, sep, minutes = raw.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise ConfigurationError(f"{name} must look like '22:00-08:00' or 'off', got {raw!r}")
    value = int(hours) * 60 + int(minutes)
    if int(hours) > 23 or int(minutes) > 59:
        raise ConfigurationError(f"{name} times must be between 00:00 and 23:59, got {raw!r}")
    return value


def _load_marketing_policy() -> MarketingPolicySettings:
    defaults = MarketingPolicySettings()
    raw_caps = os.environ.get("FRESHLOOP_MARKETING_CAPS", "").strip()
    raw_quiet = os.environ.get("FRESHLOOP_MARKETING_QUIET_HOURS", "").strip()
    quiet_start, quiet_end = defaults.quiet_start_minute, defaults.quiet_end_minute
    if raw_quiet.lower() == "off":
        quiet_start = quiet_end = 0
    elif raw_quiet:
        start, sep, end = raw_quiet.partition("-")
        if not sep:
            raise ConfigurationError(
                f"FRESHLOOP_MARKETING_QUIET_HOURS must look like '22:00-08:00', got {raw_quiet!r}"
            )
        quiet_start = _parse_clock_minute("FRESHLOOP_MARKETING_QUIET_HOURS", start)
        quiet_end = _parse_clock_minute("FRESHLOOP_MARKETING_QUIET_HOURS", end)
    return MarketingPolicySettings(
        caps=_parse_caps(raw_caps) if raw_caps else defaults.caps,
        quiet_start_minute=quiet_start,
        quiet_end_minute=quiet_end,
        wecom_mass_window=_read_choice(  # type: ignore[arg-type]
            "FRESHLOOP_WECOM_MASS_WINDOW", "month", {"day", "week", "month"}
        ),
        wecom_mass_limit=_read_int("FRESHLOOP_WECOM_MASS_LIMIT", 0, minimum=0),
    )


@dataclass(frozen=True)
class FreshloopSettings:
    environment: Environment
    debug: bool
    secret_key: str
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    behind_tls: bool
    database_url: str
    redis_url: str
    data_dir: Path
    log_format: Literal["text", "json"]
    log_level: str
    max_body_bytes: int
    pii_keys: dict[str, bytes]
    pii_active_key_id: str
    blind_index_key: bytes
    sms_provider: SmsProviderName
    sms_sandbox_echo: bool
    sms_gateway: SmsGatewaySettings
    marketing_policy: MarketingPolicySettings
    otp_ttl_seconds: int
    otp_max_attempts: int
    otp_lock_seconds: int
    otp_resend_seconds: int
    otp_per_phone_per_day: int
    otp_per_ip_per_hour: int
    otp_per_ip_per_day: int
    otp_per_day: int
    verify_per_ip_per_hour: int
    operator_login_per_ip_per_hour: int
    operator_login_per_user_per_hour: int
    operator_login_per_user_all_ips_per_hour: int
    consumer_token_days: int
    wechat_oauth_provider: Literal["sandbox", "wechat"]
    wechat_app_id: str
    wechat_app_secret: str
    huey_immediate: bool
    trusted_proxies: list[str]
    worker_heartbeat_stale_seconds: int
    datahub_store: str
    datahub_autoflush: bool
    datahub_flush_interval_seconds: float
    datahub_dedupe_days: int
    alert_webhook_url: str
    web_workers: int
    web_threads: int
    db_pool_max: int
    page_cache_seconds: int
    wecom: WecomSettings = field(default_factory=WecomSettings)
    community: CommunitySettings = field(default_factory=CommunitySettings)
    groupbuy: GroupbuySettings = field(default_factory=GroupbuySettings)
    # Where customers reach the H5 shop from outside (links in WeCom messages, posters).
    public_base_url: str = "http://127.0.0.1:8000"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def load_settings() -> FreshloopSettings:
    environment = _read_choice(
        "FRESHLOOP_ENV", "development", {"development", "test", "production"}
    )
    production = environment == "production"
    data_dir = Path(os.environ.get("FRESHLOOP_DATA_DIR", "") or BASE_DIR / "data").resolve()
    may_generate = not production

    secret_key = os.environ.get("FRESHLOOP_SECRET_KEY", "") or (
        _local_secret(data_dir, "secret_key", may_generate) or ""
    )
    if not secret_key:
        raise ConfigurationError("FRESHLOOP_SECRET_KEY is required when FRESHLOOP_ENV=production")

    raw_ring = os.environ.get("FRESHLOOP_PII_KEYS", "")
    if raw_ring:
        pii_keys = _parse_key_ring(raw_ring)
        active = os.environ.get("FRESHLOOP_PII_ACTIVE_KEY_ID", "") or next(iter(pii_keys))
    elif production:
        raise ConfigurationError("FRESHLOOP_PII_KEYS is required when FRESHLOOP_ENV=production")
    else:
        local = _local_secret(data_dir, "pii_key", True) or ""
        pii_keys = {"local1": base64.urlsafe_b64decode(local)}
        active = "local1"
    if active not in pii_keys:
        raise ConfigurationError(
            f"FRESHLOOP_PII_ACTIVE_KEY_ID {active!r} is not in FRESHLOOP_PII_KEYS"
        )

    raw_blind = os.environ.get("FRESHLOOP_BLIND_INDEX_KEY", "") or (
        _local_secret(data_dir, "blind_index_key", may_generate) or ""
    )
    if not raw_blind:
        raise ConfigurationError(
            "FRESHLOOP_BLIND_INDEX_KEY is required when FRESHLOOP_ENV=production"
        )

    wechat_provider = _read_choice("FRESHLOOP_WECHAT_OAUTH", "sandbox", {"sandbox", "wechat"})
    wechat_app_id = os.environ.get("FRESHLOOP_WECHAT_APP_ID", "")
    wechat_app_secret = os.environ.get("FRESHLOOP_WECHAT_APP_SECRET", "")
    if wechat_provider == "wechat" and not (wechat_app_id and wechat_app_secret):
        raise ConfigurationError(
            "FRESHLOOP_WECHAT_OAUTH=wechat needs FRESHLOOP_WECHAT_APP_ID and FRESHLOOP_WECHAT_APP_SECRET"
        )

    alert_webhook_url = os.environ.get("FRESHLOOP_ALERT_WEBHOOK_URL", "").strip()
    allowed_schemes = ("https://",) if production else ("https://", "http://")
    if alert_webhook_url and not alert_webhook_url.startswith(allowed_schemes):
        # The value may hold a robot key, so the error does not repeat it.
        raise ConfigurationError(
            "FRESHLOOP_ALERT_WEBHOOK_URL must be an https:// URL"
            + ("" if production else " (or http:// outside production)")
        )

    if os.environ.get("FRESHLOOP_TRUSTED_PROXY_HOPS", "").strip() not in {"", "0"}:
        # Counting hops trusted the header from whoever connected directly; the proxies are
        # now named, so a stale setting must not silently stop trusting the real proxy.
        raise ConfigurationError(
            "FRESHLOOP_TRUSTED_PROXY_HOPS is replaced by FRESHLOOP_TRUSTED_PROXIES "
            "(the proxies' addresses or networks, e.g. 10.0.0.0/8)"
        )
    trusted_proxies = _read_proxies("FRESHLOOP_TRUSTED_PROXIES")

    sms_provider = _read_choice(
        "FRESHLOOP_SMS_PROVIDER", "sandbox", {"sandbox", "aliyun", "tencent"}
    )
    sms_gateway = _load_sms_gateway(sms_provider, production=production)

    default_db = f"sqlite:///{data_dir / 'freshloop.sqlite3'}"
    return FreshloopSettings(
        environment=environment,  # type: ignore[arg-type]
        debug=_read_bool("FRESHLOOP_DEBUG", False),
        secret_key=secret_key,
        allowed_hosts=_read_list("FRESHLOOP_ALLOWED_HOSTS", ["127.0.0.1", "localhost"]),
        csrf_trusted_origins=_read_list("FRESHLOOP_CSRF_TRUSTED_ORIGINS", []),
        behind_tls=_read_bool("FRESHLOOP_BEHIND_TLS", production),
        database_url=os.environ.get("DATABASE_URL", "") or default_db,
        redis_url=os.environ.get("REDIS_URL", ""),
        data_dir=data_dir,
        log_format=_read_choice("FRESHLOOP_LOG_FORMAT", "text", {"text", "json"}),  # type: ignore[arg-type]
        log_level=_read_choice(
            "FRESHLOOP_LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"}
        ),
        max_body_bytes=_read_int("FRESHLOOP_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024),
        pii_keys=pii_keys,
        pii_active_key_id=active,
        blind_index_key=raw_blind.encode(),
        sms_provider=sms_provider,  # type: ignore[arg-type]
        sms_sandbox_echo=_read_bool("FRESHLOOP_SMS_SANDBOX_ECHO", not production),
        sms_gateway=sms_gateway,
        marketing_policy=_load_marketing_policy(),
        otp_ttl_seconds=_read_int("FRESHLOOP_OTP_TTL_SECONDS", 300, minimum=30),
        otp_max_attempts=_read_int("FRESHLOOP_OTP_MAX_ATTEMPTS", 5, minimum=1),
        otp_lock_seconds=_read_int("FRESHLOOP_OTP_LOCK_SECONDS", 900, minimum=60),
        otp_resend_seconds=_read_int("FRESHLOOP_OTP_RESEND_SECONDS", 60, minimum=10),
        otp_per_phone_per_day=_read_int("FRESHLOOP_OTP_PER_PHONE_PER_DAY", 10, minimum=1),
        otp_per_ip_per_hour=_read_int("FRESHLOOP_OTP_PER_IP_PER_HOUR", 30, minimum=1),
        otp_per_ip_per_day=_read_int("FRESHLOOP_OTP_PER_IP_PER_DAY", 100, minimum=1),
        otp_per_day=_read_int("FRESHLOOP_OTP_PER_DAY", 20000, minimum=1),
        verify_per_ip_per_hour=_read_int("FRESHLOOP_VERIFY_PER_IP_PER_HOUR", 60, minimum=1),
        operator_login_per_ip_per_hour=_read_int(
            "FRESHLOOP_OPERATOR_LOGIN_PER_IP_PER_HOUR", 30, minimum=1
        ),
        operator_login_per_user_per_hour=_read_int(
            "FRESHLOOP_OPERATOR_LOGIN_PER_USER_PER_HOUR", 10, minimum=1
        ),
        operator_login_per_user_all_ips_per_hour=_read_int(
            "FRESHLOOP_OPERATOR_LOGIN_PER_USER_ALL_IPS_PER_HOUR", 100, minimum=1
        ),
        consumer_token_days=_read_int("FRESHLOOP_CONSUMER_TOKEN_DAYS", 30, minimum=1),
        wechat_oauth_provider=wechat_provider,  # type: ignore[arg-type]
        wechat_app_id=wechat_app_id or "wx_sandbox_app",
        wechat_app_secret=wechat_app_secret,
        huey_immediate=_read_bool("FRESHLOOP_HUEY_IMMEDIATE", environment == "test"),
        trusted_proxies=trusted_proxies,
        worker_heartbeat_stale_seconds=_read_int("FRESHLOOP_WORKER_STALE_SECONDS", 120, minimum=10),
        datahub_store=os.environ.get("FRESHLOOP_DATAHUB_STORE", ""),
        # Tests flush explicitly; a background flusher would race their assertions.
        datahub_autoflush=_read_bool("FRESHLOOP_DATAHUB_AUTOFLUSH", environment != "test"),
        datahub_flush_interval_seconds=_read_float(
            "FRESHLOOP_DATAHUB_FLUSH_INTERVAL", 1.0, minimum=0.05
        ),
        datahub_dedupe_days=_read_int("FRESHLOOP_DATAHUB_DEDUPE_DAYS", 7, minimum=1),
        alert_webhook_url=alert_webhook_url,
        # The server layout (docs/decisions/0011-server-layout.md): processes on one port, each
        # answering plain requests on a pool of threads, and a PostgreSQL connection pool per
        # process as large as the threads that can hold a connection at once.
        web_workers=_read_int("FRESHLOOP_WEB_WORKERS", os.cpu_count() or 1, minimum=1),
        web_threads=_read_int("FRESHLOOP_WEB_THREADS", 3, minimum=1),
        db_pool_max=_read_int("FRESHLOOP_DB_POOL_MAX", 12, minimum=0),
        # Shop fragments shared by every visitor (core/fragments.py); tests render fresh pages
        # unless a test turns it on.
        page_cache_seconds=_read_int(
            "FRESHLOOP_PAGE_CACHE_SECONDS", 0 if environment == "test" else 10, minimum=0
        ),
        wecom=_load_wecom(),
        community=_load_community(),
        groupbuy=_load_groupbuy(),
        public_base_url=(
            os.environ.get("FRESHLOOP_PUBLIC_BASE_URL", "") or "http://127.0.0.1:8000"
        ).rstrip("/"),
    )
