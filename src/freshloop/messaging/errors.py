"""Messaging's typed errors: SMS receipts, and WeCom's answers and callbacks.

WeCom (the client and the callback endpoint, messaging/wecom/):

WeCom answers every API call with `errcode` (0 = done) and an `errmsg` that may change wording,
so decisions are taken on the code alone (the 全局错误码 list of the 企业微信 server API docs).
Three families decide what the client does (docs/scrm.md, "Error codes"):

- the access token is invalid or expired → the cached token is dropped and the call is made
  once more with a fresh one (`WecomTokenInvalid`, never seen by callers unless that fails too);
- a rate limit or "system busy" → the call is retried a few times with exponential back-off,
  then `WecomRateLimited` / `WecomUnavailable` (the outbox retries later);
- everything else is permanent: retrying the same request gives the same answer
  (`WecomUnknownExternalUser`, `WecomNoPermission`, `WecomInvalidSecret`, `WecomRequestInvalid`…).

Every error keeps WeCom's own `errcode` and `errmsg` (in `detail`), for the log and the alert.
"""

from __future__ import annotations

from typing import ClassVar

from freshloop.core.errors import DomainError, MalformedRequest, NotFound, PermissionDenied


class SmsReceiptMalformed(MalformedRequest):
    code = "sms_receipt_malformed"
    message = "短信回执格式不正确"
    status = 400


class SmsReceiptForbidden(PermissionDenied):
    code = "sms_receipt_forbidden"
    message = "短信回执令牌不正确"
    status = 403


class SmsProviderUnknown(NotFound):
    code = "sms_provider_unknown"
    message = "不支持的短信服务商"
    status = 404


# --- WeCom ---------------------------------------------------------------------------------


class WecomError(DomainError):
    """A refusal or failure of the WeCom API. `errcode` is WeCom's (None: no answer at all)."""

    code = "wecom_error"
    message = "企业微信接口调用失败"
    status = 502
    # Whether sending again later may succeed (a caller such as the outbox decides on it).
    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str | None = None, *, errcode: int | None = None, errmsg: str = ""
    ) -> None:
        super().__init__(message, detail={"errcode": errcode, "errmsg": errmsg[:200]})
        self.errcode = errcode
        self.errmsg = errmsg


class WecomTokenInvalid(WecomError):
    code = "wecom_token_invalid"
    message = "企业微信 access_token 无效或已过期"
    status = 502
    retryable = True


class WecomRateLimited(WecomError):
    code = "wecom_rate_limited"
    message = "企业微信接口调用过于频繁，请稍后重试"
    status = 503
    retryable = True


class WecomUnavailable(WecomError):
    code = "wecom_unavailable"
    message = "企业微信暂时无法访问，请稍后重试"
    status = 503
    retryable = True


class WecomInvalidSecret(WecomError):
    code = "wecom_invalid_secret"
    message = "企业微信的企业 ID 或 Secret 配置不正确"
    status = 502


class WecomNoPermission(WecomError):
    code = "wecom_no_permission"
    message = "企业微信未授权此操作：请检查客户联系权限、可调用应用和可见范围"
    status = 502


class WecomIpNotAllowed(WecomError):
    code = "wecom_ip_not_allowed"
    message = "服务器 IP 不在企业微信的可信 IP 列表中"
    status = 502


class WecomUnknownExternalUser(WecomError):
    code = "wecom_unknown_external_user"
    message = "企业微信中不存在该客户，或该客户已不是成员的好友"
    status = 404


class WecomUnknownStaff(WecomError):
    code = "wecom_unknown_staff"
    message = "企业微信中不存在该成员"
    status = 404


class WecomUnknownGroupChat(WecomError):
    code = "wecom_unknown_group_chat"
    message = "企业微信中不存在该客户群"
    status = 404


class WecomRequestInvalid(WecomError):
    code = "wecom_request_invalid"
    message = "发给企业微信的请求不符合要求"
    status = 422


# errcode → (error class, Chinese sentence for people). Meanings from WeCom's 全局错误码 list;
# the same table is in docs/scrm.md.
ERRCODES: dict[int, tuple[type[WecomError], str]] = {
    -1: (WecomUnavailable, "企业微信系统繁忙"),
    40014: (WecomTokenInvalid, "不合法的 access_token"),
    40082: (WecomTokenInvalid, "不合法的 suite_token"),
    41001: (WecomInvalidSecret, "缺少 access_token 参数"),
    42001: (WecomTokenInvalid, "access_token 已过期"),
    40001: (WecomInvalidSecret, "不合法的 secret 参数"),
    40013: (WecomInvalidSecret, "不合法的企业 ID（corpid）"),
    41002: (WecomInvalidSecret, "缺少企业 ID（corpid）参数"),
    41004: (WecomInvalidSecret, "缺少 secret 参数"),
    45009: (WecomRateLimited, "接口调用超过限制"),
    45033: (WecomRateLimited, "接口并发调用超过限制"),
    48002: (WecomNoPermission, "API 接口无权限调用"),
    60011: (WecomNoPermission, "指定的成员/部门/标签参数无权限"),
    84074: (WecomNoPermission, "没有外部联系人权限"),
    60020: (WecomIpNotAllowed, "不安全的访问 IP（不在企业可信 IP 中）"),
    40003: (WecomUnknownStaff, "无效的成员 UserID"),
    60111: (WecomUnknownStaff, "成员 UserID 不存在"),
    40096: (WecomUnknownExternalUser, "不合法的外部联系人 userid"),
    84061: (WecomUnknownExternalUser, "不存在外部联系人的关系"),
    40050: (WecomUnknownGroupChat, "客户群 chat_id 不存在"),
    40058: (WecomRequestInvalid, "不合法的参数"),
    40068: (WecomRequestInvalid, "不合法的标签 ID"),
    44004: (WecomRequestInvalid, "文本内容为空"),
    45002: (WecomRequestInvalid, "消息内容超过长度限制"),
}


def wecom_error(errcode: int | None, errmsg: str = "") -> WecomError:
    """The typed error for one WeCom answer; unknown codes are permanent and keep the code."""
    if errcode is None:
        return WecomUnavailable(errcode=None, errmsg=errmsg)
    known = ERRCODES.get(errcode)
    if known is None:
        return WecomError(
            f"企业微信接口调用失败（错误码 {errcode}）", errcode=errcode, errmsg=errmsg
        )
    error_class, sentence = known
    return error_class(
        f"{error_class.message}（{errcode} {sentence}）", errcode=errcode, errmsg=errmsg
    )


# --- the callback endpoint ---------------------------------------------------------------


class WecomCallbackDisabled(NotFound):
    code = "wecom_callback_disabled"
    message = "未配置企业微信回调（Token 与 EncodingAESKey）"
    status = 404


class WecomCallbackForbidden(PermissionDenied):
    code = "wecom_callback_forbidden"
    message = "企业微信回调签名校验失败"
    status = 403


class WecomCallbackMalformed(MalformedRequest):
    code = "wecom_callback_malformed"
    message = "企业微信回调内容格式不正确"
    status = 400


class WecomCallbackTooLarge(MalformedRequest):
    code = "wecom_callback_too_large"
    message = "企业微信回调内容过大"


class MarketingChannelUnknown(MalformedRequest):
    code = "marketing_channel_unknown"
    message = "不支持的消息通道"
    status = 400


class MarketingPersonUnknown(NotFound):
    code = "marketing_person_unknown"
    message = "找不到该用户"
    status = 404


class ConsentSourceUnknown(MalformedRequest):
    code = "consent_source_unknown"
    message = "不支持的订阅变更来源"
    status = 400
