"""The reads of commission, attribution and pickup (GB-2).

A leader sees only their own orders and money: every leader-facing read takes the `leader`
(as found for the signed-in person) and filters by it; a statement number or a pickup code
from the request is only ever looked up within that leader's rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q, Sum

from freshloop.core import clock
from freshloop.groupbuy.commission.errors import (
    SettlementRunNotFound,
    StatementNotFound,
)
from freshloop.groupbuy.commission.models import (
    CommissionRule,
    LeaderOrder,
    LedgerAccount,
    LedgerKind,
    LedgerLeg,
    LedgerTransaction,
    PickupStatus,
    SettlementRun,
    SettlementStatement,
)
from freshloop.groupbuy.models import GroupLeader
from freshloop.identity.models import Identifier, IdentifierType
from freshloop.identity.selectors import identifier_mask
from freshloop.orders.models import OrderLine

MAX_PAGE = 100
MAX_SUMMARY_DAYS = 366
LEADER_ACCOUNTS = (
    LedgerAccount.LEADER_PENDING,
    LedgerAccount.LEADER_SETTLEABLE,
    LedgerAccount.LEADER_PAYABLE,
)


def _page(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def _day_end(day: dt.date) -> dt.datetime:
    following = day + dt.timedelta(days=1)
    return dt.datetime.combine(following, dt.time(0), tzinfo=clock.SHANGHAI).astimezone(dt.UTC)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=clock.SHANGHAI).astimezone(dt.UTC)


# --- orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderOrderRow:
    order_no: str
    buyer_name: str
    buyer_phone_masked: str
    paid_at: dt.datetime
    gmv_fen: int
    refunded_fen: int
    pickup_code: str
    pickup_status: str
    picked_up_at: dt.datetime | None
    items: list[dict[str, object]] = field(default_factory=list)


def _rows(orders: list[LeaderOrder]) -> list[LeaderOrderRow]:
    person_ids = [order.person_id for order in orders]
    phones: dict[int, str] = {}
    for identifier in Identifier.objects.filter(
        person_id__in=person_ids, type=IdentifierType.PHONE
    ).order_by("pk"):
        phones.setdefault(identifier.person_id, identifier_mask(identifier))
    items: dict[int, list[dict[str, object]]] = defaultdict(list)
    for line in OrderLine.objects.filter(order_id__in=[o.order_id for o in orders]).order_by("pk"):
        items[line.order_id].append(
            {"product_name": line.product_name, "spec": line.spec, "quantity": line.quantity}
        )
    return [
        LeaderOrderRow(
            order_no=order.order_no,
            buyer_name=order.person.display_name,
            buyer_phone_masked=phones.get(order.person_id, ""),
            paid_at=order.paid_at,
            gmv_fen=order.gmv_fen,
            refunded_fen=order.refunded_fen,
            pickup_code=order.pickup_code,
            pickup_status=order.pickup_status,
            picked_up_at=order.picked_up_at,
            items=items[order.order_id],
        )
        for order in orders
    ]


def leader_orders_to_hand_out(*, leader: GroupLeader, day: dt.date) -> list[LeaderOrderRow]:
    """The leader's orders waiting at the pickup point on `day` (Shanghai): paid by the end
    of that day, not yet picked up, not refunded; oldest first."""
    orders = (
        LeaderOrder.objects.filter(
            leader=leader, pickup_status=PickupStatus.AWAITING, paid_at__lt=_day_end(day)
        )
        .select_related("person")
        .order_by("paid_at", "pk")[:500]
    )
    return _rows(list(orders))


def leader_orders(
    *,
    leader: GroupLeader,
    pickup_status: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[int, list[LeaderOrderRow]]:
    """(total, one page) of the leader's attributed orders, newest first."""
    orders = LeaderOrder.objects.filter(leader=leader)
    if pickup_status:
        orders = orders.filter(pickup_status=pickup_status)
    page = list(
        orders.select_related("person").order_by("-paid_at", "-pk")[offset : offset + _page(limit)]
    )
    return orders.count(), _rows(page)


@dataclass(frozen=True)
class DaySales:
    day: dt.date
    gmv_fen: int
    refunded_fen: int
    orders: int
    customers: int


