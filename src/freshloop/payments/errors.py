from __future__ import annotations

from freshloop.core.errors import Conflict, DomainError, InvalidInput, NotFound


class PaymentProviderUnavailable(InvalidInput):
    code = "payment_provider_unavailable"
    message = "不支持该支付方式"


class ClientKindUnsupported(InvalidInput):
    code = "client_kind_unsupported"
    message = "该支付方式不支持当前客户端"


class WechatOpenidMissing(InvalidInput):
    code = "wechat_openid_missing"
    message = "请先在微信内登录后再使用微信支付"


class OrderNotPayable(Conflict):
    code = "order_not_payable"
    message = "订单当前不可支付（已支付、已取消或已超时）"


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "支付单不存在"


class PaymentGatewayError(DomainError):
    code = "payment_gateway_error"
    message = "支付渠道暂时不可用，请稍后再试"
    status = 502


class RefundAmountInvalid(InvalidInput):
    code = "refund_amount_invalid"
    message = "退款金额超出可退金额"


class NothingToRefund(Conflict):
    code = "nothing_to_refund"
    message = "该订单没有可退款的支付"


class ContractsUnsupported(InvalidInput):
    code = "contracts_unsupported"
    message = "该支付方式未开通自动扣款（委托代扣）"


class ContractNotFound(NotFound):
    code = "contract_not_found"
    message = "代扣协议不存在"


class ContractNotActive(Conflict):
    code = "contract_not_active"
    message = "代扣协议未签约或已解约"
