"""Commission on an attributed order (GB-2): accrued when paid, matured after the after-sales
window, reversed pro rata on refunds.

Rules chosen (docs/groupbuy-commission.md)
- The base is the order's GMV (paid minus shipping), spread over its lines in proportion to
  their totals (`core.money.allocate`, so the parts sum exactly to the GMV); each line's rate
  comes from `rules.rule_for_line` for the depth and the beneficiary's level; each line's
  commission is rounded half up to the fen; a rule's `cap_fen` caps what that rule yields on
  the order.
- Depth 1 is the order's leader, depth 2 their recruiter … up to the configured depth. A
  beneficiary who is not active (suspended, erased) gets nothing at their depth and nothing
  rolls up to the next one.
- Maturing: GROUPBUY_COMMISSION_MATURE_DAYS (default 7) after payment, by the periodic job;
  an order with a refund request open waits until it is decided.
- A refund keeps (paid − refunded so far) / paid of each accrual, rounded half up; a full
  refund keeps nothing. What is taken back comes off `leader_pending` before maturing and off
  `leader_settleable` after (below zero when the money was paid out already: a receivable the
  next statement nets off).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from freshloop.catalog.models import Category
from freshloop.core import clock
from freshloop.core.money import allocate, multiply_fen
from freshloop.groupbuy.commission.ledger import ledger_post, movement
from freshloop.groupbuy.commission.locks import accruals_lock
from freshloop.groupbuy.commission.models import (
    CommissionAccrual,
    CommissionRule,
    LeaderOrder,
    LedgerAccount,
    LedgerKind,
)
from freshloop.groupbuy.commission.rules import (
    category_chain,
    commission_max_depth,
    rule_for_line,
    rules_valid_at,
)
from freshloop.groupbuy.models import GroupLeader, LeaderStatus
from freshloop.orders.models import OrderLine, OrderStatus

DEFAULT_MATURE_DAYS = 7
BASIS_POINTS = Decimal(10_000)


def mature_delay() -> dt.timedelta:
    return dt.timedelta(
        days=int(getattr(settings, "GROUPBUY_COMMISSION_MATURE_DAYS", DEFAULT_MATURE_DAYS))
    )


@dataclass(frozen=True)
class LineBase:
    line_id: int
    sku_id: int
    product_id: int
    category_id: int
    base_fen: int


def order_line_bases(order_id: int, gmv_fen: int) -> list[LineBase]:
    """The GMV spread over the order's lines by their totals (parts sum to the GMV)."""
    lines = list(OrderLine.objects.filter(order_id=order_id).select_related("sku__product"))
    lines.sort(key=lambda line: line.pk)
    weights = [line.total_fen for line in lines]
    if gmv_fen <= 0 or not lines or sum(weights) == 0:
        return []
    shares = allocate(gmv_fen, weights)
    return [
        LineBase(
            line_id=line.pk,
            sku_id=line.sku_id,
            product_id=line.sku.product_id,
            category_id=line.sku.product.category_id,
            base_fen=share,
        )
        for line, share in zip(lines, shares, strict=True)
    ]


def beneficiaries(leader: GroupLeader, max_depth: int) -> list[tuple[int, GroupLeader]]:
    """(depth, leader) up the recruiting chain; inactive leaders are skipped, not rolled up."""
    found: list[tuple[int, GroupLeader]] = []
    seen: set[int] = set()
    current: GroupLeader | None = leader
    depth = 1
    while current is not None and depth <= max_depth and current.pk not in seen:
        seen.add(current.pk)
        if current.status == LeaderStatus.ACTIVE:
            found.append((depth, current))
        recruiter_id = current.recruiter_id
        current = GroupLeader.objects.filter(pk=recruiter_id).first() if recruiter_id else None
        depth += 1
    return found


def commission_breakdown(
    *,
    bases: list[LineBase],
    rules: list[CommissionRule],
    depth: int,
    level_id: int,
    parents: dict[int, int | None],
) -> tuple[int, dict[str, Any]]:
    """(total fen, breakdown) of one beneficiary's commission at one depth."""
    lines: list[dict[str, Any]] = []
    by_rule: dict[int, int] = defaultdict(int)
    caps: dict[int, int | None] = {}
    for base in bases:
        rule = rule_for_line(
            rules,
            depth=depth,
            level_id=level_id,
            product_id=base.product_id,
            categories=category_chain(base.category_id, parents),
        )
        amount = 0 if rule is None else multiply_fen(base.base_fen, rule.rate_bp / BASIS_POINTS)
        lines.append(
            {
                "line_id": base.line_id,
                "sku_id": base.sku_id,
                "base_fen": base.base_fen,
                "rule_id": rule.pk if rule else None,
                "rate_bp": rule.rate_bp if rule else 0,
                "amount_fen": amount,
            }
        )
        if rule is not None:
            by_rule[rule.pk] += amount
            caps[rule.pk] = rule.cap_fen
    capped = []
    total = 0
    for rule_id, amount in by_rule.items():
        cap = caps[rule_id]
        if cap is not None and amount > cap:
            capped.append({"rule_id": rule_id, "uncapped_fen": amount, "cap_fen": cap})
            amount = cap
        total += amount
    return total, {"lines": lines, "caps": capped}


