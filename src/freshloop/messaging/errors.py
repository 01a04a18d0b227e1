from freshloop.core.errors import MalformedRequest, NotFound, PermissionDenied


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
