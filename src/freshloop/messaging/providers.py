"""Channel providers of the outbox: SMS (alerts live in `messaging.alerts`, delivery receipts
in `messaging.sms_receipts`).

The outbox channel `sms`: a templated text through an `SmsProvider` — the offline sandbox,
Alibaba Cloud SMS (Dysmsapi `SendSms`) or Tencent Cloud SMS (`SendSms` 2021-01-11), chosen by
`FRESHLOOP_SMS_PROVIDER`. Its payload is built with `core.outbox.sms_payload` (a purpose such as
`login_code` and its parameters), so identity (below messaging) can queue login codes; the
purpose is mapped to the provider's template id by `FRESHLOOP_SMS_TEMPLATES`. Provider refusals
are typed: throttling is retried later, a refusal that no retry can fix (a bad number, an
unapproved template, wrong keys) fails the message at once and raises an alert, anything else
is retried with back-off (core.outbox). Delivery receipts are recorded by
`messaging.services.sms_receipts_record`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from freshloop.core import clock, crypto
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import (
    SMS_CHANNEL,
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
)
from freshloop.messaging.signing import aliyun_signature, tc3_sign

logger = logging.getLogger(__name__)


# --- SMS ---------------------------------------------------------------------------------

# The order in which a purpose's parameters fill a positional template ({1}, {2}… at Tencent
# Cloud); Alibaba Cloud templates name their variables (${code}) and get the names as they are.
# A purpose missing here is filled in the order of its parameter names.
SMS_TEMPLATE_PARAMS: dict[str, tuple[str, ...]] = {
    "login_code": ("code", "minutes"),
    "live_reminder": ("title", "time", "url"),
}


def _provider_text(provider: str, code: str, message: str) -> str:
    # Provider messages can quote the request; the phone number never is part of it here.
    return f"{provider} {code}: {message}"[:500]


class _ProviderRefusal(Exception):
    """Mixed into each SMS delivery error: the provider's own code and words, kept for the
    alert and the log (`provider`, `code`), in one message text."""

    def __init__(self, *, provider: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(_provider_text(provider, code, message), **extra)
        self.provider, self.code = provider, code


class SmsThrottled(_ProviderRefusal, ThrottledDeliveryError):
    """The provider's rate limit (per phone, per account, per second): sent again later, not
    before `retry_after` seconds."""


class SmsRejected(_ProviderRefusal, PermanentDeliveryError):
    """This message can never go out as it is (an invalid or blocked number, refused content)."""


class SmsMisconfigured(_ProviderRefusal, PermanentDeliveryError):
    """Our side is wrong (keys, sign name, template, balance): nothing goes out until an
    operator fixes it, so the message fails at once and the alert says why."""


class SmsProviderUnavailable(_ProviderRefusal, DeliveryError):
    """The provider could not be reached or failed inside: retried with back-off."""


class SmsProvider(Protocol):
    name: str

    def send(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> str:
        """Send one templated SMS; return the provider's message id or raise DeliveryError."""
        ...


