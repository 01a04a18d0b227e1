"""The automatic after-sales rule set (FF-3), configured in the console without code.

A rule reads WHEN → IF → THEN:

- WHEN: a trigger — a buyer's after-sales case (its reason among `reasons`, optionally only
  with a photo), a temperature excursion on a parcel (at least `min_excursion_minutes`), a
  parcel delivered at least `min_late_hours` after its promise, or a recalled lot;
- IF: the claim's amount within [`amount_min_fen`, `amount_max_fen`], the buyer's member level
  among `member_levels`, and at most `max_recent_claims` claims in the last
  `claims_window_days` days;
- THEN: full refund of the units concerned, a partial refund (a percentage or a fixed amount,
  never more than the units are worth), a compensation coupon, a replacement or a task for
  customer service.

Limits keep automation safe: at most `customer_limit_count` automatic decisions per customer
in `customer_limit_days`, at most `daily_limit_fen` refunded automatically per day (Shanghai
day, all rules together), and anything above `approval_above_fen` waits for an operator.
The first active rule by priority whose WHEN and IF match decides (`rule_first_match`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.fulfillment.errors import AfterSalesRuleInvalid, AfterSalesRuleNotFound
from freshloop.fulfillment.models import AfterSalesAction, AfterSalesRule, AfterSalesTrigger
from freshloop.membership.models import MemberLevel
from freshloop.orders.models import AfterSalesReason
from freshloop.promotions.models import CouponTemplate

Problems = list[tuple[str, str]]

_INT_FIELDS: dict[str, tuple[str, int, int]] = {
    # field: (label, minimum, maximum)
    "priority": ("优先级", 0, 100_000),
    "min_late_hours": ("超时小时数", 0, 24 * 30),
    "min_excursion_minutes": ("超温分钟数", 0, 24 * 60 * 7),
    "amount_min_fen": ("金额下限", 0, 100_000_000),
    "amount_max_fen": ("金额上限", 0, 100_000_000),
    "max_recent_claims": ("近期售后次数上限", 0, 1000),
    "claims_window_days": ("统计天数", 1, 366),
    "refund_percent": ("退款比例", 1, 100),
    "refund_fen": ("退款金额", 1, 100_000_000),
    "approval_above_fen": ("审批金额", 0, 100_000_000),
    "customer_limit_count": ("每位顾客上限", 1, 1000),
    "customer_limit_days": ("顾客上限周期", 1, 366),
    "daily_limit_fen": ("每日上限", 1, 1_000_000_000),
}
_OPTIONAL_INTS = {
    "amount_min_fen",
    "amount_max_fen",
    "max_recent_claims",
    "refund_percent",
    "refund_fen",
    "approval_above_fen",
    "customer_limit_count",
    "daily_limit_fen",
}
_DEFAULTS: dict[str, Any] = {
    "priority": 100,
    "is_active": True,
    "reasons": [],
    "requires_photo": False,
    "min_late_hours": 0,
    "min_excursion_minutes": 0,
    "member_levels": [],
    "claims_window_days": 30,
    "customer_limit_days": 30,
    "coupon_template_id": None,
}
FIELDS = (
    "name",
    "trigger",
    "action",
    *_DEFAULTS,
    *(name for name in _INT_FIELDS if name not in _DEFAULTS),
)


def _clean_int(spec: Mapping[str, Any], name: str, problems: Problems) -> int | None:
    label, low, high = _INT_FIELDS[name]
    value = spec.get(name, _DEFAULTS.get(name))
    if value is None:
        if name not in _OPTIONAL_INTS:
            problems.append((name, f"请填写{label}"))
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append((name, f"{label}必须是整数"))
        return None
    if not low <= value <= high:
        problems.append((name, f"{label}应在 {low}–{high} 之间"))
        return None
    return value


def _clean_codes(
    spec: Mapping[str, Any], name: str, allowed: set[str], label: str, problems: Problems
) -> list[str]:
    value = spec.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append((name, f"{label}应为列表"))
        return []
    unknown = sorted(set(value) - allowed)
    if unknown:
        problems.append((name, f"未知的{label}：{'、'.join(unknown)}"))
    return sorted(set(value))


def rule_clean(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's fields, checked; every wrong field is reported at once
    (`AfterSalesRuleInvalid`, `detail` = [{field, message}])."""
    problems: Problems = []
    unknown = sorted(set(spec) - set(FIELDS))
    for field in unknown:
        problems.append((field, "不认识的字段"))
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "请填写规则名称"))
    elif len(name.strip()) > 64:
        problems.append(("name", "规则名称不能超过 64 个字"))
    trigger = spec.get("trigger")
    if trigger not in AfterSalesTrigger.values:
        problems.append(("trigger", "请选择触发条件"))
    action = spec.get("action")
    if action not in AfterSalesAction.values:
        problems.append(("action", "请选择处理动作"))
    ints = {field: _clean_int(spec, field, problems) for field in _INT_FIELDS}
    reasons = _clean_codes(spec, "reasons", set(AfterSalesReason.values), "售后原因", problems)
    levels = _clean_codes(
        spec,
        "member_levels",
        set(MemberLevel.objects.values_list("code", flat=True)),
        "会员等级",
        problems,
    )
    flags = {}
    for flag in ("is_active", "requires_photo"):
        value = spec.get(flag, _DEFAULTS[flag])
        if not isinstance(value, bool):
            problems.append((flag, "应为是或否"))
        flags[flag] = bool(value)
    if trigger != AfterSalesTrigger.COMPLAINT and (reasons or flags["requires_photo"]):
        problems.append(("reasons", "售后原因和照片要求只适用于“顾客提交售后”"))
    low, high = ints["amount_min_fen"], ints["amount_max_fen"]
    if low is not None and high is not None and low > high:
        problems.append(("amount_max_fen", "金额上限不能低于下限"))
    if action == AfterSalesAction.PARTIAL_REFUND and (
        (ints["refund_percent"] is None) == (ints["refund_fen"] is None)
    ):
        problems.append(("refund_percent", "部分退款请填写退款比例或退款金额（二选一）"))
    template = None
    template_id = spec.get("coupon_template_id")
    if action == AfterSalesAction.COUPON:
        if isinstance(template_id, bool) or not isinstance(template_id, int):
            problems.append(("coupon_template_id", "请选择补偿券"))
        else:
            template = CouponTemplate.objects.filter(pk=template_id).first()
            if template is None:
                problems.append(("coupon_template_id", "补偿券不存在"))
    if problems:
        raise AfterSalesRuleInvalid.for_fields(problems)
    return {
        "name": str(name).strip(),
        "trigger": trigger,
        "action": action,
        "reasons": reasons,
        "member_levels": levels,
        "coupon_template": template,
        **flags,
        **ints,
    }


