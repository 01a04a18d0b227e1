"""How fresh a lot must still be to be sold on a channel (SPEC FF-1, FEFO done right).

A lot is eligible for a channel when it is not expired and its remaining shelf life is at
least the channel's minimum share of the product's shelf life: the shop and the live room
promise 2/3 of it, group buying and partners 1/2 (a group's leader hands the goods out within
a day or two). The shares are settings, not a table, because reservation runs in inventory
and orders, below the fulfillment module where tables of its own would live:

    FRESHLOOP_SHELF_LIFE_MIN_RATIO = {"shop": 0.667, "live": 0.667, "groupbuy": 0.5, ...}
    FRESHLOOP_SHELF_LIFE_MIN_RATIO_BY_PRODUCT = {"<product code>": {"shop": 0.5}}

A missing setting keeps the defaults below; an unknown channel ("" included) only refuses
expired lots.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.db.models import Q

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.inventory.errors import LotShortfall
from freshloop.inventory.models import BatchStock

DEFAULT_MIN_RATIO: Mapping[str, float] = {
    "shop": 2 / 3,
    "live": 2 / 3,
    "groupbuy": 1 / 2,
    "partner": 1 / 2,
}


def min_ratio(channel: str, product_code: str = "") -> float:
    """The share of shelf life a lot must still have for `channel` (0 for no channel)."""
    by_product: Mapping[str, Mapping[str, float]] = getattr(
        settings, "FRESHLOOP_SHELF_LIFE_MIN_RATIO_BY_PRODUCT", {}
    )
    if product_code and channel in by_product.get(product_code, {}):
        return float(by_product[product_code][channel])
    ratios: Mapping[str, float] = getattr(
        settings, "FRESHLOOP_SHELF_LIFE_MIN_RATIO", DEFAULT_MIN_RATIO
    )
    return float(ratios.get(channel, 0.0))


def min_remaining_days(*, channel: str, shelf_life_days: int, product_code: str = "") -> int:
    """Whole days a lot must still have: the ratio of shelf life rounded up, at least 1
    (a lot expiring today is never shipped)."""
    return max(1, math.ceil(min_ratio(channel, product_code) * shelf_life_days - 1e-9))


def earliest_eligible_expiry(
    *, channel: str, shelf_life_days: int, today: dt.date, product_code: str = ""
) -> dt.date:
    """Lots expiring before this date may not be sold on `channel` (or at all)."""
    days = min_remaining_days(
        channel=channel, shelf_life_days=shelf_life_days, product_code=product_code
    )
    return today + dt.timedelta(days=days)


def held_back_units(
    *, skus: Sequence[Sku], channel: str, today: dt.date | None = None
) -> dict[tuple[int, int], int]:
    """Units in lots a `channel` order may not get — expired, with less remaining shelf
    life than the channel's minimum (`inventory.freshness`), or on hold (a recall) — by
    (warehouse id, SKU id).
    Units in no lot are not held back: nothing says they are old. One query."""
    day = today or clock.to_shanghai(clock.now()).date()
    thresholds = {
        sku.pk: earliest_eligible_expiry(
            channel=channel,
            shelf_life_days=sku.product.shelf_life_days,
            today=day,
            product_code=sku.product.code,
        )
        for sku in skus
    }
    held: dict[tuple[int, int], int] = {}
    if not thresholds:
        return held
    rows = (
        BatchStock.objects.filter(batch__sku_id__in=list(thresholds), quantity__gt=0)
        .filter(Q(batch__expires_on__lt=max(thresholds.values())) | Q(on_hold=True))
        .values_list("warehouse_id", "batch__sku_id", "batch__expires_on", "quantity", "on_hold")
    )
    for warehouse_id, sku_id, expires_on, quantity, on_hold in rows:
        if on_hold or expires_on < thresholds[sku_id]:
            key = (warehouse_id, sku_id)
            held[key] = held.get(key, 0) + quantity
    return held


def fefo_pick(
    *, lots: Sequence[BatchStock], untracked: int, quantity: int, min_expiry: dt.date
) -> tuple[list[tuple[BatchStock, int]], int]:
    """First-expiry-first-out over the lots fresh enough (expiring on or after `min_expiry`):
    returns (lot, units) picks and the units taken from stock in no lot. Raises LotShortfall
    when the eligible lots and the untracked units together fall short."""
    picks: list[tuple[BatchStock, int]] = []
    remaining = quantity
    for lot in sorted(lots, key=lambda lot: (lot.batch.expires_on, lot.pk)):
        if remaining == 0:
            break
        if lot.quantity <= 0 or lot.on_hold or lot.batch.expires_on < min_expiry:
            continue
        take = min(lot.quantity, remaining)
        picks.append((lot, take))
        remaining -= take
    if remaining > max(untracked, 0):
        raise LotShortfall(
            detail={
                "sku_id": lots[0].batch.sku_id if lots else None,
                "wanted": quantity,
                "eligible": quantity - remaining + max(untracked, 0),
                "min_expiry": min_expiry.isoformat(),
            }
        )
    return picks, remaining