class SandboxSmsProvider:
    """Delivers nothing: writes the message (code included) to the log so a developer can log in."""

    name = "sandbox"

    def send(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> str:
        logger.info(
            "[sandbox sms] to %s template=%s params=%s",
            crypto.mask_phone(phone_e164),
            template,
            json.dumps(params, ensure_ascii=False),
        )
        return f"sandbox-{message_id}"


def _template_id(provider: str, purpose: str, templates: dict[str, str]) -> str:
    template_id = templates.get(purpose)
    if not template_id:
        raise SmsMisconfigured(
            provider=provider,
            code="template_not_configured",
            message=f"no template for purpose {purpose!r} in FRESHLOOP_SMS_TEMPLATES",
        )
    return template_id


def _ordered_params(purpose: str, params: dict[str, str]) -> list[str]:
    order = SMS_TEMPLATE_PARAMS.get(purpose) or tuple(sorted(params))
    return [str(params.get(name, "")) for name in order]


def _post(
    provider: str,
    client_options: dict[str, Any],
    url: str,
    **request: Any,
) -> tuple[int, Any]:
    """POST and decode the JSON answer; transport failures and non-JSON answers are transient."""
    try:
        with httpx.Client(**client_options) as client:
            response = client.post(url, **request)
    except (httpx.HTTPError, OSError) as exc:
        raise SmsProviderUnavailable(
            provider=provider, code="unreachable", message=type(exc).__name__
        ) from exc
    try:
        return response.status_code, response.json()
    except ValueError as exc:
        raise SmsProviderUnavailable(
            provider=provider,
            code=f"http_{response.status_code}",
            message="answer is not JSON",
        ) from exc


# Alibaba Cloud error codes: https://help.aliyun.com/document_detail/101346.html (API 错误码).
_ALIYUN_THROTTLED = {
    "isv.BUSINESS_LIMIT_CONTROL": 60,  # per-phone flow control (1/min, 5/h, 10/day by default)
    "isv.DAY_LIMIT_CONTROL": 3600,  # the account's daily volume set in the console
    "isv.MONTH_LIMIT_CONTROL": 3600,
}
_ALIYUN_REJECTED = {
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.MOBILE_COUNT_OVER_LIMIT",
    "isv.BLACK_KEY_CONTROL_LIMIT",
    "isv.SMS_CONTENT_ILLEGAL",
    "isv.PARAM_LENGTH_LIMIT",
    "isv.PARAM_NOT_SUPPORT_URL",
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
}
_ALIYUN_MISCONFIGURED = {
    "isv.SMS_SIGNATURE_ILLEGAL",
    "isv.SMS_SIGN_ILLEGAL",
    "isv.SIGN_STATE_ILLEGAL",
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
    "isv.SMS_TEMPLATE_ILLEGAL",
    "isv.TEMPLATE_MISSING_PARAMETERS",
    "isv.INVALID_JSON_PARAM",
    "isv.INVALID_PARAMETERS",
    "isv.EXTEND_CODE_ERROR",
    "isv.DENY_IP_RANGE",
    "isv.OUT_OF_SERVICE",
    "isv.AMOUNT_NOT_ENOUGH",
    "isv.PRODUCT_UN_SUBSCRIPT",
    "isv.PRODUCT_UNSUBSCRIBE",
    "isv.ACCOUNT_NOT_EXISTS",
    "isv.ACCOUNT_ABNORMAL",
    "isp.RAM_PERMISSION_DENY",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingParameter",
}
_ALIYUN_MISCONFIGURED_PREFIXES = ("InvalidAccessKeyId", "Forbidden", "InvalidTimeStamp")


def aliyun_error(code: str, message: str) -> DeliveryError:
    """The typed delivery error for an Alibaba Cloud `Code` other than OK."""
    provider = AliyunSmsProvider.name
    if code in _ALIYUN_THROTTLED:
        return SmsThrottled(
            provider=provider, code=code, message=message, retry_after=_ALIYUN_THROTTLED[code]
        )
    if code.startswith("Throttling"):
        return SmsThrottled(provider=provider, code=code, message=message, retry_after=10)
    if code in _ALIYUN_REJECTED:
        return SmsRejected(provider=provider, code=code, message=message)
    if code in _ALIYUN_MISCONFIGURED or code.startswith(_ALIYUN_MISCONFIGURED_PREFIXES):
        return SmsMisconfigured(provider=provider, code=code, message=message)
    # isp.SYSTEM_ERROR, ServiceUnavailable, InternalError and codes we do not know yet
    return SmsProviderUnavailable(provider=provider, code=code, message=message)


def _aliyun_phone(phone_e164: str) -> str:
    # Mainland numbers are sent without a prefix, others as country code + number (no "+").
    return phone_e164.removeprefix("+86") if phone_e164.startswith("+86") else phone_e164[1:]


class AliyunSmsProvider:
    """Alibaba Cloud SMS, `SendSms` (RPC API 2017-05-25), signed with HMAC-SHA1 (messaging.signing)."""

    name = "aliyun"
    version = "2017-05-25"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: dict[str, str],
        endpoint: str = "https://dysmsapi.aliyuncs.com",
        region: str = "cn-hangzhou",
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._key_id = access_key_id
        self._secret = access_key_secret
        self._sign_name = sign_name
        self._templates = templates
        self._endpoint = endpoint.rstrip("/") + "/"
        self._region = region
        self._client_options: dict[str, Any] = {"timeout": timeout, "transport": transport}
        self._nonce = nonce

    def request_params(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> dict[str, str]:
        """The signed parameters of one SendSms call (sent as a form body)."""
        query = {
            "AccessKeyId": self._key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message_id,  # echoed in the delivery receipt as out_id
            "PhoneNumbers": _aliyun_phone(phone_e164),
            "RegionId": self._region,
            "SignName": self._sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "TemplateCode": _template_id(self.name, template, self._templates),
            "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
            "Timestamp": clock.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": self.version,
        }
        query["Signature"] = aliyun_signature("POST", query, self._secret)
        return query

    def send(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> str:
        form = self.request_params(
            phone_e164=phone_e164, template=template, params=params, message_id=message_id
        )
        status, answer = _post(self.name, self._client_options, self._endpoint, data=form)
        if not isinstance(answer, dict):
            raise SmsProviderUnavailable(
                provider=self.name, code=f"http_{status}", message="unexpected answer"
            )
        code = str(answer.get("Code") or f"http_{status}")
        if code == "OK" and answer.get("BizId"):
            return str(answer["BizId"])
        raise aliyun_error(code, str(answer.get("Message", "")))


# Tencent Cloud SMS error codes: https://cloud.tencent.com/document/api/382/52075 (错误码).
_TENCENT_REJECTED = {
    "InvalidParameterValue.IncorrectPhoneNumber",
    "InvalidParameterValue.ContentLengthLimit",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
    "InvalidParameterValue.TemplateParameterLengthLimit",
    "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.PhoneNumberParseFail",
    "FailedOperation.ContainSensitiveWord",
    "UnsupportedOperation.UnsupportedRegion",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
}
_TENCENT_MISCONFIGURED = {
    "FailedOperation.SignatureIncorrectOrUnapproved",
    "FailedOperation.TemplateIncorrectOrUnapproved",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
    "FailedOperation.InsufficientBalanceInSmsPackage",
    "FailedOperation.MissingSignature",
    "InvalidParameterValue.SdkAppIdNotExist",
    "InvalidParameterValue.TemplateParameterFormatError",
    "InternalError.SigVerificationFail",
    "InvalidAction",
    "NoSuchVersion",
}
_TENCENT_MISCONFIGURED_PREFIXES = (
    "AuthFailure",
    "UnauthorizedOperation",
    "MissingParameter",
    "InvalidParameter.",
)


def _tencent_retry_after(code: str) -> int:
    if code.startswith("RequestLimitExceeded"):
        return 10  # the API's calls per second
    if "ThirtySecond" in code:
        return 30
    if "OneHour" in code or "Daily" in code:
        return 3600
    return 60


def tencent_error(code: str, message: str) -> DeliveryError:
    """The typed delivery error for a Tencent Cloud error `Code` (request or per number)."""
    provider = TencentSmsProvider.name
    if code.startswith(("LimitExceeded", "RequestLimitExceeded")):
        return SmsThrottled(
            provider=provider, code=code, message=message, retry_after=_tencent_retry_after(code)
        )
    if code in _TENCENT_REJECTED:
        return SmsRejected(provider=provider, code=code, message=message)
    if code in _TENCENT_MISCONFIGURED or code.startswith(_TENCENT_MISCONFIGURED_PREFIXES):
        return SmsMisconfigured(provider=provider, code=code, message=message)
    # InternalError.*, a bare FailedOperation and codes we do not know yet
    return SmsProviderUnavailable(provider=provider, code=code, message=message)


class TencentSmsProvider:
    """Tencent Cloud SMS, `SendSms` (API 3.0, version 2021-01-11), signed with TC3-HMAC-SHA256."""

    name = "tencent"
    service = "sms"
    version = "2021-01-11"
    content_type = "application/json; charset=utf-8"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        templates: dict[str, str],
        endpoint: str = "https://sms.tencentcloudapi.com",
        region: str = "ap-guangzhou",
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._sdk_app_id = sdk_app_id
        self._sign_name = sign_name
        self._templates = templates
        self._endpoint = endpoint.rstrip("/") + "/"
        self._host = urlsplit(endpoint).netloc
        self._region = region
        self._client_options: dict[str, Any] = {"timeout": timeout, "transport": transport}

    def request(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> tuple[bytes, dict[str, str]]:
        """The exact body and the signed headers of one SendSms call."""
        payload = json.dumps(
            {
                "PhoneNumberSet": [phone_e164],
                "SmsSdkAppId": self._sdk_app_id,
                "SignName": self._sign_name,
                "TemplateId": _template_id(self.name, template, self._templates),
                "TemplateParamSet": _ordered_params(template, params),
                "SessionContext": message_id,  # echoed back; receipts may carry it as `ext`
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = int(clock.now().timestamp())
        signed = tc3_sign(
            secret_id=self._secret_id,
            secret_key=self._secret_key,
            service=self.service,
            host=self._host,
            payload=payload,
            timestamp=timestamp,
            content_type=self.content_type,
        )
        headers = {
            "Authorization": signed.authorization,
            "Content-Type": self.content_type,
            "Host": self._host,
            "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": self.version,
            "X-TC-Region": self._region,
        }
        return payload, headers

    def send(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> str:
        payload, headers = self.request(
            phone_e164=phone_e164, template=template, params=params, message_id=message_id
        )
        status, answer = _post(
            self.name, self._client_options, self._endpoint, content=payload, headers=headers
        )
        body = answer.get("Response") if isinstance(answer, dict) else None
        if not isinstance(body, dict):
            raise SmsProviderUnavailable(
                provider=self.name, code=f"http_{status}", message="unexpected answer"
            )
        error = body.get("Error")
        if isinstance(error, dict):
            raise tencent_error(str(error.get("Code", "")), str(error.get("Message", "")))
        statuses = body.get("SendStatusSet")
        first = statuses[0] if isinstance(statuses, list) and statuses else None
        if not isinstance(first, dict):
            raise SmsProviderUnavailable(
                provider=self.name, code=f"http_{status}", message="no SendStatusSet"
            )
        code = str(first.get("Code", ""))
        if code == "Ok" and first.get("SerialNo"):
            return str(first["SerialNo"])
        raise tencent_error(code, str(first.get("Message", "")))


def sms_provider() -> SmsProvider:
    """The provider the settings choose, built per delivery (cheap, and follows the settings)."""
    config = settings.FRESHLOOP
    gateway = config.sms_gateway
    if config.sms_provider == "aliyun":
        return AliyunSmsProvider(
            access_key_id=gateway.aliyun_access_key_id,
            access_key_secret=gateway.aliyun_access_key_secret,
            sign_name=gateway.sign_name,
            templates=gateway.templates,
            endpoint=gateway.aliyun_endpoint,
            region=gateway.aliyun_region,
            timeout=gateway.timeout_seconds,
        )
    if config.sms_provider == "tencent":
        return TencentSmsProvider(
            secret_id=gateway.tencent_secret_id,
            secret_key=gateway.tencent_secret_key,
            sdk_app_id=gateway.tencent_sdk_app_id,
            sign_name=gateway.sign_name,
            templates=gateway.templates,
            endpoint=gateway.tencent_endpoint,
            region=gateway.tencent_region,
            timeout=gateway.timeout_seconds,
        )
    return SandboxSmsProvider()


class SmsChannelSender:
    """Outbox sender for channel "sms": the payload holds the purpose and sealed parameters.

    What the provider answered is kept on the message's delivery record (messaging.models.
    SmsDelivery): its id when it accepted, the error code when it refused for good.
    """

    channel = SMS_CHANNEL

    def __init__(self, provider: SmsProvider | None = None) -> None:
        self._provider = provider

    def send(self, message: OutboxMessage) -> str:
        from freshloop.messaging.services import sms_delivery_record

        if not message.destination:
            raise DeliveryError("sms message has no destination")
        try:
            params = json.loads(crypto.decrypt(message.payload["params_sealed"]))
            template = str(message.payload["template"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DeliveryError(f"sms payload unreadable: {exc}") from exc
        provider = self._provider or sms_provider()
        started = time.monotonic()
        try:
            provider_id = provider.send(
                phone_e164=message.destination,
                template=template,
                params=params,
                message_id=str(message.pk),
            )
        except PermanentDeliveryError as exc:
            sms_delivery_record(
                message_id=message.pk,
                provider=provider.name,
                purpose=template,
                provider_message_id="",
                error_code=str(getattr(exc, "code", "")),
                error_message=str(exc),
            )
            raise
        logger.info(
            "sms %s to %s accepted by %s as %s in %.0f ms",
            message.pk,
            crypto.mask_phone(message.destination),
            provider.name,
            provider_id,
            (time.monotonic() - started) * 1000,
        )
        try:
            sms_delivery_record(
                message_id=message.pk,
                provider=provider.name,
                purpose=template,
                provider_message_id=provider_id,
            )
        except Exception:
            # The relay must still record the send: raising would leave the row pending and
            # the provider would be asked again. Receipts still find the text by our own id.
            logger.exception(
                "sms %s sent as %s but its delivery record failed", message.pk, provider_id
            )
        return provider_id
