from __future__ import annotations

from freshloop.core.errors import Conflict, DomainError, InvalidInput, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "订单不存在"


class OrderStateInvalid(Conflict):
    code = "order_state_invalid"
    message = "订单当前状态不允许此操作"


class PaymentAmountMismatch(DomainError):
    code = "payment_amount_mismatch"
    message = "支付金额与订单金额不一致"
    status = 409


class CartEmpty(InvalidInput):
    code = "cart_empty"
    message = "购物车是空的"


class CartLimitExceeded(InvalidInput):
    code = "cart_limit_exceeded"
    message = "购物车商品数量超出上限"


# The Chinese names of an address's fields: the request schema's titles (so a 422 from the
# schema says 请填写收货人手机号) and the order service's own check say the same words.
ADDRESS_TITLES: dict[str, str] = {
    "name": "收货人姓名",
    "phone": "收货人手机号",
    "province": "省份",
    "city": "城市",
    "district": "区县",
    "detail": "详细地址",
}


class AddressInvalid(InvalidInput):
    code = "address_invalid"
    message = "收货地址不完整"


class ShippingRuleInvalid(InvalidInput):
    code = "shipping_rule_invalid"
    message = "运费模板不正确"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "该幂等键已用于另一笔不同的订单"


class RefundInvalid(InvalidInput):
    code = "refund_invalid"
    message = "退款申请不正确"


class RefundNotFound(NotFound):
    code = "refund_not_found"
    message = "退款申请不存在"


class AddressNotFound(NotFound):
    code = "address_not_found"
    message = "收货地址不存在"


class AddressLimitExceeded(InvalidInput):
    code = "address_limit_exceeded"
    message = "最多保存 20 个收货地址，请先删除不用的地址"


class AddressUnparseable(InvalidInput):
    code = "address_unparseable"
    message = "没能识别出省市区，请检查文字或手动填写"


class AfterSalesInvalid(InvalidInput):
    code = "aftersales_invalid"
    message = "售后申请不正确"


class AfterSalesNotFound(NotFound):
    code = "aftersales_not_found"
    message = "售后工单不存在"


class AfterSalesAlreadyOpen(Conflict):
    code = "aftersales_already_open"
    message = "该订单已有处理中的售后申请，请等待客服处理"


# --- what placing an order can answer -----------------------------------------------------------
from freshloop.inventory.errors import OutOfStock  # noqa: E402
from freshloop.membership.errors import (  # noqa: E402
    InsufficientPoints,
    InvalidPointsRequest,
    MemberNotFound,
    PointsRefConflict,
)
from freshloop.promotions.errors import (  # noqa: E402
    CampaignBudgetExhausted,
    CampaignInvalid,
    CouponBudgetExhausted,
    CouponUnavailable,
)

ORDER_CREATE_ERRORS: tuple[type[DomainError], ...] = (
    AddressInvalid,
    AddressNotFound,
    CampaignBudgetExhausted,
    CampaignInvalid,
    CartEmpty,
    CartLimitExceeded,
    CouponBudgetExhausted,
    CouponUnavailable,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidInput,
    InvalidPointsRequest,
    MemberNotFound,
    NotFound,
    OutOfStock,
    PointsRefConflict,
)
"""Every refusal `services.order_create` can answer (pricing, stock, coupons, points, the
address, the idempotency key): an endpoint that places an order declares them with
`@raises(*ORDER_CREATE_ERRORS, ...)`."""