def leader_sales_summary(*, leader: GroupLeader, since: dt.date, until: dt.date) -> list[DaySales]:
    """One row per Shanghai day from `since` to `until` (inclusive, at most a year, days
    without sales included as zeros): attributed GMV, its refunded share, orders, buyers."""
    until = min(until, since + dt.timedelta(days=MAX_SUMMARY_DAYS - 1))
    days: dict[dt.date, list[int]] = {}
    buyers: dict[dt.date, set[int]] = defaultdict(set)
    day = since
    while day <= until:
        days[day] = [0, 0, 0]
        day += dt.timedelta(days=1)
    rows = LeaderOrder.objects.filter(
        leader=leader, paid_at__gte=_day_start(since), paid_at__lt=_day_end(until)
    ).values_list("paid_at", "gmv_fen", "gmv_refunded_fen", "person_id")
    for paid_at, gmv, refunded, person_id in rows:
        local = clock.to_shanghai(paid_at).date()
        if local in days:
            days[local][0] += gmv
            days[local][1] += refunded
            days[local][2] += 1
            buyers[local].add(person_id)
    return [
        DaySales(day=d, gmv_fen=v[0], refunded_fen=v[1], orders=v[2], customers=len(buyers[d]))
        for d, v in days.items()
    ]


# --- money ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommissionBalances:
    pending_fen: int
    settleable_fen: int
    payable_fen: int
    paid_fen: int


def leader_commission_balances(*, leader: GroupLeader) -> CommissionBalances:
    """The leader's balances: sums of their legs (settleable below zero is a receivable)."""
    sums = dict(
        LedgerLeg.objects.filter(leader=leader)
        .values("account")
        .annotate(total=Sum("amount_fen"))
        .values_list("account", "total")
    )
    return CommissionBalances(
        pending_fen=int(sums.get(LedgerAccount.LEADER_PENDING) or 0),
        settleable_fen=int(sums.get(LedgerAccount.LEADER_SETTLEABLE) or 0),
        payable_fen=int(sums.get(LedgerAccount.LEADER_PAYABLE) or 0),
        paid_fen=int(sums.get(LedgerAccount.CASH) or 0),
    )


@dataclass(frozen=True)
class CommissionEntry:
    occurred_at: dt.datetime
    kind: str
    kind_label: str
    order_no: str
    memo: str
    pending_fen: int
    settleable_fen: int
    payable_fen: int
    paid_fen: int


def leader_commission_entries(
    *, leader: GroupLeader, limit: int = 20, offset: int = 0
) -> tuple[int, list[CommissionEntry]]:
    """(total, one page) of the leader's ledger movements, newest first, each as its change
    to pending / settleable / payable / paid out."""
    transactions = LedgerTransaction.objects.filter(leader=leader)
    page = list(
        transactions.order_by("-occurred_at", "-pk").prefetch_related("legs")[
            offset : offset + _page(limit)
        ]
    )
    entries = []
    for posted in page:
        by_account: dict[str, int] = defaultdict(int)
        for leg in posted.legs.all():
            by_account[leg.account] += leg.amount_fen
        entries.append(
            CommissionEntry(
                occurred_at=posted.occurred_at,
                kind=posted.kind,
                kind_label=posted.get_kind_display(),
                order_no=posted.order_no,
                memo=posted.memo,
                pending_fen=by_account[LedgerAccount.LEADER_PENDING],
                settleable_fen=by_account[LedgerAccount.LEADER_SETTLEABLE],
                payable_fen=by_account[LedgerAccount.LEADER_PAYABLE],
                paid_fen=by_account[LedgerAccount.CASH],
            )
        )
    return transactions.count(), entries


# --- statements -----------------------------------------------------------------------------


def leader_statements(
    *, leader: GroupLeader, limit: int = 20, offset: int = 0
) -> tuple[int, list[SettlementStatement]]:
    """(total, one page) of the leader's statements in runs that were not cancelled."""
    statements = (
        SettlementStatement.objects.filter(leader=leader)
        .exclude(status="cancelled")
        .select_related("run")
    )
    page = list(statements.order_by("-pk")[offset : offset + _page(limit)])
    return statements.count(), page


def leader_statement(*, leader: GroupLeader, statement_no: str) -> SettlementStatement:
    """One of the leader's own statements; anyone else's number is a 404 like an unknown one."""
    statement = (
        SettlementStatement.objects.filter(leader=leader, statement_no=statement_no)
        .exclude(status="cancelled")
        .select_related("run", "leader")
        .first()
    )
    if statement is None:
        raise StatementNotFound(detail={"statement_no": statement_no[:64]})
    return statement


