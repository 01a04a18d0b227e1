"""Reads of the operator console /console/groupbuy/: the figures behind its tables and charts.
Sums are in fen; days are Shanghai days. Every read is bounded (a window or a page)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum

from freshloop.core import clock
from freshloop.groupbuy.commission.models import LeaderOrder
from freshloop.groupbuy.deals.models import (
    DealGroup,
    GroupDeal,
    GroupMember,
    GroupStatus,
    RefundKind,
)
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.presale.models import Presale, PresalePurchase, PurchaseStatus

GMV_DAYS = 30
TOP_ROWS = 15


def _since(days: int) -> dt.datetime:
    return clock.now() - dt.timedelta(days=days)


def gmv_by_leader(*, days: int = GMV_DAYS, limit: int = TOP_ROWS) -> list[dict[str, object]]:
    """Net GMV (paid minus refunded, shipping excluded) of attributed orders paid in the last
    `days`, per leader, biggest first."""
    rows = (
        LeaderOrder.objects.filter(paid_at__gte=_since(days))
        .values("leader__leader_no", "leader__display_name")
        .annotate(gmv=Sum(F("gmv_fen") - F("gmv_refunded_fen")), orders=Count("pk"))
        .order_by("-gmv", "leader__leader_no")[:limit]
    )
    return [
        {
            "leader_no": row["leader__leader_no"],
            "name": row["leader__display_name"],
            "gmv_fen": int(row["gmv"] or 0),
            "orders": row["orders"],
        }
        for row in rows
    ]


def gmv_by_pickup_point(*, days: int = GMV_DAYS, limit: int = TOP_ROWS) -> list[dict[str, object]]:
    """The same net GMV per pickup point (the point's name as it was when the order was
    attributed: a renamed point shows under both names)."""
    rows = (
        LeaderOrder.objects.filter(paid_at__gte=_since(days))
        .values("pickup_name")
        .annotate(gmv=Sum(F("gmv_fen") - F("gmv_refunded_fen")), orders=Count("pk"))
        .order_by("-gmv", "pickup_name")[:limit]
    )
    return [
        {
            "pickup_name": row["pickup_name"],
            "gmv_fen": int(row["gmv"] or 0),
            "orders": row["orders"],
        }
        for row in rows
    ]


def gmv_total(*, days: int = GMV_DAYS) -> int:
    """Net GMV of every attributed order paid in the last `days`."""
    found = LeaderOrder.objects.filter(paid_at__gte=_since(days)).aggregate(
        gmv=Sum(F("gmv_fen") - F("gmv_refunded_fen"))
    )
    return int(found["gmv"] or 0)


def leader_gmv(*, leader_ids: list[int], days: int = GMV_DAYS) -> dict[int, int]:
    rows = (
        LeaderOrder.objects.filter(leader_id__in=leader_ids, paid_at__gte=_since(days))
        .values("leader_id")
        .annotate(gmv=Sum(F("gmv_fen") - F("gmv_refunded_fen")))
    )
    return {row["leader_id"]: int(row["gmv"] or 0) for row in rows}


def leader_customer_counts(*, leader_ids: list[int]) -> dict[int, int]:
    rows = (
        GroupLeader.objects.filter(pk__in=leader_ids)
        .annotate(n=Count("customers"))
        .values_list("pk", "n")
    )
    return dict(rows)


@dataclass(frozen=True)
class GroupDay:
    day: str
    succeeded: int
    failed: int


def groups_by_day(*, deal: GroupDeal | None = None, days: int = GMV_DAYS) -> list[GroupDay]:
    """Groups closed per Shanghai day over the last `days` (every day present, zeros too):
    formed (succeeded) and failed. A group nobody paid for is not a failure anyone saw."""
    groups = DealGroup.objects.filter(
        closed_at__gte=_since(days), status__in=[GroupStatus.SUCCEEDED, GroupStatus.FAILED]
    ).exclude(status=GroupStatus.FAILED, seats=0)
    if deal is not None:
        groups = groups.filter(deal=deal)
    counts: dict[dt.date, dict[str, int]] = defaultdict(lambda: {"succeeded": 0, "failed": 0})
    for status, closed_at in groups.values_list("status", "closed_at"):
        if closed_at is not None:  # the filter guarantees it; the type does not
            counts[clock.to_shanghai(closed_at).date()][status] += 1
    today = clock.to_shanghai(clock.now()).date()
    first = today - dt.timedelta(days=days - 1)
    return [
        GroupDay(
            day=(first + dt.timedelta(days=n)).isoformat(),
            succeeded=counts[first + dt.timedelta(days=n)]["succeeded"],
            failed=counts[first + dt.timedelta(days=n)]["failed"],
        )
        for n in range(days)
    ]


@dataclass(frozen=True)
class PresaleFigures:
    deposits_paid: int
    deposits_fen: int
    balances_paid: int
    balances_fen: int
    forfeited: int
    forfeited_fen: int
    refunded: int
    refunded_fen: int


_DEPOSIT = F("deposit_unit_fen") * F("quantity")
_BALANCE = F("balance_unit_fen") * F("quantity")


def presale_figures(*, presale_ids: list[int]) -> dict[int, PresaleFigures]:
    """Per presale: purchases whose deposit was paid (and their deposits), whose balance was
    paid, whose deposit was forfeited, and whose deposit was refunded."""
    rows = (
        PresalePurchase.objects.filter(presale_id__in=presale_ids)
        .values("presale_id")
        .annotate(
            deposits_paid=Count("pk", filter=Q(deposit_paid_at__isnull=False)),
            deposits_fen=Sum(_DEPOSIT, filter=Q(deposit_paid_at__isnull=False)),
            balances_paid=Count("pk", filter=Q(balance_paid_at__isnull=False)),
            balances_fen=Sum(_BALANCE, filter=Q(balance_paid_at__isnull=False)),
            forfeited=Count("pk", filter=Q(status=PurchaseStatus.FORFEITED)),
            forfeited_fen=Sum(_DEPOSIT, filter=Q(status=PurchaseStatus.FORFEITED)),
            refunded=Count("pk", filter=Q(status=PurchaseStatus.REFUNDED)),
            refunded_fen=Sum(_DEPOSIT, filter=Q(status=PurchaseStatus.REFUNDED)),
        )
    )
    found = {
        row["presale_id"]: PresaleFigures(
            **{key: int(row[key] or 0) for key in PresaleFigures.__dataclass_fields__}
        )
        for row in rows
    }
    empty = PresaleFigures(0, 0, 0, 0, 0, 0, 0, 0)
    return {pk: found.get(pk, empty) for pk in presale_ids}


def presale_totals(*, days: int = GMV_DAYS) -> PresaleFigures:
    """The overview's presale money: purchases of presales created in the last `days`."""
    ids = list(Presale.objects.filter(created_at__gte=_since(days)).values_list("pk", flat=True))
    figures = presale_figures(presale_ids=ids).values()
    return PresaleFigures(
        **{
            key: sum(getattr(one, key) for one in figures)
            for key in PresaleFigures.__dataclass_fields__
        }
    )


def deal_refund_totals(*, days: int = GMV_DAYS) -> dict[str, int]:
    """Refunds of group deals whose groups closed in the last `days`: tier differences and
    failed groups, in count and fen."""
    found = GroupMember.objects.filter(
        group__closed_at__gte=_since(days),
        refund_kind__in=[RefundKind.DIFFERENCE, RefundKind.FAILED],
    ).aggregate(
        difference=Count("pk", filter=Q(refund_kind=RefundKind.DIFFERENCE)),
        difference_fen=Sum("refund_fen", filter=Q(refund_kind=RefundKind.DIFFERENCE)),
        failed=Count("pk", filter=Q(refund_kind=RefundKind.FAILED)),
        failed_fen=Sum("refund_fen", filter=Q(refund_kind=RefundKind.FAILED)),
    )
    return {key: int(value or 0) for key, value in found.items()}