def commission_accrue(*, leader_order: LeaderOrder) -> list[CommissionAccrual]:
    """Accrue every depth's commission on a newly attributed order (caller's transaction)."""
    bases = order_line_bases(leader_order.order_id, leader_order.gmv_fen)
    if not bases:
        return []
    rules = rules_valid_at(leader_order.paid_at)
    parents: dict[int, int | None] = dict(Category.objects.values_list("pk", "parent_id"))
    accruals = []
    for depth, beneficiary in beneficiaries(leader_order.leader, commission_max_depth()):
        total, breakdown = commission_breakdown(
            bases=bases, rules=rules, depth=depth, level_id=beneficiary.level_id, parents=parents
        )
        if total <= 0:
            continue
        accrual = CommissionAccrual.objects.create(
            leader_order=leader_order,
            beneficiary=beneficiary,
            depth=depth,
            base_fen=leader_order.gmv_fen,
            amount_fen=total,
            breakdown=breakdown,
            matures_at=leader_order.paid_at + mature_delay(),
            created_at=clock.now(),
        )
        ledger_post(
            ref=f"accrue:{accrual.pk}",
            kind=LedgerKind.ACCRUE,
            leader_id=beneficiary.pk,
            legs=movement(LedgerAccount.COMMISSION_EXPENSE, LedgerAccount.LEADER_PENDING, total),
            accrual_id=accrual.pk,
            order_no=leader_order.order_no,
            memo=f"订单 {leader_order.order_no} 第 {depth} 级佣金",
        )
        accruals.append(accrual)
    return accruals


def commission_reverse(
    *, leader_order: LeaderOrder, refund_no: str, refunded_total_fen: int, fully: bool
) -> int:
    """Take back the refunded share of each accrual of the order (caller's transaction, the
    leader order locked); returns the fen reversed. Idempotent per refund number."""
    ids = list(leader_order.accruals.order_by("pk").values_list("pk", flat=True))
    paid = leader_order.paid_fen
    reversed_total = 0
    for accrual in accruals_lock(ids):
        kept_share = Decimal(max(paid - refunded_total_fen, 0)) / Decimal(paid) if paid else 0
        keep = 0 if fully else multiply_fen(accrual.amount_fen, kept_share)
        take = accrual.amount_fen - accrual.reversed_fen - keep
        if take <= 0:
            continue
        source = (
            LedgerAccount.LEADER_SETTLEABLE if accrual.matured_at else LedgerAccount.LEADER_PENDING
        )
        posted = ledger_post(
            ref=f"reverse:{refund_no}:{accrual.pk}",
            kind=LedgerKind.REVERSE,
            leader_id=accrual.beneficiary_id,
            legs=movement(source, LedgerAccount.COMMISSION_EXPENSE, take),
            accrual_id=accrual.pk,
            order_no=leader_order.order_no,
            memo=f"订单 {leader_order.order_no} 退款 {refund_no} 冲回第 {accrual.depth} 级佣金",
        )
        if posted is not None:
            accrual.reversed_fen += take
            accrual.save(update_fields=["reversed_fen"])
            reversed_total += take
    return reversed_total


def accruals_mature(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Move what is left of each accrual whose after-sales window is over from pending to
    settleable (the periodic job). Orders with an open refund request wait. One transaction
    per accrual; a repeat finds nothing to do. Returns how many matured."""
    moment = now or clock.now()
    due = list(
        CommissionAccrual.objects.filter(matured_at__isnull=True, matures_at__lte=moment)
        .exclude(leader_order__order__status=OrderStatus.REFUND_REQUESTED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for accrual_id in due:
        with transaction.atomic():
            locked = accruals_lock([accrual_id])
            if not locked or locked[0].matured_at is not None:
                continue
            accrual = locked[0]
            net = accrual.amount_fen - accrual.reversed_fen
            if net > 0:
                ledger_post(
                    ref=f"mature:{accrual.pk}",
                    kind=LedgerKind.MATURE,
                    leader_id=accrual.beneficiary_id,
                    legs=movement(
                        LedgerAccount.LEADER_PENDING, LedgerAccount.LEADER_SETTLEABLE, net
                    ),
                    accrual_id=accrual.pk,
                    order_no=accrual.leader_order.order_no,
                    memo=f"售后期满，第 {accrual.depth} 级佣金转为可结算",
                )
            accrual.matured_at = moment
            accrual.save(update_fields=["matured_at"])
            done += 1
    return done
