"""Typed errors of Food features (SPEC FD-1…FD-6): a machine code, a Chinese message, an HTTP status."""

from __future__ import annotations

from freshloop.core.errors import DomainError

# --- smart subscriptions (FD-1) ---


class SubscriptionNotFound(DomainError):
    code = "subscription_not_found"
    message = "订阅不存在"
    status = 404


class SubscriptionStateInvalid(DomainError):
    code = "subscription_state_invalid"
    message = "订阅当前状态不允许此操作"
    status = 409


class SubscriptionInvalid(DomainError):
    code = "subscription_invalid"
    message = "订阅信息有误，请检查后重试"
    status = 422


class SubscriptionLimitExceeded(DomainError):
    code = "subscription_limit_exceeded"
    message = "订阅数量已达上限"
    status = 409


# --- pantry (FD-2) ---
from freshloop.core import errors as core_errors  # noqa: E402


class PantryInputInvalid(core_errors.InvalidInput):
    code = "pantry_input_invalid"
    message = "添加的物品信息有误，请检查后重试"


class PantryItemNotFound(core_errors.NotFound):
    code = "pantry_item_not_found"
    message = "找不到这件物品"


class PantryItemClosed(core_errors.Conflict):
    code = "pantry_item_closed"
    message = "这件物品已经处理过了"


# --- regional pools and seasonal calendar (FD-5, FD-6) ---
from freshloop.core.errors import (  # noqa: E402
    DomainError,
    InvalidInput,
    NotFound,
)


class RegionRuleInvalid(InvalidInput):
    code = "food_region_rule_invalid"
    message = "区域规则设置不正确"


class RegionRuleNotFound(NotFound):
    code = "food_region_rule_not_found"
    message = "区域规则不存在"


class CalendarTemplateInvalid(InvalidInput):
    code = "food_calendar_template_invalid"
    message = "节令模板设置不正确"


class CalendarTemplateNotFound(NotFound):
    code = "food_calendar_template_not_found"
    message = "节令模板不存在"


# --- traceability (FD-3) ---


class TraceTokenMalformed(DomainError):
    code = "trace_token_malformed"
    message = "无法识别的溯源码，请扫描商品包装上的溯源码"
    status = 400


class TraceNotFound(NotFound):
    """A forged or altered token, an unknown lot and a lot with nothing published all answer
    alike, so the API cannot be used to probe which lots exist."""

    code = "trace_not_found"
    message = "溯源码无效或该批次暂无溯源信息"
