"""Picking lots (issue 16, FEFO done right): the lots allocation chose, or first expiry first
among the lots fresh enough for the order's channel (`inventory.freshness`); a lot that
cannot give the units is an error (LotShortfall), never skipped. Lots are locked after their
stock level, in primary-key order (`inventory.locks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db.models import Case, DateField, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.inventory.errors import LotShortfall
from freshloop.inventory.freshness import earliest_eligible_expiry, fefo_pick
from freshloop.inventory.locks import lots_lock
from freshloop.inventory.models import BatchStock, StockLevel

LotPicks = Mapping[tuple[int, int], Sequence[tuple[int, int]]]
"""Lots chosen ahead (by fulfillment's allocation): by (warehouse id, SKU id), a list of
(batch id, units)."""


def held_back_subquery(*, skus: Sequence[Sku], channel: str) -> Subquery:
    """Per stock level (as a subquery of a `StockLevel` query: its warehouse and SKU), the
    units in lots too old for `channel` or on hold — the bound `stock_reserve` keeps out of reach,
    read in the same query as the levels themselves."""
    today = clock.to_shanghai(clock.now()).date()
    threshold = Case(
        *(
            When(
                batch__sku_id=sku.pk,
                then=Value(
                    earliest_eligible_expiry(
                        channel=channel,
                        shelf_life_days=sku.product.shelf_life_days,
                        today=today,
                        product_code=sku.product.code,
                    )
                ),
            )
            for sku in skus
        ),
        output_field=DateField(),
    )
    return Subquery(
        BatchStock.objects.filter(
            warehouse_id=OuterRef("warehouse_id"),
            batch__sku_id=OuterRef("sku_id"),
            quantity__gt=0,
        )
        # too old for the channel, or on hold (a recall): neither may be promised
        .filter(Q(batch__expires_on__lt=threshold) | Q(on_hold=True))
        .values("warehouse_id")
        .annotate(units=Sum("quantity"))
        .values("units")
    )


def take_picked_lots(stock: StockLevel, quantity: int, picks: list[tuple[int, int]]) -> int:
    """Take up to `quantity` units from the lots picked ahead (consuming `picks` in place);
    returns the units still to take. Each lot gives its units with a conditional update."""
    remaining = quantity
    while picks and remaining:
        batch_id, units = picks[0]
        take = min(units, remaining)
        # A lot put on hold since it was allocated (a recall) does not ship: a shortfall.
        taken = BatchStock.objects.filter(
            batch_id=batch_id, warehouse_id=stock.warehouse_id, quantity__gte=take, on_hold=False
        ).update(quantity=F("quantity") - take)
        if not taken:
            raise LotShortfall(
                "分仓指定的批次库存不足",
                detail={"batch_id": batch_id, "warehouse_id": stock.warehouse_id, "units": take},
            )
        remaining -= take
        if take == units:
            picks.pop(0)
        else:
            picks[0] = (batch_id, units - take)
    return remaining


def take_from_lots(stock: StockLevel, quantity: int, *, channel: str = "") -> None:
    """FEFO for one level, under its lots' row locks; units in no lot are taken last."""
    level = StockLevel.objects.get(pk=stock.pk)
    product = stock.sku.product
    lots = lots_lock(stock)
    untracked = level.on_hand - sum(lot.quantity for lot in lots)
    min_expiry = earliest_eligible_expiry(
        channel=channel,
        shelf_life_days=product.shelf_life_days,
        today=clock.to_shanghai(clock.now()).date(),
        product_code=product.code,
    )
    picks, _ = fefo_pick(lots=lots, untracked=untracked, quantity=quantity, min_expiry=min_expiry)
    for lot, take in picks:
        BatchStock.objects.filter(pk=lot.pk).update(quantity=F("quantity") - take)


def candidate_levels(
    skus: Sequence[tuple[Sku, int]], province: str, channel: str = ""
) -> tuple[dict[int, list[StockLevel]], dict[int, int]]:
    """Per SKU, the warehouses that can store the product and hold enough units fresh
    enough for `channel`, nearest (same province) first — and the units each level holds
    back (in lots too old for the channel, `inventory.freshness`), by level id. One query
    for the whole order: the held-back units are a subquery of the levels' read."""
    wanted = dict((sku.pk, (sku, quantity)) for sku, quantity in skus)
    found: dict[int, list[StockLevel]] = {sku_id: [] for sku_id in wanted}
    held_by_level: dict[int, int] = {}
    if not wanted:
        return found, held_by_level
    too_old = held_back_subquery(skus=[sku for sku, _ in wanted.values()], channel=channel)
    for level in (
        StockLevel.objects.select_related("warehouse")
        .filter(sku_id__in=list(wanted), warehouse__is_active=True)
        .annotate(held=Coalesce(too_old, 0))
    ):
        sku, quantity = wanted[level.sku_id]
        level_held = int(level.held)
        if level_held:
            held_by_level[level.pk] = level_held
        if level.available - level_held >= quantity and level.warehouse.can_store(
            sku.product.storage
        ):
            found[level.sku_id].append(level)
    for levels in found.values():
        levels.sort(key=lambda level: level_preference(level, province, level.available))
    return found, held_by_level


def level_preference(level: StockLevel, province: str, available: int) -> tuple[bool, int, int]:
    """The order a line tries warehouses in: the buyer's province first, then the level with
    the most units `available`, then the oldest level (a total order, so runs agree)."""
    return (level.warehouse.province != province, -available, level.pk)
