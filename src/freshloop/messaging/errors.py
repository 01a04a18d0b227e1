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
