"""Typed errors of presale (GB-4): a machine code, a Chinese message, an HTTP status."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound


class PresaleInvalid(InvalidInput):
    """Field problems in `detail` as `[{"field", "message"}]` (`InvalidInput.for_fields`)."""

    code = "presale_invalid"
    message = "预售设置有误，请检查后重试"


class PresaleNotFound(NotFound):
    code = "presale_not_found"
    message = "预售活动不存在"


class PresaleStateInvalid(Conflict):
    """The operation does not fit the presale's status (editing one that opened, cancelling
    one that ended)."""

    code = "presale_state_invalid"
    message = "预售当前状态不允许此操作"


class PresaleDepositClosed(Conflict):
    """Outside the deposit window (before it, after it, or the presale ended / was cancelled);
    `detail` has the window."""

    code = "presale_deposit_closed"
    message = "当前不在定金支付时间内"


class PresaleBalanceClosed(Conflict):
    """Outside the balance window; `detail` has the window."""

    code = "presale_balance_closed"
    message = "当前不在尾款支付时间内"


class PresaleSoldOut(Conflict):
    code = "presale_sold_out"
    message = "预售名额已满"


class PresaleLimitExceeded(Conflict):
    code = "presale_limit_exceeded"
    message = "超出每人限购件数"


class PresaleQuantityInvalid(InvalidInput):
    code = "presale_quantity_invalid"
    message = "购买件数不正确"


class PresalePurchaseNotFound(NotFound):
    """Also what another buyer's purchase number answers: purchases cannot be probed."""

    code = "presale_purchase_not_found"
    message = "预售订单不存在"


class PresaleDepositUnpaid(Conflict):
    """The balance is paid only on a paid deposit."""

    code = "presale_deposit_unpaid"
    message = "定金尚未支付，不能支付尾款"


class PresalePurchaseClosed(Conflict):
    """The purchase is over: balance already paid, deposit forfeited, refunded or cancelled."""

    code = "presale_purchase_closed"
    message = "该预售订单已结束，不能再支付尾款"
