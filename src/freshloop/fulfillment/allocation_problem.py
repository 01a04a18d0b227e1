"""Reading the database into an allocation problem (SPEC FF-1): what a batch of orders
needs — their lines and unit weights, the warehouses with the units each may give (free of
other orders' holds, fresh enough for the channel), the carriers with their rates and speeds
— and the rule that turns a plan's days into a promised date.

Shared by the batch (`fulfillment.allocating.allocations_run`) and the order page's preview
of the promise before allocation (`fulfillment.promise_preview`), so the two build the same
problem and the date a buyer sees before paying is the date the allocation then promises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Sum

from freshloop.catalog.models import StorageCondition
from freshloop.fulfillment import allocation as plans
from freshloop.fulfillment.models import DEFAULT_UNIT_WEIGHT_G, Carrier, SkuWeight
from freshloop.inventory.models import Reservation, ReservationStatus, StockLevel, Warehouse
from freshloop.inventory.selectors import held_back_units
from freshloop.orders.models import Order, OrderLine

PROMISE_DAYS: dict[str, int | None] = {
    StorageCondition.AMBIENT: None,
    StorageCondition.CHILLED: 3,
    StorageCondition.FROZEN: 4,
}
"""The longest a parcel of each class may travel: cold goods are promised, ambient are not.
An order's promise is the tightest of its lines' classes."""
_STORAGES = (StorageCondition.AMBIENT, StorageCondition.CHILLED, StorageCondition.FROZEN)


def promise_date(today: dt.date, days: int) -> dt.date:
    """The day a parcel decided on `today` (Shanghai) is promised: `days` counted from the
    day of the decision, with no dispatch cut-off (allocation runs within a minute of
    payment, round the clock). The one rule for a parcel's, an allocation's and the order
    page's preview date, so they cannot drift apart."""
    return today + dt.timedelta(days=days)


@dataclass
class LotLedger:
    """One (warehouse, SKU)'s lots as the batch sees them: read once, then drawn down in
    memory as parcels take units (the batch's writes happen in one transaction). `lots`:
    [batch id, expires on, units not earmarked] first expiry first; `untracked`: units in no
    lot. Earmarked: lines of shipments whose order has not shipped yet — shipping takes
    its lots from the stock then."""

    lots: list[list[Any]]
    untracked: int


@dataclass
class Context:
    """What the batch read once: orders, lines, warehouses, carriers."""

    orders: dict[int, Order]
    lines: dict[int, list[OrderLine]]
    warehouses: dict[int, Warehouse]
    carriers: dict[int, Carrier]
    batch_ref: str
    today: dt.date
    ledgers: dict[tuple[int, int], LotLedger] = field(default_factory=dict)


def context_load(
    *, orders: Mapping[int, Order], order_ids: Sequence[int], batch_ref: str, today: dt.date
) -> Context:
    """Lines of `order_ids`, active warehouses and carriers (rates and speed): four queries."""
    lines: dict[int, list[OrderLine]] = {}
    for line in (
        OrderLine.objects.select_related("sku__product")
        .filter(order_id__in=list(order_ids))
        .order_by("id")
    ):
        lines.setdefault(line.order_id, []).append(line)
    return Context(
        orders=dict(orders),
        lines=lines,
        warehouses={w.pk: w for w in Warehouse.objects.filter(is_active=True)},
        carriers={
            c.pk: c
            for c in Carrier.objects.filter(is_active=True)
            .select_related("speed")
            .prefetch_related("rates")
        },
        batch_ref=batch_ref,
        today=today,
    )


def order_specs(context: Context, order_ids: Sequence[int]) -> list[plans.OrderSpec]:
    sku_ids = {line.sku_id for lines in context.lines.values() for line in lines}
    weights = dict(SkuWeight.objects.filter(sku_id__in=sku_ids).values_list("sku_id", "weight_g"))
    specs = []
    for order_id in order_ids:
        order_lines = context.lines.get(order_id, [])
        lines = tuple(
            plans.Line(
                sku=line.sku_id,
                quantity=line.quantity - line.refunded_quantity,
                storage=line.sku.product.storage,
                weight_g=weights.get(line.sku_id, DEFAULT_UNIT_WEIGHT_G),
            )
            for line in order_lines
            if line.quantity > line.refunded_quantity
        )
        limits = [PROMISE_DAYS.get(line.storage) for line in lines]
        bounded = [days for days in limits if days]
        specs.append(
            plans.OrderSpec(
                id=order_id,
                province=context.orders[order_id].province,
                lines=lines,
                max_days=min(bounded) if bounded else None,
            )
        )
    return specs


def free_units(context: Context, order_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """Per (warehouse, SKU) the units this batch may place: what no other order holds —
    on hand minus reserved, plus what the batch's own orders hold there (moving frees it)."""
    sku_ids = {line.sku_id for lines in context.lines.values() for line in lines}
    free: dict[tuple[int, int], int] = {}
    for level in StockLevel.objects.filter(sku_id__in=sku_ids, warehouse_id__in=context.warehouses):
        free[(level.warehouse_id, level.sku_id)] = level.on_hand - level.reserved
    refs = [context.orders[pk].order_no for pk in order_ids]
    own = (
        Reservation.objects.filter(
            order_ref__in=refs, status=ReservationStatus.ACTIVE, is_block=False
        )
        .values("stock__warehouse_id", "stock__sku_id")
        .annotate(units=Sum("quantity"))
    )
    for row in own:
        key = (row["stock__warehouse_id"], row["stock__sku_id"])
        if key in free:
            free[key] += row["units"]
    return free


def problem_build(
    context: Context,
    specs: Sequence[plans.OrderSpec],
    pool: dict[tuple[int, int], int],
    channel: str,
) -> plans.Problem:
    """The problem of `specs` (all of one channel): each warehouse's units of their SKUs are
    what `pool` leaves minus the lots too old for `channel` or on hold."""
    skus = {line.sku_id: line.sku for pk in (s.id for s in specs) for line in context.lines[pk]}
    held = held_back_units(skus=list(skus.values()), channel=channel, today=context.today)
    warehouses = []
    for warehouse in context.warehouses.values():
        storages = frozenset(s for s in _STORAGES if warehouse.can_store(s))
        stock = {
            sku_id: max(
                0, pool.get((warehouse.pk, sku_id), 0) - held.get((warehouse.pk, sku_id), 0)
            )
            for sku_id in skus
        }
        warehouses.append(
            plans.WarehouseSpec(
                warehouse.pk, warehouse.name, warehouse.province, storages, stock, warehouse.city
            )
        )
    carriers = []
    for carrier in context.carriers.values():
        speed = getattr(carrier, "speed", None)
        carriers.append(
            plans.CarrierSpec(
                id=carrier.pk,
                name=carrier.name,
                storages=frozenset(s for s in _STORAGES if carrier.can_carry(s)),
                rates=tuple(
                    plans.Rate(
                        first_fee_fen=r.first_fee_fen,
                        first_weight_g=r.first_weight_g,
                        extra_per_kg_fen=r.extra_per_kg_fen,
                        cold_surcharge_fen=r.cold_surcharge_fen,
                        zone=r.zone,
                        destination=r.destination,
                    )
                    for r in carrier.rates.all()
                ),
                speed_factor=speed.speed_factor if speed else 1.0,
                days_offset=speed.days_offset if speed else 0,
            )
        )
    return plans.Problem(orders=list(specs), warehouses=warehouses, carriers=carriers)
