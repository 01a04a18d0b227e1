"""Row locks of commission (GB-2). Order across tables: leader order, then its accruals (in
primary-key order); settlement runs before their statements."""

from __future__ import annotations

from freshloop.groupbuy.commission.models import (
    CommissionAccrual,
    CommissionRule,
    LeaderOrder,
    SettlementRun,
    SettlementStatement,
)
from freshloop.groupbuy.models import GroupLeader


def leader_order_lock_of_order(order_id: int) -> LeaderOrder | None:
    """The attribution of one order: its refunds and its pickup change it one at a time."""
    return LeaderOrder.objects.select_for_update().filter(order_id=order_id).first()


def leader_order_lock_by_code(leader: GroupLeader, pickup_code: str) -> LeaderOrder | None:
    """The leader's own order with this pickup code (another leader's code finds nothing)."""
    return (
        LeaderOrder.objects.select_for_update()
        .filter(leader=leader, pickup_code=pickup_code)
        .first()
    )


def accruals_lock(accrual_ids: list[int]) -> list[CommissionAccrual]:
    """Accruals in primary-key order: a refund and the maturing job take them in turn."""
    return list(
        CommissionAccrual.objects.select_for_update().filter(pk__in=accrual_ids).order_by("pk")
    )


def rule_lock(rule_id: int) -> CommissionRule | None:
    return CommissionRule.objects.select_for_update().filter(pk=rule_id).first()


def settlement_run_lock(run_no: str) -> SettlementRun | None:
    return SettlementRun.objects.select_for_update().filter(run_no=run_no).first()


def statement_lock(statement_no: str) -> SettlementStatement | None:
    return SettlementStatement.objects.select_for_update().filter(statement_no=statement_no).first()
