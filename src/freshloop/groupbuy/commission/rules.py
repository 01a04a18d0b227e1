"""Commission rules (GB-2): operators write them; orders resolve a rate per line and depth.

Resolution, for one order line, one depth and the beneficiary's level, among the rules valid
at the order's payment (valid_from <= paid_at < valid_until):
1. scope: a rule for the line's product beats one for its category, which beats one for a
   parent category (nearest first), which beats the default (no product, no category);
2. within a scope, a rule for the beneficiary's level beats one for every level;
3. then the latest `valid_from`, then the newest rule.
No matching rule means no commission on that line at that depth.

Depth: 1 is the order's leader, 2 their recruiter … up to GROUPBUY_COMMISSION_MAX_DEPTH
(default 2), never above HARD_MAX_DEPTH (3) — the anti-pyramid-selling note in
docs/groupbuy-commission.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from freshloop.catalog.models import Category, Product
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.groupbuy.commission.errors import CommissionInputInvalid, CommissionRuleNotFound
from freshloop.groupbuy.commission.locks import rule_lock
from freshloop.groupbuy.commission.models import HARD_MAX_DEPTH, CommissionRule
from freshloop.groupbuy.models import LeaderLevel

DEFAULT_MAX_DEPTH = 2
MAX_RATE_BP = 5_000
"""No rule pays more than half of a line's sales (a typo guard: 3000 meant 30 %, not 300 %)."""


def commission_max_depth() -> int:
    """The configured depth, clamped to 1…HARD_MAX_DEPTH."""
    configured = int(getattr(settings, "GROUPBUY_COMMISSION_MAX_DEPTH", DEFAULT_MAX_DEPTH))
    return max(1, min(HARD_MAX_DEPTH, configured))


def _rule_problems(rule: CommissionRule) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    max_depth = commission_max_depth()
    if not 1 <= rule.depth <= max_depth:
        problems.append(("depth", f"层级应在 1 到 {max_depth} 之间"))
    if not 0 <= rule.rate_bp <= MAX_RATE_BP:
        problems.append(("rate_bp", f"佣金率应在 0 到 {MAX_RATE_BP} 基点之间"))
    if rule.product_id is not None and rule.category_id is not None:
        problems.append(("category_code", "商品与类目只能选一个"))
    if rule.cap_fen is not None and rule.cap_fen < 0:
        problems.append(("cap_fen", "每单上限不能为负数"))
    if rule.valid_until is not None and rule.valid_until <= rule.valid_from:
        problems.append(("valid_until", "失效时间应晚于生效时间"))
    return problems


def _rule_fields(rule: CommissionRule) -> dict[str, Any]:
    return {
        "depth": rule.depth,
        "level_id": rule.level_id,
        "product_id": rule.product_id,
        "category_id": rule.category_id,
        "rate_bp": rule.rate_bp,
        "cap_fen": rule.cap_fen,
        "valid_from": rule.valid_from,
        "valid_until": rule.valid_until,
        "note": rule.note,
    }


def commission_rule_save(*, actor: Actor, rule: CommissionRule) -> CommissionRule:
    """Create or edit a rule (API, back office), checked and audited. Commission already
    accrued keeps the rates it was computed with (each accrual stores its lines)."""
    problems = _rule_problems(rule)
    if problems:
        raise CommissionInputInvalid.for_fields(problems)
    now = clock.now()
    with transaction.atomic():
        stored = rule_lock(rule.pk) if rule.pk else None
        before = _rule_fields(stored) if stored else None
        if stored is None:
            rule.created_at = now
            rule.created_by = rule.created_by or actor.label[:150]
        rule.updated_at = now
        rule.save()
        audit_record(
            actor=actor,
            action="groupbuy.commission_rule.save",
            target=rule,
            before=before,
            after=_rule_fields(rule),
        )
    return rule


def commission_rule_create(
    *,
    actor: Actor,
    depth: int,
    rate_bp: int,
    level_code: str | None = None,
    product_code: str | None = None,
    category_code: str | None = None,
    cap_fen: int | None = None,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    note: str = "",
) -> CommissionRule:
    """A new rule (operators); codes name the level, product or category."""
    problems: list[tuple[str, str]] = []
    level = LeaderLevel.objects.filter(code=level_code).first() if level_code else None
    if level_code and level is None:
        problems.append(("level_code", "没有这个团长等级"))
    product = Product.objects.filter(code=product_code).first() if product_code else None
    if product_code and product is None:
        problems.append(("product_code", "没有这个商品"))
    category = Category.objects.filter(code=category_code).first() if category_code else None
    if category_code and category is None:
        problems.append(("category_code", "没有这个类目"))
    for moment, field in ((valid_from, "valid_from"), (valid_until, "valid_until")):
        if moment is not None and moment.tzinfo is None:
            problems.append((field, "时间须带时区"))
    if problems:
        raise CommissionInputInvalid.for_fields(problems)
    rule = CommissionRule(
        depth=depth,
        rate_bp=rate_bp,
        level=level,
        product=product,
        category=category,
        cap_fen=cap_fen,
        valid_from=valid_from or clock.now(),
        valid_until=valid_until,
        note=note[:200],
        created_by=actor.label[:150],
    )
    return commission_rule_save(actor=actor, rule=rule)


def commission_rule_end(*, actor: Actor, rule_id: int) -> CommissionRule:
    """Stop a rule from now on (a rule not yet in force never applies). Orders paid before
    keep their commission; ending an ended rule changes nothing."""
    now = clock.now()
    with transaction.atomic():
        rule = rule_lock(rule_id)
        if rule is None:
            raise CommissionRuleNotFound(detail={"rule_id": rule_id})
        if rule.valid_until is not None and rule.valid_until <= now:
            return rule
        before = {"valid_until": rule.valid_until}
        # A future rule ends where it starts: an empty period that matches no payment.
        rule.valid_until = max(now, rule.valid_from)
        rule.updated_at = now
        rule.save(update_fields=["valid_until", "updated_at"])
        audit_record(
            actor=actor,
            action="groupbuy.commission_rule.end",
            target=rule,
            before=before,
            after={"valid_until": rule.valid_until},
        )
    return rule


# --- resolution -----------------------------------------------------------------------------


def rules_valid_at(at: dt.datetime) -> list[CommissionRule]:
    """Every rule in force at `at` (the order's payment time)."""
    return list(
        CommissionRule.objects.filter(valid_from__lte=at)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .order_by("pk")
    )


def category_chain(category_id: int, parents: dict[int, int | None]) -> list[int]:
    """The category and its ancestors, nearest first (a cycle stops the walk)."""
    chain: list[int] = []
    current: int | None = category_id
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def rule_for_line(
    rules: Sequence[CommissionRule],
    *,
    depth: int,
    level_id: int,
    product_id: int,
    categories: Sequence[int],
) -> CommissionRule | None:
    """The most specific rule for one line at one depth (module docstring), or None."""
    best: CommissionRule | None = None
    best_key: tuple[Any, ...] | None = None
    for rule in rules:
        if rule.depth != depth or rule.level_id not in (None, level_id):
            continue
        if rule.product_id is not None:
            if rule.product_id != product_id:
                continue
            scope = 1_000
        elif rule.category_id is not None:
            if rule.category_id not in categories:
                continue
            scope = 500 - list(categories).index(rule.category_id)  # nearer category wins
        else:
            scope = 0
        key = (scope, rule.level_id is not None, rule.valid_from, rule.pk)
        if best_key is None or key > best_key:
            best, best_key = rule, key
    return best
