"""Inventory reads: what can be sold now, and which lot a buyer will receive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, F, Sum

from freshloop.catalog.models import Batch
from freshloop.inventory.models import BatchStock, Reservation, StockLevel
from freshloop.inventory.transit import province_short as province_short  # public: shipping rules
from freshloop.inventory.transit import transit_days


def stock_available_by_sku(*, sku_ids: Iterable[int]) -> dict[int, int]:
    rows = (
        StockLevel.objects.filter(sku_id__in=list(sku_ids), warehouse__is_active=True)
        .values("sku_id")
        .annotate(units=Sum(F("on_hand") - F("reserved")))
    )
    return {row["sku_id"]: int(row["units"] or 0) for row in rows}


def batch_next_to_ship(*, sku_id: int) -> Batch | None:
    """The lot a buyer would receive today: the earliest expiry that still has units."""
    lot = (
        BatchStock.objects.select_related("batch")
        .filter(batch__sku_id=sku_id, quantity__gt=0, warehouse__is_active=True)
        .order_by("batch__expires_on", "pk")
        .first()
    )
    return lot.batch if lot else None


@dataclass(frozen=True)
class WarehouseStock:
    """One warehouse's totals, for the supply chain's home page."""

    warehouse_id: int
    name: str
    province: str
    skus: int
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def stock_by_warehouse() -> list[WarehouseStock]:
    """Every active warehouse with its SKU count and units on hand / promised (one query)."""
    rows = (
        StockLevel.objects.filter(warehouse__is_active=True)
        .values("warehouse_id", "warehouse__name", "warehouse__province")
        .annotate(skus=Count("sku_id"), on_hand=Sum("on_hand"), reserved=Sum("reserved"))
        .order_by("warehouse__name")
    )
    return [
        WarehouseStock(
            warehouse_id=row["warehouse_id"],
            name=row["warehouse__name"],
            province=row["warehouse__province"],
            skus=row["skus"],
            on_hand=row["on_hand"] or 0,
            reserved=row["reserved"] or 0,
        )
        for row in rows
    ]


def lots_expiring(*, today: dt.date, within_days: int, limit: int = 50) -> list[BatchStock]:
    """Lots still holding units that expire within `within_days` of `today` (already expired
    ones included: they must not ship), earliest first, with their SKU, product and warehouse."""
    return list(
        BatchStock.objects.filter(
            quantity__gt=0, batch__expires_on__lte=today + dt.timedelta(days=within_days)
        )
        .select_related("batch__sku__product", "warehouse")
        .order_by("batch__expires_on", "pk")[:limit]
    )


def order_transit_days(*, order_ref: str, destination_province: str) -> int | None:
    """Days on the road for an order to `destination_province`: the slowest of the warehouses
    its units are reserved in (a split order arrives when its last parcel does); None when
    nothing is reserved for it (cancelled, or refunded before shipping)."""
    origins = set(
        Reservation.objects.filter(order_ref=order_ref, is_block=False).values_list(
            "stock__warehouse__province", flat=True
        )
    )
    if not origins:
        return None
    return max(transit_days(origin, destination_province) for origin in origins)


# --- fulfillment reads these (issue 16): regions for carrier zones, freshness for FEFO ---------

from freshloop.inventory.freshness import (  # noqa: E402
    earliest_eligible_expiry as earliest_eligible_expiry,
)
from freshloop.inventory.freshness import held_back_units as held_back_units  # noqa: E402
from freshloop.inventory.freshness import min_ratio as min_ratio  # noqa: E402
from freshloop.inventory.transit import REGIONS as REGIONS  # noqa: E402
from freshloop.inventory.transit import REMOTE as REMOTE  # noqa: E402
from freshloop.inventory.transit import REMOTE_EXTRA_DAYS as REMOTE_EXTRA_DAYS  # noqa: E402