def statement_get(*, statement_no: str) -> SettlementStatement:
    """A statement for operators."""
    statement = (
        SettlementStatement.objects.filter(statement_no=statement_no)
        .select_related("run", "leader")
        .first()
    )
    if statement is None:
        raise StatementNotFound(detail={"statement_no": statement_no[:64]})
    return statement


@dataclass(frozen=True)
class StatementLine:
    occurred_at: dt.datetime
    kind: str
    kind_label: str
    order_no: str
    memo: str
    amount_fen: int


def statement_lines(*, statement: SettlementStatement) -> list[StatementLine]:
    """The settleable movements of the statement's period (matured, reversed), oldest first."""
    legs = LedgerLeg.objects.filter(
        leader_id=statement.leader_id,
        account=LedgerAccount.LEADER_SETTLEABLE,
        occurred_at__lt=statement.run.period_end,
    ).exclude(kind=LedgerKind.SETTLE)
    if statement.run.period_start is not None:
        legs = legs.filter(occurred_at__gte=statement.run.period_start)
    return [
        StatementLine(
            occurred_at=leg.occurred_at,
            kind=leg.kind,
            kind_label=leg.get_kind_display(),
            order_no=leg.transaction.order_no,
            memo=leg.transaction.memo,
            amount_fen=leg.amount_fen,
        )
        for leg in legs.select_related("transaction").order_by("occurred_at", "pk")
    ]


def settlement_runs_list(*, limit: int = 20, offset: int = 0) -> tuple[int, list[SettlementRun]]:
    runs = SettlementRun.objects.all()
    return runs.count(), list(runs.order_by("-pk")[offset : offset + _page(limit)])


def settlement_run_get(*, run_no: str) -> SettlementRun:
    run = SettlementRun.objects.filter(run_no=run_no).first()
    if run is None:
        raise SettlementRunNotFound(detail={"run_no": run_no[:64]})
    return run


def run_statements(*, run: SettlementRun) -> list[SettlementStatement]:
    return list(run.statements.select_related("leader").order_by("pk"))


def commission_rules_list(
    *, in_force_at: dt.datetime | None = None, limit: int = 50, offset: int = 0
) -> tuple[int, list[CommissionRule]]:
    """(total, one page) of rules, optionally only those in force at a moment."""
    rules = CommissionRule.objects.select_related("level", "product", "category")
    if in_force_at is not None:
        rules = rules.filter(valid_from__lte=in_force_at).filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=in_force_at)
        )
    page = list(rules.order_by("depth", "-valid_from", "-pk")[offset : offset + _page(limit)])
    return rules.count(), page


def ledger_account_balances() -> dict[tuple[int, str], int]:
    """Every (leader id, account) balance: the sum of its legs (reports and the invariant)."""
    return {
        (leader_id, account): int(total)
        for leader_id, account, total in LedgerLeg.objects.values("leader_id", "account")
        .annotate(total=Sum("amount_fen"))
        .values_list("leader_id", "account", "total")
    }


# --- the buyer's side (leader console, GB-1) ------------------------------------------------


@dataclass(frozen=True)
class BuyerPickup:
    leader_display_name: str
    pickup_name: str
    pickup_address: dict[str, str]
    pickup_hours: str
    pickup_code: str
    pickup_status: str
    pickup_status_label: str
    picked_up_at: dt.datetime | None


def order_pickup_for_buyer(*, person_id: int, order_no: str) -> BuyerPickup | None:
    """Where and with which code the buyer collects their own attributed order; None when
    the order is not attributed or not theirs (the code is only ever shown to its buyer)."""
    row = (
        LeaderOrder.objects.filter(person_id=person_id, order_no=order_no)
        .select_related("leader")
        .first()
    )
    if row is None:
        return None
    return BuyerPickup(
        leader_display_name=row.leader.display_name,
        pickup_name=row.pickup_name,
        pickup_address=dict(row.pickup_address or {}),
        pickup_hours=row.pickup_hours,
        pickup_code=row.pickup_code,
        pickup_status=row.pickup_status,
        pickup_status_label=row.get_pickup_status_display(),
        picked_up_at=row.picked_up_at,
    )
