"""Identity writes: resolving people (OneID), phone-code login, WeChat login, consumer tokens.

The resolver itself lives in identity.resolver; this module holds the login flows built on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from freshloop.core import clock, crypto
from freshloop.core.errors import RateLimited
from freshloop.core.events import publish
from freshloop.core.outbox import ALERT_CHANNEL, SMS_CHANNEL, outbox_enqueue, sms_payload
from freshloop.core.ratelimit import (
    lock_acquire,
    lock_remaining,
    lock_set,
    rate_limit_hit,
    wait_phrase,
)
from freshloop.identity.batch import IdentifyCall, identify_many
from freshloop.identity.errors import OtpInvalid, OtpLocked, TokenInvalid
from freshloop.identity.events import ConsumerLoggedIn
from freshloop.identity.matching import match_candidates_generate
from freshloop.identity.models import (
    ConsumerToken,
    IdentifierType,
    OtpChallenge,
    Person,
)
from freshloop.identity.privacy import person_erase, person_export, register_export_section
from freshloop.identity.providers import WechatProfile
from freshloop.identity.resolver import (
    IdentifierInput,
    IdentifyResult,
    identifier_index,
    identify,
    people_lock,
    phone_normalise,
)

OTP_DIGITS = 6
TOKEN_PREFIX = "flc_"  # noqa: S105 (a public prefix, not a secret)

# The module's public face: other modules import these from here, never from the files that
# implement them (the "public faces" contract in pyproject.toml).
__all__ = [
    "IdentifierInput",
    "IdentifyCall",
    "IdentifyResult",
    "identifier_index",
    "identify",
    "identify_many",
    "match_candidates_generate",
    "people_lock",
    "person_erase",
    "person_export",
    "phone_normalise",
    "register_export_section",
]


def _phone_index(phone_e164: str) -> str:
    return identifier_index(IdentifierType.PHONE, phone_e164)


def person_resolve_identifier(
    *,
    identifier_type: IdentifierType,
    value: str,
    scope: str = "",
    verified: bool,
    source: str,
    traits: dict[str, Any] | None = None,
    display_name: str = "",
) -> IdentifyResult:
    """Find or create the person holding one identifier (identify with a single identifier)."""
    return identify(
        identifiers=[
            IdentifierInput(type=identifier_type, value=value, scope=scope, verified=verified)
        ],
        traits=traits,
        source=source,
        display_name=display_name,
    )


# --- phone + one-time code -------------------------------------------------------------


def _code_hash(phone_index: str, code: str) -> str:
    # Keyed by the blind-index key and bound to the phone, so a leaked table row is useless
    # for another phone and cannot be brute-forced offline without the key.
    return crypto.blind_index(f"{phone_index}:{code}", purpose="otp")


@dataclass(frozen=True)
class OtpRequestResult:
    expires_in: int
    resend_after: int
    sandbox_code: str | None


# What a refused caller reads; `{wait}` is filled with the same rounded wait `retry_after`
# carries (core.ratelimit.wait_phrase), so the message, `retry_after` and `Retry-After` agree.
_RESEND_WAIT = "验证码已发送，请 {wait}后再重新获取"
_IP_WAIT = "获取验证码过于频繁，请 {wait}后再试"
_PHONE_DAY_WAIT = "今日验证码发送次数已达上限，请 {wait}后再试"
_ALL_DAY_WAIT = "今日验证码发送量已达上限，请 {wait}后再试"
_VERIFY_WAIT = "验证过于频繁，请 {wait}后再试"
_LOCKED_WAIT = "验证码错误次数过多，请 {wait}后再试"


def _refused(text: str, seconds: int) -> RateLimited:
    retry_after, wait = wait_phrase(seconds)
    return RateLimited(text.format(wait=wait), retry_after=retry_after)


def _locked(seconds: int) -> OtpLocked:
    retry_after, wait = wait_phrase(seconds)
    return OtpLocked(_LOCKED_WAIT.format(wait=wait), retry_after=retry_after)


def _count(key: str, *, limit: int, window_seconds: int, text: str) -> None:
    try:
        rate_limit_hit(key, limit=limit, window_seconds=window_seconds)
    except RateLimited as limited:
        raise _refused(text, limited.retry_after) from None


def _phone_lock_key(phone_index: str) -> str:
    return f"otp:lock:{phone_index}"


def _refuse_if_locked(phone_index: str) -> None:
    remaining = lock_remaining(_phone_lock_key(phone_index))
    if remaining:
        raise _locked(remaining)


def _count_daily_send(config: Any) -> None:
    try:
        rate_limit_hit("otp:all-day", limit=config.otp_per_day, window_seconds=86400)
    except RateLimited as limited:
        # Far more codes than the brand's users ever ask for is SMS pumping (someone making us
        # pay for texts to premium numbers): people must look now, once a day is enough.
        day = clock.now().date().isoformat()
        outbox_enqueue(
            channel=ALERT_CHANNEL,
            payload={"kind": "otp.daily_cap_reached", "limit": config.otp_per_day, "day": day},
            dedupe_key=f"otp.daily_cap_reached:{day}",
            urgent=True,
        )
        raise _refused(_ALL_DAY_WAIT, limited.retry_after) from None


def otp_request(*, phone: str, ip_address: str | None) -> OtpRequestResult:
    """Send a login code by SMS (through the outbox).

    Limits, in the order they are checked: a phone locked after wrong codes; requests per IP
    per hour and per day; one code per phone per `otp_resend_seconds` (a cool-down taken
    atomically, so two parallel requests never both send); codes per phone per day; codes
    per day in all (against SMS pumping). Counters live in Redis when configured
    (core.ratelimit).
    """
    config = settings.FRESHLOOP
    phone_e164 = phone_normalise(phone)
    phone_index = _phone_index(phone_e164)
    _refuse_if_locked(phone_index)
    ip_key = ip_address or "unknown"
    _count(f"otp:ip:{ip_key}", limit=config.otp_per_ip_per_hour, window_seconds=3600, text=_IP_WAIT)
    _count(
        f"otp:ip-day:{ip_key}", limit=config.otp_per_ip_per_day, window_seconds=86400, text=_IP_WAIT
    )
    wait = lock_acquire(f"otp:resend:{phone_index}", seconds=config.otp_resend_seconds)
    if wait:
        raise _refused(_RESEND_WAIT, wait)
    _count(
        f"otp:phone-day:{phone_index}",
        limit=config.otp_per_phone_per_day,
        window_seconds=86400,
        text=_PHONE_DAY_WAIT,
    )
    _count_daily_send(config)
    code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
    now = clock.now()
    with transaction.atomic():
        # A new code replaces any earlier one still open for this phone.
        OtpChallenge.objects.filter(phone_index=phone_index, consumed_at__isnull=True).update(
            consumed_at=now
        )
        challenge = OtpChallenge.objects.create(
            phone_index=phone_index,
            code_hash=_code_hash(phone_index, code),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=config.otp_ttl_seconds),
            ip_address=ip_address,
        )
        # Login codes are transactional: queued straight into the outbox (identity sits below
        # messaging), never held by marketing caps or quiet hours.
        outbox_enqueue(
            channel=SMS_CHANNEL,
            destination=phone_e164,
            payload=sms_payload(
                "login_code", {"code": code, "minutes": str(config.otp_ttl_seconds // 60)}
            ),
            dedupe_key=f"otp:{challenge.pk}",
            urgent=True,
        )
    echo = config.sms_sandbox_echo and config.sms_provider == "sandbox"
    return OtpRequestResult(
        expires_in=config.otp_ttl_seconds,
        resend_after=config.otp_resend_seconds,
        sandbox_code=code if echo else None,
    )


@dataclass(frozen=True)
class LoginResult:
    person: Person
    created: bool
    token: str
    token_id: int
    expires_at: dt.datetime


def _lock_phone(*, challenge_id: int, phone_index: str) -> OtpLocked:
    """Void the code and lock the phone: no new code and no guess for `otp_lock_seconds`."""
    config = settings.FRESHLOOP
    OtpChallenge.objects.filter(pk=challenge_id, consumed_at__isnull=True).update(
        consumed_at=clock.now()
    )
    lock_set(_phone_lock_key(phone_index), seconds=config.otp_lock_seconds)
    return _locked(config.otp_lock_seconds)


def otp_verify(*, phone: str, code: str, ip_address: str | None) -> LoginResult:
    """Check a login code and log the phone's owner in (creating them on first login).

    Single use is enforced by a conditional update on `consumed_at`. Every guess counts
    against the code, in one conditional update so parallel guesses cannot slip past the
    limit; the `otp_max_attempts`-th wrong guess voids the code and locks the phone for
    `otp_lock_seconds` (OtpLocked, 429 with retry_after), so a new code cannot restart the
    guessing either.
    """
    config = settings.FRESHLOOP
    phone_e164 = phone_normalise(phone)
    phone_index = _phone_index(phone_e164)
    _count(
        f"otp-verify:ip:{ip_address or 'unknown'}",
        limit=config.verify_per_ip_per_hour,
        window_seconds=3600,
        text=_VERIFY_WAIT,
    )
    if not isinstance(code, str) or len(code) != OTP_DIGITS or not code.isdigit():
        raise OtpInvalid(detail={"code": f"需要 {OTP_DIGITS} 位数字"})
    _refuse_if_locked(phone_index)
    now = clock.now()
    challenge = (
        OtpChallenge.objects.filter(
            phone_index=phone_index, consumed_at__isnull=True, expires_at__gt=now
        )
        .order_by("-created_at")
        .first()
    )
    if challenge is None:
        raise OtpInvalid()
    open_challenge = OtpChallenge.objects.filter(pk=challenge.pk, consumed_at__isnull=True)
    counted = open_challenge.filter(attempts__lt=config.otp_max_attempts).update(
        attempts=F("attempts") + 1
    )
    if not counted:
        if open_challenge.exists():
            raise _lock_phone(challenge_id=challenge.pk, phone_index=phone_index)
        raise OtpInvalid()
    if not hmac.compare_digest(challenge.code_hash, _code_hash(phone_index, code)):
        attempts = (
            OtpChallenge.objects.filter(pk=challenge.pk).values_list("attempts", flat=True).get()
        )
        if attempts >= config.otp_max_attempts:
            raise _lock_phone(challenge_id=challenge.pk, phone_index=phone_index)
        raise OtpInvalid(detail={"remaining_attempts": config.otp_max_attempts - attempts})
    with transaction.atomic():
        if open_challenge.update(consumed_at=now) != 1:
            raise OtpInvalid()  # used by a concurrent request a moment ago
        resolution = identify(
            identifiers=[
                IdentifierInput(type=IdentifierType.PHONE, value=phone_e164, verified=True)
            ],
            source="h5_otp",
        )
        return _login(resolution, method="otp")


def wechat_login(*, profile: WechatProfile) -> LoginResult:
    """Log in (or sign up) the WeChat user: openid (scoped by app) and unionid as one person."""
    identifiers = [
        IdentifierInput(
            type=IdentifierType.WECHAT_OPENID,
            value=profile.openid,
            scope=profile.app_id,
            verified=True,
        )
    ]
    if profile.unionid:
        identifiers.append(
            IdentifierInput(
                type=IdentifierType.WECHAT_UNIONID, value=profile.unionid, verified=True
            )
        )
    with transaction.atomic():
        resolution = identify(
            identifiers=identifiers, source="wechat_oauth", display_name=profile.nickname
        )
        return _login(resolution, method="wechat")


def _login(resolution: IdentifyResult, *, method: str) -> LoginResult:
    token, record = consumer_token_issue(person=resolution.person, method=method)
    publish(ConsumerLoggedIn(one_id=resolution.person.one_id, method=method))
    return LoginResult(
        person=resolution.person,
        created=resolution.created,
        token=token,
        token_id=record.pk,
        expires_at=record.expires_at,
    )


# --- consumer tokens -------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def consumer_token_issue(*, person: Person, method: str) -> tuple[str, ConsumerToken]:
    """Create a bearer token; only its hash is stored, so the raw token is returned once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    record = ConsumerToken.objects.create(
        person=person,
        token_hash=_token_hash(token),
        method=method,
        created_at=now,
        expires_at=now + dt.timedelta(days=settings.FRESHLOOP.consumer_token_days),
    )
    return token, record


def consumer_token_revoke(*, token_id: int) -> None:
    ConsumerToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(
        revoked_at=clock.now()
    )


def consumer_token_authenticate(
    *, token: str | None = None, token_id: int | None = None
) -> ConsumerToken:
    """Return the live token record for a raw token (API) or a token id (H5 session)."""
    now = clock.now()
    live = ConsumerToken.objects.select_related("person").filter(
        revoked_at__isnull=True, expires_at__gt=now
    )
    if token is not None:
        record = live.filter(token_hash=_token_hash(token)).first()
    elif token_id is not None:
        record = live.filter(pk=token_id).first()
    else:
        record = None
    if record is None:
        raise TokenInvalid()
    return record
