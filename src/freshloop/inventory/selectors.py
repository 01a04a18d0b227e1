"""Inventory reads: what can be sold now, and which lot a buyer will receive."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Sum

from freshloop.catalog.models import Batch
from freshloop.inventory.models import BatchStock, StockLevel


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
