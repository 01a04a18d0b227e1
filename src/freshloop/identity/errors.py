from freshloop.core.errors import DomainError, RateLimited


class InvalidPhone(DomainError):
    code = "invalid_phone"
    message = "手机号格式不正确"
    status = 422


class OtpInvalid(DomainError):
    code = "otp_invalid"
    message = "验证码错误或已过期"
    status = 400


class OtpLocked(RateLimited):
    """Too many wrong codes: the code is void and the phone locked for a while (retry_after)."""

    code = "otp_locked"
    message = "验证码错误次数过多，请稍后再试"
    wait_message = "验证码错误次数过多，请 {wait}后再试"
    status = 429


class OAuthStateInvalid(DomainError):
    code = "oauth_state_invalid"
    message = "授权请求已失效，请重新登录"
    status = 400


class OAuthFailed(DomainError):
    code = "oauth_failed"
    message = "微信授权失败，请重试"
    status = 400


class WechatUnavailable(DomainError):
    code = "wechat_unavailable"
    message = "暂时连不上微信，请稍后再试或手动填写"
    status = 503


class JsSdkUrlInvalid(DomainError):
    code = "jssdk_url_invalid"
    message = "只能为本站页面生成微信 JS-SDK 签名"
    status = 400


class TokenInvalid(DomainError):
    code = "token_invalid"
    message = "登录已失效，请重新登录"
    status = 401


class InvalidIdentifier(DomainError):
    code = "invalid_identifier"
    message = "身份标识不正确"
    status = 422


class OccurredAtInvalid(DomainError):
    """A client's `occurred_at` that cannot be taken: later than now (beyond the clock skew
    `/track` allows too) would make its traits win against every later write."""

    code = "occurred_at_invalid"
    message = "发生时间不能晚于当前时间"
    status = 422


class TooManyIdentifiers(DomainError):
    code = "too_many_identifiers"
    message = "单次请求的身份标识过多"
    status = 413


class ConflictingIdentifiers(DomainError):
    code = "conflicting_identifiers"
    message = "同一请求中包含同类型的多个不同标识"
    status = 422


class PersonNotFound(DomainError):
    code = "person_not_found"
    message = "用户不存在"
    status = 404


class PersonErased(DomainError):
    code = "person_erased"
    message = "该用户的个人信息已按要求删除"
    status = 410


class SplitInvalid(DomainError):
    code = "split_invalid"
    message = "拆分方式不正确"
    status = 422
