"""Reserving stock for many orders in one transaction (a subscription run's orders): the same
rules as `stock_reserve` — each line whole from one warehouse that can store the product, only
units fresh enough for the order's channel, the buyer's province first — planned from one read
of the candidate levels and written as one conditional UPDATE for every level the batch uses.

The plan is optimistic: it is made from levels read without a lock, and the UPDATE keeps the
usual guard (`on_hand - held_back >= reserved + quantity`, `locks.stock_levels_reserve`, which
takes the levels' locks in SKU order). If another checkout took units in between, a level
fails its guard and `StockPlanStale` is raised: the caller rolls the batch back and places
those orders one at a time, where a shortfall is each order's own `OutOfStock`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.inventory.errors import StockPlanStale
from freshloop.inventory.locks import stock_levels_reserve
from freshloop.inventory.models import MovementKind, Reservation, StockLevel, StockMovement
from freshloop.inventory.picking import candidate_levels, level_preference


@dataclass(frozen=True)
class OrderStock:
    """One order's lines to reserve: (SKU, units), whole lines, no block draws."""

    order_ref: str
    lines: Sequence[tuple[Sku, int]]
    province: str = ""
    channel: str = ""


@dataclass
class StockPlan:
    takes: dict[str, list[tuple[StockLevel, int]]] = field(default_factory=dict)
    """By order ref: the level each line is reserved on, with its units (served orders)."""
    short: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    """By order ref: the SKUs no warehouse can give (what `OutOfStock` names)."""
    held: dict[int, int] = field(default_factory=dict)
    """By level id: units the guard keeps out of reach (the most any channel of the batch holds
    back, so the guard is never looser than the plan)."""


def stock_plan_many(orders: Sequence[OrderStock]) -> StockPlan:
    """Choose a level for every line of every order, in the orders' sequence, as if they were
    reserved one after the other; an order that cannot have all its lines takes nothing."""
    plan = StockPlan()
    taken: dict[int, int] = defaultdict(int)
    by_channel: dict[str, list[OrderStock]] = defaultdict(list)
    for order in orders:
        by_channel[order.channel].append(order)
    for channel, group in by_channel.items():
        skus = {sku.pk: sku for order in group for sku, _ in order.lines}
        candidates, held = candidate_levels([(sku, 1) for sku in skus.values()], "", channel)
        for level_id, units in held.items():
            plan.held[level_id] = max(plan.held.get(level_id, 0), units)
        for order in group:
            chosen: list[tuple[StockLevel, int]] = []
            short: list[dict[str, object]] = []
            for sku, quantity in sorted(order.lines, key=lambda line: line[0].pk):
                left = {
                    level.pk: level.available - held.get(level.pk, 0) - taken[level.pk]
                    for level in candidates[sku.pk]
                }
                fits = [level for level in candidates[sku.pk] if left[level.pk] >= quantity]
                if not fits:
                    short.append({"sku_id": sku.pk, "name": str(sku)})
                    continue
                province = order.province
                best = min(
                    fits, key=lambda level: level_preference(level, province, left[level.pk])
                )
                chosen.append((best, quantity))
                taken[best.pk] += quantity  # undone below if another line falls short
            if short:
                for level, quantity in chosen:
                    taken[level.pk] -= quantity
                plan.short[order.order_ref] = short
            else:
                plan.takes[order.order_ref] = chosen
    return plan


def stock_reserve_planned(
    plan: StockPlan, *, expires_at: Mapping[str, dt.datetime | None]
) -> dict[str, list[Reservation]]:
    """Write the plan's reservations inside the caller's transaction: one guarded UPDATE for
    all its levels (each level's total), then the reservations and their movements in bulk.
    `expires_at` by order ref. Raises `StockPlanStale` if a level lost units meanwhile."""
    totals: dict[int, int] = defaultdict(int)
    for takes in plan.takes.values():
        for level, quantity in takes:
            totals[level.pk] += quantity
    wanted = sorted(totals.items())
    reserved_on = stock_levels_reserve(wanted, plan.held)
    if len(reserved_on) != len(wanted):
        raise StockPlanStale(detail={"levels": sorted(set(totals) - reserved_on)})
    now = clock.now()
    rows = [
        Reservation(
            order_ref=order_ref,
            stock=level,
            quantity=quantity,
            expires_at=expires_at[order_ref],
            created_at=now,
        )
        for order_ref, takes in plan.takes.items()
        for level, quantity in takes
    ]
    Reservation.objects.bulk_create(rows, batch_size=1000)
    StockMovement.objects.bulk_create(
        (
            StockMovement(
                stock=row.stock,
                kind=MovementKind.RESERVE,
                reserved_delta=row.quantity,
                ref=row.order_ref,
                created_at=now,
            )
            for row in rows
        ),
        batch_size=1000,
    )
    by_order: dict[str, list[Reservation]] = defaultdict(list)
    for row in rows:
        by_order[row.order_ref].append(row)
    return dict(by_order)
