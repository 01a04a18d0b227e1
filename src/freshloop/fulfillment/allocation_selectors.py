"""Reads of allocation (SPEC FF-1): the operators' queue, one order's decision with its
parcels and lots, the lots to ship, and the near-expiry stock report."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.db.models import Sum

from freshloop.core import clock
from freshloop.fulfillment.models import Allocation, AllocationStatus, Shipment, ShipmentLine
from freshloop.inventory.models import BatchStock
from freshloop.inventory.selectors import min_ratio
from freshloop.orders.models import OrderStatus


@dataclass(frozen=True)
class QueueRow:
    order_id: int
    order_no: str
    channel: str
    province: str
    status: str
    status_label: str
    error: str
    attempts: int
    created_at: dt.datetime
    decided_at: dt.datetime | None


def allocation_queue(*, status: str = "", limit: int = 200) -> list[QueueRow]:
    """Orders waiting for allocation and those that failed (with why), oldest first; `status`
    narrows to one of pending / failed / allocated."""
    statuses = [status] if status else [AllocationStatus.PENDING, AllocationStatus.FAILED]
    rows = (
        Allocation.objects.select_related("order")
        .filter(status__in=statuses)
        .order_by("created_at", "id")[: max(1, min(limit, 1000))]
    )
    return [
        QueueRow(
            order_id=a.order_id,
            order_no=a.order.order_no,
            channel=a.order.channel,
            province=a.order.province,
            status=a.status,
            status_label=a.get_status_display(),
            error=a.error,
            attempts=a.attempts,
            created_at=a.created_at,
            decided_at=a.decided_at,
        )
        for a in rows
    ]


@dataclass(frozen=True)
class AllocatedLineView:
    sku_id: int
    name: str
    quantity: int
    batch_no: str
    expires_on: dt.date | None


@dataclass(frozen=True)
class AllocatedParcelView:
    shipment_id: int
    shipment_no: str
    warehouse: str
    carrier: str
    storage: str
    storage_label: str
    status: str
    status_label: str
    cost_fen: int
    weight_g: int
    transit_days: int
    promised_on: dt.date | None
    lines: list[AllocatedLineView] = field(default_factory=list)


@dataclass(frozen=True)
class AllocationView:
    order_id: int
    status: str
    status_label: str
    explanation: str
    error: str
    cost_fen: int
    promised_on: dt.date | None
    decided_at: dt.datetime | None
    shipments: list[AllocatedParcelView]


def allocation_for_order(order_id: int) -> AllocationView | None:
    """An order's allocation — the sentence the order page shows, its promise, its parcels
    with their lots — or None while the order has none (not paid yet)."""
    allocation = Allocation.objects.filter(order_id=order_id).first()
    if allocation is None:
        return None
    shipments = list(
        Shipment.objects.select_related("warehouse", "carrier")
        .filter(allocation=allocation)
        .order_by("id")
    )
    lines = (
        ShipmentLine.objects.select_related("order_line", "batch")
        .filter(shipment__in=shipments)
        .order_by("id")
    )
    by_shipment: dict[int, list[AllocatedLineView]] = {}
    for line in lines:
        by_shipment.setdefault(line.shipment_id, []).append(
            AllocatedLineView(
                sku_id=line.sku_id,
                name=f"{line.order_line.product_name} {line.order_line.spec}",
                quantity=line.quantity,
                batch_no=line.batch.batch_no if line.batch else "",
                expires_on=line.batch.expires_on if line.batch else None,
            )
        )
    return AllocationView(
        order_id=order_id,
        status=allocation.status,
        status_label=allocation.get_status_display(),
        explanation=allocation.explanation,
        error=allocation.error,
        cost_fen=allocation.cost_fen,
        promised_on=allocation.promised_on,
        decided_at=allocation.decided_at,
        shipments=[
            AllocatedParcelView(
                shipment_id=s.pk,
                shipment_no=s.shipment_no,
                warehouse=s.warehouse.name,
                carrier=s.carrier.name,
                storage=s.storage,
                storage_label=s.get_storage_display(),
                status=s.status,
                status_label=s.get_status_display(),
                cost_fen=s.cost_fen,
                weight_g=s.weight_g,
                transit_days=s.transit_days,
                promised_on=s.promised_on,
                lines=by_shipment.get(s.pk, []),
            )
            for s in shipments
        ],
    )


def allocation_lot_picks(order_id: int) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """The lots the allocation chose, as `orders.services.order_ship(lot_picks=…)` takes
    them: by (warehouse id, SKU id), (batch id, units) first expiry first. Units the
    allocation drew from no lot are left out (shipping takes them from the untracked rest)."""
    picks: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for warehouse_id, sku_id, batch_id, units in (
        ShipmentLine.objects.filter(shipment__order_id=order_id, batch__isnull=False)
        .order_by("batch__expires_on", "id")
        .values_list("shipment__warehouse_id", "sku_id", "batch_id", "quantity")
    ):
        picks.setdefault((warehouse_id, sku_id), []).append((batch_id, units))
    return picks


# --- near-expiry stock ----------------------------------------------------------------------


@dataclass(frozen=True)
class NearExpiryRow:
    sku_id: int
    sku_code: str
    name: str
    batch_id: int
    batch_no: str
    warehouse_id: int
    warehouse: str
    units: int
    expires_on: dt.date
    days_left: int
    remaining_ratio: float
    action: str
    action_label: str
    # the last day the lot still meets the minimum of the channel the action sells it on
    # (a campaign ends after it); None for staff sale and write-off
    sell_until: dt.date | None = None


def min_remaining_days(*, channel: str, shelf_life_days: int, product_code: str) -> int:
    """Whole days a lot must still have for `channel`, as FEFO counts them
    (`inventory.freshness.min_remaining_days`: the ratio of shelf life rounded up, at least 1)."""
    return max(1, math.ceil(min_ratio(channel, product_code) * shelf_life_days - 1e-9))


ACTIONS = {
    "flash_price": "限时特价（商城 + 直播间）",
    "groupbuy_pool": "团购池",
    "staff_sale": "员工内购",
    "write_off": "报损",
}

# A lot the shop may still sell is reported when it drops below the shop's minimum within a
# tenth of its shelf life (at least a day): a flash price sells it while the shop still may.
# Scaled, not fixed: three days would put fresh 7-day milk on sale the day it arrives.
SHOP_WARNING_SHARE = 0.1


def shop_warning_days(shelf_life_days: int) -> int:
    return max(1, math.ceil(shelf_life_days * SHOP_WARNING_SHARE - 1e-9))


def near_expiry_action(
    *, days_left: int, shelf_life_days: int, product_code: str, today: dt.date
) -> tuple[str, dt.date | None] | None:
    """What to do with a lot `days_left` from expiry, coherent with FEFO's channel minimums
    (`inventory.freshness`): a lot is only offered on a channel whose minimum it still meets.
    Still good for the shop but not for more than `shop_warning_days` → a flash price on shop
    and live until the day before it drops below; below the shop but good for group buying →
    the group-buy pool until it drops below that; below every channel → staff sale; expired →
    write-off. None: nothing to do yet."""
    if days_left < 0:
        return "write_off", None
    shop = min_remaining_days(
        channel="shop", shelf_life_days=shelf_life_days, product_code=product_code
    )
    groupbuy = min_remaining_days(
        channel="groupbuy", shelf_life_days=shelf_life_days, product_code=product_code
    )
    if days_left >= shop:
        if days_left - shop >= shop_warning_days(shelf_life_days):
            return None
        return "flash_price", today + dt.timedelta(days=days_left - shop)
    if days_left >= groupbuy:
        return "groupbuy_pool", today + dt.timedelta(days=days_left - groupbuy)
    return "staff_sale", None


def near_expiry_report(*, today: dt.date | None = None, limit: int = 500) -> list[NearExpiryRow]:
    """Lots in stock that need a decision, soonest expiry first, with what to do with them
    (`near_expiry_action`): flash price while the shop may still sell them, the group-buy
    pool while group buying may, staff sale below every channel's minimum, write-off once
    expired. Units already earmarked for allocated orders are not counted."""
    day = today or clock.to_shanghai(clock.now()).date()
    lots = (
        BatchStock.objects.select_related("batch__sku__product", "warehouse")
        .filter(quantity__gt=0, on_hold=False)  # a recalled lot is sold nowhere
        .order_by("batch__expires_on", "pk")
    )
    earmarked = {
        (row["shipment__warehouse_id"], row["batch_id"]): row["units"]
        for row in ShipmentLine.objects.filter(
            batch__isnull=False,
            shipment__order__status__in=[OrderStatus.PAID, OrderStatus.ALLOCATED],
        )
        .values("shipment__warehouse_id", "batch_id")
        .annotate(units=Sum("quantity"))
    }
    rows = []
    for lot in lots:
        product = lot.batch.sku.product
        shelf = max(1, product.shelf_life_days)
        days_left = (lot.batch.expires_on - day).days
        suggestion = near_expiry_action(
            days_left=days_left, shelf_life_days=shelf, product_code=product.code, today=day
        )
        if suggestion is None:
            continue
        units = lot.quantity - earmarked.get((lot.warehouse_id, lot.batch_id), 0)
        if units <= 0:
            continue
        action, sell_until = suggestion
        rows.append(
            NearExpiryRow(
                sku_id=lot.batch.sku_id,
                sku_code=lot.batch.sku.code,
                name=f"{product.name} {lot.batch.sku.spec}",
                batch_id=lot.batch_id,
                batch_no=lot.batch.batch_no,
                warehouse_id=lot.warehouse_id,
                warehouse=lot.warehouse.name,
                units=units,
                expires_on=lot.batch.expires_on,
                days_left=days_left,
                remaining_ratio=round(max(days_left, 0) / shelf, 3),
                action=action,
                action_label=ACTIONS[action],
                sell_until=sell_until,
            )
        )
        if len(rows) >= limit:
            break
    return rows