@transaction.atomic
def aftersales_rule_create(*, spec: Mapping[str, Any], actor: Actor) -> AfterSalesRule:
    fields = rule_clean(spec)
    now = clock.now()
    rule = AfterSalesRule.objects.create(**fields, created_at=now, updated_at=now)
    audit_record(
        actor=actor, action="fulfillment.aftersales_rule_create", target=rule, after=_audit(rule)
    )
    return rule


@transaction.atomic
def aftersales_rule_update(
    *, rule_id: int, spec: Mapping[str, Any], actor: Actor
) -> AfterSalesRule:
    """Replace a rule's settings whole; decisions already taken keep pointing at it."""
    rule = AfterSalesRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise AfterSalesRuleNotFound(detail={"rule_id": rule_id})
    before = _audit(rule)
    for field, value in rule_clean(spec).items():
        setattr(rule, field, value)
    rule.updated_at = clock.now()
    rule.save()
    audit_record(
        actor=actor,
        action="fulfillment.aftersales_rule_update",
        target=rule,
        before=before,
        after=_audit(rule),
    )
    return rule


@transaction.atomic
def aftersales_rule_delete(*, rule_id: int, actor: Actor) -> None:
    """Remove a rule; its past decisions stay (their rule shows as removed)."""
    rule = AfterSalesRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise AfterSalesRuleNotFound(detail={"rule_id": rule_id})
    audit_record(
        actor=actor, action="fulfillment.aftersales_rule_delete", target=rule, before=_audit(rule)
    )
    rule.delete()


def _audit(rule: AfterSalesRule) -> dict[str, Any]:
    return {
        field: getattr(rule, field)
        for field in FIELDS
        if field != "coupon_template_id" and hasattr(rule, field)
    } | {"coupon_template_id": rule.coupon_template_id}


def rule_matches(rule: AfterSalesRule, facts: Mapping[str, Any]) -> bool:
    """Whether the rule's WHEN and IF hold for a claim's facts (see `Claim.facts`)."""
    if rule.trigger != facts["trigger"]:
        return False
    if rule.trigger == AfterSalesTrigger.COMPLAINT:
        if rule.reasons and facts.get("reason") not in rule.reasons:
            return False
        if rule.requires_photo and not facts.get("has_photo"):
            return False
    if facts.get("late_hours", 0) < rule.min_late_hours:
        return False
    if facts.get("excursion_minutes", 0) < rule.min_excursion_minutes:
        return False
    amount = facts["amount_fen"]
    if rule.amount_min_fen is not None and amount < rule.amount_min_fen:
        return False
    if rule.amount_max_fen is not None and amount > rule.amount_max_fen:
        return False
    if rule.member_levels and facts.get("member_level") not in rule.member_levels:
        return False
    window = str(rule.claims_window_days)
    recent = facts.get("recent_claims", {}).get(window, 0)
    return not (rule.max_recent_claims is not None and recent > rule.max_recent_claims)


def rule_first_match(facts: Mapping[str, Any]) -> AfterSalesRule | None:
    """The first active rule, by priority then age, that matches the facts."""
    rules = AfterSalesRule.objects.filter(is_active=True, trigger=facts["trigger"]).select_related(
        "coupon_template"
    )
    for rule in rules.order_by("priority", "id"):
        if rule_matches(rule, facts):
            return rule
    return None


def rule_windows() -> list[int]:
    """The claim-history windows the active rules look at (facts count claims for each)."""
    return sorted(
        set(
            AfterSalesRule.objects.filter(is_active=True).values_list(
                "claims_window_days", flat=True
            )
        )
    )
