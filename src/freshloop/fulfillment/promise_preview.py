"""What allocation would promise an order that is not allocated yet (SPEC FF-1): the order
page shows the same date before payment, and while a paid order waits for the batch, that
the allocation then promises — not the transit table's guess by region.

Read-only: the one-order problem is built by the batch's own code (`allocation_problem`)
from the order's lines, its reservations (they count as free for it, as in the batch) and
the warehouses' stock fresh enough for its channel, then solved by the batch's solver. For a
single order the solver never reaches its integer program: each storage class of the order
is a job whose cheapest plan fits the stock by construction and no two jobs share a SKU, so
`solve` answers each job's cheapest plan (`PlanMaker.plans_for`) after one greedy
comparison — cheap, and the same answer the batch gives when this order is alone in it. In a
busy batch (a flash sale) the batch may send it from another warehouse so that other buyers
are served too; the preview says 预计, the allocation 承诺.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from freshloop.core import clock
from freshloop.fulfillment.allocation_problem import (
    context_load,
    free_units,
    order_specs,
    problem_build,
    promise_date,
)
from freshloop.fulfillment.models import Allocation, AllocationStatus
from freshloop.fulfillment.solver import solve
from freshloop.orders.models import Order, OrderStatus

_PREVIEWED = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID})
"""Orders whose stock allocation has not placed yet. A manually allocated or shipped order
has its warehouses already; a partly refunded one shows no estimate at all."""


@dataclass(frozen=True)
class PreviewParcel:
    warehouse: str
    carrier: str
    storage: str
    days: int


@dataclass(frozen=True)
class PromisePreview:
    on: dt.date
    """The date allocation would promise if it ran now (Shanghai calendar)."""
    days: int
    """Days on the road of the slowest parcel."""
    parcels: tuple[PreviewParcel, ...]


def order_promise_preview(*, order: Order, now: dt.datetime | None = None) -> PromisePreview | None:
    """What allocation would promise `order` right now, or None when it would not allocate it
    (not awaiting allocation, no carrier or rate, no warehouse with stock fresh enough, or a
    storage class nobody keeps cold) — the caller falls back to the transit table.
    Eight queries whatever the number of warehouses and carriers, no writes."""
    if order.status not in _PREVIEWED:
        return None
    today = clock.to_shanghai(now or clock.now()).date()
    context = context_load(
        orders={order.pk: order}, order_ids=[order.pk], batch_ref="", today=today
    )
    if not context.carriers or not context.lines.get(order.pk):
        return None
    specs = order_specs(context, [order.pk])
    if not specs[0].lines:
        return None
    problem = problem_build(context, specs, free_units(context, [order.pk]), order.channel)
    chosen = solve(problem).plans.get(order.pk, [])
    if not chosen or any(not plan.served for plan in chosen):
        return None  # allocation would fail it: the operators' queue, not a date
    parcels = tuple(
        PreviewParcel(
            warehouse=context.warehouses[parcel.warehouse].name,
            carrier=context.carriers[parcel.carrier].name,
            storage=parcel.storage,
            days=parcel.days,
        )
        for plan in chosen
        for parcel in plan.parcels
    )
    days = max(parcel.days for parcel in parcels)
    return PromisePreview(on=promise_date(today, days), days=days, parcels=parcels)


def order_promised_on(*, order_id: int) -> dt.date | None:
    """The date an allocated order is promised, None until allocation decided it."""
    return (
        Allocation.objects.filter(order_id=order_id, status=AllocationStatus.ALLOCATED)
        .values_list("promised_on", flat=True)
        .first()
    )
