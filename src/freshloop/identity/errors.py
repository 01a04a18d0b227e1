from freshloop.core.errors import DomainError


class InvalidPhone(DomainError):
    code = "invalid_phone"
    message = "手机号格式不正确"
    status = 422


class OtpInvalid(DomainError):
    code = "otp_invalid"
    message = "验证码错误或已过期"
    status = 400


class OtpLocked(DomainError):
    code = "otp_locked"
    message = "验证码错误次数过多，请重新获取"
    status = 429


class OAuthStateInvalid(DomainError):
    code = "oauth_state_invalid"
    message = "授权请求已失效，请重新登录"
    status = 400


class OAuthFailed(DomainError):
    code = "oauth_failed"
    message = "微信授权失败，请重试"
    status = 400


class TokenInvalid(DomainError):
    code = "token_invalid"
    message = "登录已失效，请重新登录"
    status = 401
