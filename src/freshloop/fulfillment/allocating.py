"""Allocating paid orders (SPEC FF-1): from the pending queue to shipments, in batches.

`OrderPaid` opens a pending allocation (`allocation_open`, a durable subscriber). The
periodic job (`fulfillment.allocate_pending`, every minute, and kicked a few seconds after a
payment so a flash sale's burst lands in one batch) runs `allocations_run`: every pending
order is solved TOGETHER against shared stock (`fulfillment.solver`) — so a warehouse is not
emptied by the first buyers when it is the closer one for the rest — and then, order by
order, in its own transaction: shipments with their FEFO-chosen lots, the order's
reservations moved to the chosen warehouses (`inventory.services.reservations_move`), the
order marked allocated, and the decision explained in words the order page shows. An order
that cannot be served (no stock fresh enough for its channel, no carrier that keeps it cold)
is marked failed with a Chinese reason for the operators' queue; it never stops the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Sum

from freshloop.catalog.models import StorageCondition
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.core.ids import new_id
from freshloop.fulfillment import allocation as plans
from freshloop.fulfillment.allocation_problem import Context as _Context
from freshloop.fulfillment.allocation_problem import LotLedger as _LotLedger
from freshloop.fulfillment.allocation_problem import (
    context_load,
    free_units,
    order_specs,
    problem_build,
    promise_date,
)
from freshloop.fulfillment.errors import AllocationNotFound, AllocationStateInvalid
from freshloop.fulfillment.kick import allocation_kick
from freshloop.fulfillment.locks import allocation_lock
from freshloop.fulfillment.models import Allocation, AllocationStatus, Shipment, ShipmentLine
from freshloop.fulfillment.solver import solve
from freshloop.inventory.errors import LotShortfall
from freshloop.inventory.models import BatchStock, StockLevel
from freshloop.inventory.selectors import earliest_eligible_expiry
from freshloop.inventory.services import Placement, reservations_move_many
from freshloop.orders.models import Order, OrderLine, OrderStatus
from freshloop.orders.services import order_allocate

logger = logging.getLogger(__name__)

ALLOCATOR = Actor.system("fulfillment.allocate")
STORAGE_WORDS: dict[str, str] = {
    StorageCondition.AMBIENT: "常温",
    StorageCondition.CHILLED: "冷藏",
    StorageCondition.FROZEN: "冷冻",
}
DEFAULT_LIMIT = 5000


# --- the queue ----------------------------------------------------------------------------------


def allocation_open(*, order_id: int) -> Allocation:
    """A paid order waits for allocation. Idempotent: a second call (a redelivered event)
    returns the existing row, whatever its state."""
    allocation, _ = Allocation.objects.get_or_create(
        order_id=order_id,
        defaults={"status": AllocationStatus.PENDING, "created_at": clock.now()},
    )
    return allocation


@transaction.atomic
def allocation_retry(*, order_id: int, actor: Actor) -> Allocation:
    """A failed allocation goes back to the queue (stock arrived, a rate was added)."""
    allocation = allocation_lock(order_id=order_id)
    if allocation is None:
        raise AllocationNotFound(detail={"order_id": order_id})
    if allocation.status != AllocationStatus.FAILED:
        raise AllocationStateInvalid(detail={"order_id": order_id, "status": allocation.status})
    allocation.status = AllocationStatus.PENDING
    allocation.error = ""
    allocation.save(update_fields=["status", "error"])
    audit_record(actor=actor, action="fulfillment.allocation_retry", target=allocation)
    transaction.on_commit(allocation_kick)  # the batch job's lock, not this request
    return allocation


# --- one batch ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    batch_ref: str
    allocated: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    cost_fen: int = 0


def allocations_run(
    *, limit: int = DEFAULT_LIMIT, order_ids: Sequence[int] | None = None
) -> RunResult:
    """Allocate the pending orders (oldest first, at most `limit`, or just `order_ids`)
    together; see the module docstring. Returns which were allocated and which failed."""
    pending = Allocation.objects.filter(status=AllocationStatus.PENDING)
    if order_ids is not None:
        pending = pending.filter(order_id__in=list(order_ids))
    chosen = list(pending.order_by("id").values_list("order_id", flat=True)[:limit])
    result = RunResult(batch_ref=new_id("AB"))
    if not chosen:
        return result
    orders = {o.pk: o for o in Order.objects.filter(pk__in=chosen)}
    paid = [pk for pk in chosen if _awaits_shipping(orders[pk])]
    for pk in chosen:
        status = orders[pk].status
        if status == OrderStatus.REFUND_REQUESTED:
            continue  # a refund is being decided: allocate if it is rejected, not before
        if not _awaits_shipping(orders[pk]):
            _fail(pk, f"订单当前为「{OrderStatus(status).label}」，无需分仓", result)
    if not paid:
        return result
    context = context_load(
        orders=orders,
        order_ids=paid,
        batch_ref=result.batch_ref,
        today=clock.to_shanghai(clock.now()).date(),
    )
    problem_orders = order_specs(context, paid)
    pool = free_units(context, paid)
    by_channel: dict[str, list[plans.OrderSpec]] = {}
    for spec in problem_orders:
        by_channel.setdefault(orders[spec.id].channel, []).append(spec)
    decisions: list[tuple[plans.OrderSpec, list[plans.Plan], str]] = []
    # The strictest channels first: they can use only the freshest lots.
    for channel in sorted(by_channel, key=lambda c: (c not in ("shop", "live"), c)):
        specs = by_channel[channel]
        problem = problem_build(context, specs, pool, channel)
        jobs = plans.build_jobs(problem)
        solution = solve(problem, jobs=jobs)
        job_of = {(order_id, job.storage): job for job in jobs for order_id in job.order_ids}
        for spec in specs:
            chosen_plans = solution.plans.get(spec.id, [])
            for plan in chosen_plans:
                for (warehouse_id, sku), units in plan.usage().items():
                    pool[(warehouse_id, sku)] = pool.get((warehouse_id, sku), 0) - units
            decisions.append((spec, chosen_plans, _explain(context, spec, chosen_plans, job_of)))
    servable = []
    for spec, chosen_plans, explanation in decisions:
        if not chosen_plans or any(not plan.served for plan in chosen_plans):
            _fail(spec.id, explanation, result)
        else:
            servable.append((spec, chosen_plans, explanation))
    try:
        _apply_together(context, servable, result)
    except DomainError:
        # Stock changed since the solver read it (a stock take, a concurrent checkout): the
        # batch's moves no longer fit together. Order by order, each on its own.
        result.allocated.clear()
        result.failed = {
            k: v for k, v in result.failed.items() if k not in {s.id for s, _, _ in servable}
        }
        result.cost_fen = 0
        context.ledgers.clear()  # what the rolled-back batch drew from the lots is back
        for spec, chosen_plans, explanation in servable:
            try:
                with transaction.atomic():
                    cost, placements = _apply(context, spec, chosen_plans, explanation)
                    _move(context, {spec.id: placements})
            except DomainError as error:
                _fail(spec.id, f"分仓未能完成：{error.text}", result)
                continue
            result.allocated.append(spec.id)
            result.cost_fen += cost
    logger.info(
        "allocation batch %s: %d allocated, %d failed",
        result.batch_ref,
        len(result.allocated),
        len(result.failed),
    )
    return result


def _awaits_shipping(order: Order) -> bool:
    """Paid and not yet allocated — also when part of it was refunded before shipping (what
    is left is allocated; the refund already shrank its reservations)."""
    return order.status == OrderStatus.PAID or (
        order.status == OrderStatus.PARTIALLY_REFUNDED
        and order.status_before_refund == OrderStatus.PAID
    )


# --- explaining -------------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


def _explain(
    context: _Context,
    spec: plans.OrderSpec,
    chosen: Sequence[plans.Plan],
    job_of: dict[tuple[int, str], plans.Job],
) -> str:
    """The decision in a sentence per storage class: where from, by whom, how long, what it
    costs — and why this and not another warehouse."""
    parts = []
    storages = sorted({line.storage for line in spec.lines})
    for storage, plan in zip(storages, chosen, strict=False):
        job = job_of.get((spec.id, storage))
        word = STORAGE_WORDS.get(storage, storage)
        if not plan.served:
            parts.append(
                f"{word}商品：没有仓库有足够的合格库存并能按{word}条件发出，请补货或调整后重试"
            )
            continue
        shipped = "；".join(
            f"{context.warehouses[p.warehouse].name}，{context.carriers[p.carrier].name}，"
            f"{p.days} 天，{_yuan(p.cost_fen)}"
            for p in plan.parcels
        )
        parts.append(f"{shipped}：{_reason(plan, job, spec.max_days, word)}")
    return "；".join(parts)[:300]


def _reason(plan: plans.Plan, job: plans.Job | None, max_days: int | None, word: str) -> str:
    within = f"且 {max_days} 天内可达" if max_days else ""
    if plan.late_days:
        return f"没有方案能在承诺的 {max_days} 天内送达，已选最快可达的方案"
    options = job.plans if job else []
    whole = {p.parcels[0].warehouse for p in options if len(p.parcels) == 1 and not p.late_days}
    if len(plan.parcels) > 1:
        if not whole:
            return f"没有单个{word}仓库存足够，拆为 {len(plan.parcels)} 个包裹"
        return f"拆为 {len(plan.parcels)} 个包裹比单仓发货更省"
    if len(whole) == 1:
        return f"唯一有库存{within}的{word}仓"
    if options and plan == options[0]:
        return f"有库存{within}的{word}仓中运费最低"
    return "更近的仓库库存留给同批其他订单，整批运费最低"


# --- applying one order -----------------------------------------------------------------------


def _fail(order_id: int, reason: str, result: RunResult) -> None:
    with transaction.atomic():
        allocation = allocation_lock(order_id=order_id)
        if allocation is None or allocation.status != AllocationStatus.PENDING:
            return
        allocation.status = AllocationStatus.FAILED
        allocation.error = reason[:300]
        allocation.attempts += 1
        allocation.batch_ref = result.batch_ref
        allocation.decided_at = clock.now()
        allocation.save(update_fields=["status", "error", "attempts", "batch_ref", "decided_at"])
    result.failed[order_id] = reason


def _ledger(context: _Context, warehouse_id: int, sku_id: int) -> _LotLedger:
    key = (warehouse_id, sku_id)
    if key in context.ledgers:
        return context.ledgers[key]
    rows = list(
        BatchStock.objects.filter(warehouse_id=warehouse_id, batch__sku_id=sku_id, quantity__gt=0)
        .order_by("batch__expires_on", "pk")
        .values_list("batch_id", "batch__expires_on", "quantity", "on_hold")
    )
    unshipped = ShipmentLine.objects.filter(
        sku_id=sku_id,
        shipment__warehouse_id=warehouse_id,
        shipment__order__status__in=[OrderStatus.PAID, OrderStatus.ALLOCATED],
    )
    earmarked: dict[int | None, int] = {
        batch_id: units
        for batch_id, units in unshipped.values("batch_id")
        .annotate(units=Sum("quantity"))
        .values_list("batch_id", "units")
    }
    level = StockLevel.objects.filter(warehouse_id=warehouse_id, sku_id=sku_id).first()
    untracked = (level.on_hand if level else 0) - sum(units for _, _, units, _ in rows)
    ledger = _LotLedger(
        lots=[
            [batch_id, expires_on, units - earmarked.get(batch_id, 0)]
            for batch_id, expires_on, units, on_hold in rows
            if units > earmarked.get(batch_id, 0) and not on_hold
        ],
        untracked=max(0, untracked - earmarked.get(None, 0)),
    )
    context.ledgers[key] = ledger
    return ledger


def _fefo(
    context: _Context, order: Order, line: OrderLine, warehouse_id: int, units: int
) -> list[tuple[int | None, int]]:
    """The lots a parcel takes, first expiry first among lots fresh enough for the order's
    channel; units in no lot last. LotShortfall when they do not cover `units`."""
    product = line.sku.product
    min_expiry = earliest_eligible_expiry(
        channel=order.channel,
        shelf_life_days=product.shelf_life_days,
        today=context.today,
        product_code=product.code,
    )
    ledger = _ledger(context, warehouse_id, line.sku_id)
    eligible = [lot for lot in ledger.lots if lot[1] >= min_expiry and lot[2] > 0]
    if sum(lot[2] for lot in eligible) + ledger.untracked < units:
        raise LotShortfall(
            detail={"sku_id": line.sku_id, "warehouse_id": warehouse_id, "wanted": units}
        )
    picks: list[tuple[int | None, int]] = []
    left = units
    for lot in eligible:
        if left == 0:
            break
        take = min(lot[2], left)
        lot[2] -= take
        picks.append((lot[0], take))
        left -= take
    if left:
        ledger.untracked -= left
        picks.append((None, left))
    return picks


@transaction.atomic
def _apply_together(
    context: _Context,
    servable: Sequence[tuple[plans.OrderSpec, Sequence[plans.Plan], str]],
    result: RunResult,
) -> None:
    """The batch in one transaction: each order in its own savepoint (an order that fails
    rolls back alone and is marked failed), then every reservation moved at once by net
    change per stock level (`inventory.moves`: swaps between orders need it). A shortfall
    there rolls the whole batch back and raises."""
    moves: dict[int, dict[tuple[int, int], int]] = {}
    failed: dict[int, str] = {}
    for spec, chosen_plans, explanation in servable:
        try:
            with transaction.atomic():
                cost, placements = _apply(context, spec, chosen_plans, explanation)
        except DomainError as error:
            failed[spec.id] = f"分仓未能完成：{error.text}"
            continue
        moves[spec.id] = placements
        result.allocated.append(spec.id)
        result.cost_fen += cost
    _move(context, moves)
    for order_id, reason in failed.items():
        _fail(order_id, reason, result)  # rolled back with the batch if the moves fail


def _move(context: _Context, moves: dict[int, dict[tuple[int, int], int]]) -> None:
    reservations_move_many(
        moves={
            context.orders[order_id].order_no: [
                Placement(sku_id=s, warehouse_id=w, quantity=q)
                for (s, w), q in sorted(placements.items())
            ]
            for order_id, placements in moves.items()
        },
        actor=ALLOCATOR,
        channels={
            context.orders[order_id].order_no: context.orders[order_id].channel
            for order_id in moves
        },
    )


def _apply(
    context: _Context, spec: plans.OrderSpec, chosen: Sequence[plans.Plan], explanation: str
) -> tuple[int, dict[tuple[int, int], int]]:
    """One order, inside the caller's transaction: its shipments and lots, the order
    allocated; returns the cost and where its units should be reserved (sku, warehouse)."""
    allocation = allocation_lock(order_id=spec.id)
    if allocation is None or allocation.status != AllocationStatus.PENDING:
        raise AllocationStateInvalid("分仓决策已被处理", detail={"order_id": spec.id})
    order = context.orders[spec.id]
    now = clock.now()
    order_allocate(order_no=order.order_no, actor=ALLOCATOR, note="已分仓：" + explanation[:180])
    lines_by_sku: dict[int, list[OrderLine]] = {}
    for line in context.lines.get(spec.id, []):
        lines_by_sku.setdefault(line.sku_id, []).append(line)
    placements: dict[tuple[int, int], int] = {}
    cost = 0
    latest = 0
    for plan in chosen:
        for parcel in plan.parcels:
            shipment = Shipment.objects.create(
                shipment_no=new_id("SP"),
                allocation=allocation,
                order=order,
                warehouse_id=parcel.warehouse,
                carrier_id=parcel.carrier,
                storage=parcel.storage,
                cost_fen=parcel.cost_fen,
                weight_g=parcel.weight_g,
                transit_days=parcel.days,
                promised_on=promise_date(context.today, parcel.days),
                created_at=now,
                updated_at=now,
            )
            cost += parcel.cost_fen
            latest = max(latest, parcel.days)
            rows = []
            for sku_id, units in parcel.lines:
                placements[(sku_id, parcel.warehouse)] = (
                    placements.get((sku_id, parcel.warehouse), 0) + units
                )
                left = units
                for line in lines_by_sku[sku_id]:
                    take = min(left, line.quantity - line.refunded_quantity)
                    if take <= 0:
                        continue
                    for batch_id, lot_units in _fefo(context, order, line, parcel.warehouse, take):
                        rows.append(
                            ShipmentLine(
                                shipment=shipment,
                                order_line=line,
                                sku_id=sku_id,
                                batch_id=batch_id,
                                quantity=lot_units,
                            )
                        )
                    left -= take
                    if left == 0:
                        break
            ShipmentLine.objects.bulk_create(rows)
    allocation.status = AllocationStatus.ALLOCATED
    allocation.cost_fen = cost
    allocation.promised_on = promise_date(context.today, latest)
    allocation.explanation = explanation[:300]
    allocation.error = ""
    allocation.batch_ref = context.batch_ref
    allocation.attempts += 1
    allocation.decided_at = now
    allocation.save()
    return cost, placements
