"""The supply-chain view of fulfillment in numbers: on-time rate by week, logistics cost per
order by warehouse, the allocation queue and the parcels that need someone — computed from
shipments and allocations, drawn by the console's charts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from freshloop.catalog.models import StorageCondition
from freshloop.core import clock
from freshloop.fulfillment.models import (
    Allocation,
    AllocationStatus,
    AutoDecision,
    Excursion,
    Shipment,
    ShipmentStatus,
)
from freshloop.fulfillment.telemetry import safe_band
from freshloop.fulfillment.tracking_selectors import shipment_readings_series, temperature_chart

# Parcels still on their way: a promise passed while in one of these is late right now.
UNDELIVERED = (
    ShipmentStatus.CREATED,
    ShipmentStatus.PICKED,
    ShipmentStatus.HANDED_OVER,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.OUT_FOR_DELIVERY,
)


def _today() -> dt.date:
    return clock.to_shanghai(clock.now()).date()


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class WeekOnTime:
    week: str  # the Monday, ISO
    delivered: int
    on_time: int

    @property
    def rate(self) -> float | None:
        return round(self.on_time / self.delivered, 4) if self.delivered else None


def on_time_by_week(*, weeks: int = 8, today: dt.date | None = None) -> list[WeekOnTime]:
    """Per week (Monday to Sunday, Shanghai days) of delivery, parcels delivered and how many of
    them by their promised date. Parcels without a promise count as on time (nothing was
    promised that they broke)."""
    today = today or _today()
    first = _week_start(today) - dt.timedelta(weeks=weeks - 1)
    since = dt.datetime.combine(first, dt.time.min, tzinfo=clock.SHANGHAI)
    counts: dict[dt.date, list[int]] = {
        first + dt.timedelta(weeks=index): [0, 0] for index in range(weeks)
    }
    for delivered_at, promised_on in Shipment.objects.filter(
        status=ShipmentStatus.DELIVERED, delivered_at__gte=since
    ).values_list("delivered_at", "promised_on"):
        if delivered_at is None:
            continue
        day = clock.to_shanghai(delivered_at).date()
        bucket = counts.get(_week_start(day))
        if bucket is None:
            continue
        bucket[0] += 1
        if promised_on is None or day <= promised_on:
            bucket[1] += 1
    return [
        WeekOnTime(week=week.isoformat(), delivered=total, on_time=kept)
        for week, (total, kept) in sorted(counts.items())
    ]


def cost_per_order_by_warehouse(
    *, days: int = 30, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """Per warehouse, over the last `days`: orders it shipped for, parcels, carrier cost, and
    cost per order (an order split over two warehouses counts once at each)."""
    today = today or _today()
    since = dt.datetime.combine(
        today - dt.timedelta(days=days - 1), dt.time.min, tzinfo=clock.SHANGHAI
    )
    rows = (
        Shipment.objects.filter(created_at__gte=since)
        .values("warehouse_id", "warehouse__name")
        .annotate(
            parcels=Count("pk"),
            orders=Count("order_id", distinct=True),
            cost=Sum("cost_fen"),
        )
        .order_by("warehouse_id")
    )
    return [
        {
            "warehouse": row["warehouse__name"],
            "parcels": row["parcels"],
            "orders": row["orders"],
            "cost_fen": row["cost"] or 0,
            "cost_per_order_fen": round((row["cost"] or 0) / row["orders"]) if row["orders"] else 0,
        }
        for row in rows
    ]


def allocation_counts() -> dict[str, int]:
    """How many allocations wait, failed, or were decided today."""
    today = _today()
    start = dt.datetime.combine(today, dt.time.min, tzinfo=clock.SHANGHAI)
    return Allocation.objects.aggregate(
        pending=Count("pk", filter=Q(status=AllocationStatus.PENDING)),
        failed=Count("pk", filter=Q(status=AllocationStatus.FAILED)),
        decided_today=Count(
            "pk", filter=Q(status=AllocationStatus.ALLOCATED, decided_at__gte=start)
        ),
    )


def shipments_needing_attention(*, today: dt.date | None = None) -> QuerySet[Shipment]:
    """Parcels someone should look at: in exception, or past their promise and not delivered —
    the most overdue first."""
    today = today or _today()
    return (
        Shipment.objects.filter(
            Q(status=ShipmentStatus.EXCEPTION) | Q(status__in=UNDELIVERED, promised_on__lt=today)
        )
        .select_related("order", "warehouse", "carrier")
        .order_by("promised_on", "pk")
    )


def allocation_queue(*, limit: int = 200) -> QuerySet[Allocation]:
    """Allocations not decided yet or refused by the solver, oldest first: the supply chain's
    queue (a failed one names its reason)."""
    return (
        Allocation.objects.filter(status__in=[AllocationStatus.PENDING, AllocationStatus.FAILED])
        .select_related("order")
        .order_by("created_at", "pk")[:limit]
    )


def shipment_list(*, status: str = "", limit: int = 200) -> QuerySet[Shipment]:
    """The newest parcels, optionally in one status."""
    found = Shipment.objects.select_related("order", "warehouse", "carrier")
    if status:
        found = found.filter(status=status)
    return found.order_by("-pk")[:limit]


# --- cold chain -------------------------------------------------------------------------------

COLD = (StorageCondition.CHILLED, StorageCondition.FROZEN)


@dataclass(frozen=True)
class WeekExcursions:
    week: str  # the Monday, ISO
    cold_delivered: int
    with_excursion: int

    @property
    def rate(self) -> float | None:
        return round(self.with_excursion / self.cold_delivered, 4) if self.cold_delivered else None


def excursion_rate_by_week(*, weeks: int = 8, today: dt.date | None = None) -> list[WeekExcursions]:
    """Per week of delivery (Shanghai days), cold parcels delivered and how many of them had
    at least one temperature excursion."""
    today = today or _today()
    first = _week_start(today) - dt.timedelta(weeks=weeks - 1)
    since = dt.datetime.combine(first, dt.time.min, tzinfo=clock.SHANGHAI)
    counts: dict[dt.date, list[int]] = {
        first + dt.timedelta(weeks=index): [0, 0] for index in range(weeks)
    }
    rows = (
        Shipment.objects.filter(
            status=ShipmentStatus.DELIVERED, delivered_at__gte=since, storage__in=COLD
        )
        .annotate(excursion_count=Count("excursions"))
        .values_list("delivered_at", "excursion_count")
    )
    for delivered_at, excursions in rows:
        if delivered_at is None:
            continue
        bucket = counts.get(_week_start(clock.to_shanghai(delivered_at).date()))
        if bucket is None:
            continue
        bucket[0] += 1
        if excursions:
            bucket[1] += 1
    return [
        WeekExcursions(week=week.isoformat(), cold_delivered=total, with_excursion=bad)
        for week, (total, bad) in sorted(counts.items())
    ]


@dataclass(frozen=True)
class ExcursionRow:
    excursion: Excursion
    decision: AutoDecision | None


def excursion_list(*, limit: int = 200) -> list[ExcursionRow]:
    """Excursions newest first with their parcel and order, and the automatic after-sales
    decision the parcel's excursion led to (if any)."""
    found = list(
        Excursion.objects.select_related(
            "shipment", "shipment__order", "shipment__carrier", "shipment__warehouse"
        ).order_by("-started_at", "-id")[:limit]
    )
    decisions: dict[int, AutoDecision] = {}
    for decision in AutoDecision.objects.filter(
        shipment_id__in={row.shipment_id for row in found}, trigger="excursion"
    ).order_by("created_at", "pk"):
        if decision.shipment_id is not None:
            decisions.setdefault(decision.shipment_id, decision)
    return [ExcursionRow(row, decisions.get(row.shipment_id)) for row in found]


def parcel_chart(shipment: Shipment, excursions: list[Excursion]) -> dict[str, Any] | None:
    """A cold parcel's temperature line for the shared chart script
    (static/fulfillment/temperature_chart.js), the same shape the order page embeds."""
    if shipment.storage not in COLD:
        return None
    points = shipment_readings_series(shipment_id=shipment.pk)
    if not points:
        return None
    return {
        shipment.shipment_no: temperature_chart(
            readings=points, band=safe_band(shipment.storage), excursions=excursions
        )
    }
