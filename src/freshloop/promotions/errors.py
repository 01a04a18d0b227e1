from freshloop.core.errors import Conflict, DomainError, InvalidInput, NotFound


class CouponTemplateInvalid(InvalidInput):
    code = "coupon_template_invalid"
    message = "优惠券设置不正确"


class CouponTemplateLocked(Conflict):
    code = "coupon_template_locked"
    message = "优惠券已发放，面额与类型不能再修改"


class CouponTemplateInactive(Conflict):
    code = "coupon_template_inactive"
    message = "优惠券已停用或已过发放期"


class CampaignInvalid(InvalidInput):
    code = "campaign_invalid"
    message = "活动设置不正确"


class CouponNotFound(NotFound):
    code = "coupon_not_found"
    message = "优惠券不存在"


class CouponUnavailable(Conflict):
    code = "coupon_unavailable"
    message = "优惠券不可用"


class CouponBudgetExhausted(Conflict):
    code = "coupon_budget_exhausted"
    message = "优惠券预算已用完"


class CampaignBudgetExhausted(Conflict):
    code = "campaign_budget_exhausted"
    message = "活动优惠名额已用完"


class CouponLimitReached(Conflict):
    code = "coupon_limit_reached"
    message = "已达到每人领取上限"


class CouponSoldOut(Conflict):
    code = "coupon_sold_out"
    message = "优惠券已被领完"


class CouponNotForLive(InvalidInput):
    code = "coupon_not_for_live"
    message = "该优惠券不能在这个直播间发放"


class RedeemCodeNotFound(NotFound):
    code = "redeem_code_not_found"
    message = "兑换码不存在"


class RedeemCodeExpired(DomainError):
    code = "redeem_code_expired"
    message = "兑换码已失效"
    status = 410


class RedeemCodeExhausted(Conflict):
    code = "redeem_code_exhausted"
    message = "兑换码已被领完"


class RedeemCodeInvalid(InvalidInput):
    code = "redeem_code_invalid"
    message = "兑换码设置不正确"
