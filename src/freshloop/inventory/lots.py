"""Lot-level book-out: units of one production lot leave stock for good — sold to staff
(员工内购) or written off (报损) — and leave the lot's own count as well as the warehouse's.

`stock_adjust` moves only `StockLevel.on_hand`; a lot whose units were taken that way would
still count them in `BatchStock.quantity`, so FEFO picking could choose units that are gone
and the near-expiry report would keep offering the lot. Here both counts drop by the same
units in one transaction.

Invariants, all checked under the row locks (`inventory.locks`: the level, then its lots in
primary-key order), so two concurrent calls cannot both pass a check the other invalidates:
- idempotent by `ref`: a movement of this level already carrying the key means the book-out
  happened; a second call (a double click, a retry) books nothing and says so;
- the lot gives at most what it holds (LotUnitsShort);
- on hand never drops below what is promised to orders (StockPromised);
- a lot on hold (a recall) may be written off — it is being destroyed — but never handed
  out to staff (LotOnHold): held units are unsafe to eat.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.inventory.errors import LotOnHold, LotUnitsShort, StockPromised
from freshloop.inventory.locks import lots_lock, stock_levels_lock
from freshloop.inventory.models import (
    BatchStock,
    MovementKind,
    StockLevel,
    StockMovement,
)

MAX_UNITS = 1_000_000
REF_MAX = StockMovement._meta.get_field("ref").max_length or 64


@dataclass(frozen=True)
class LotBookOut:
    """What a book-out did: `units` taken by this call, or — `already_done` — by the call
    that first used the same key (this one took nothing)."""

    batch_stock_id: int
    units: int
    already_done: bool
    movement_id: int
    lot_quantity: int
    on_hand: int


def _checked(units: int, reason: str, ref: str) -> None:
    problems = []
    if isinstance(units, bool) or not isinstance(units, int) or not 0 < units <= MAX_UNITS:
        problems.append(("units", "出库数量必须是 1 到 1000000 之间的整数"))
    if not reason.strip():
        problems.append(("reason", "请填写出库原因"))
    if not ref.strip() or len(ref) > REF_MAX:
        problems.append(("ref", f"请提供 1 到 {REF_MAX} 个字符的出库单号"))
    if problems:
        raise InvalidInput.for_fields(problems)


@transaction.atomic
def lot_book_out(
    *,
    batch_id: int,
    warehouse_id: int,
    units: int,
    reason: str,
    ref: str,
    actor: Actor,
    write_off: bool = False,
) -> LotBookOut:
    """Take `units` of lot `batch_id` out of warehouse `warehouse_id` for good, once per `ref`.

    `write_off` says the units are destroyed (报损): only then may a lot on hold give them.
    Lowers `BatchStock.quantity` and `StockLevel.on_hand` alike and records one ADJUST
    movement (note = reason, ref = the key) and an audit record."""
    _checked(units, reason, ref)
    lot = (
        BatchStock.objects.select_related("batch", "warehouse")
        .filter(batch_id=batch_id, warehouse_id=warehouse_id)
        .first()
    )
    if lot is None:
        raise NotFound("该仓库没有这个批次的库存", detail={"batch_id": batch_id})
    level = stock_levels_lock(warehouse=lot.warehouse, sku_ids=[lot.batch.sku_id]).get(
        lot.batch.sku_id
    )
    if level is None:  # goods of a lot always arrive through the level: nothing to take
        raise LotUnitsShort(detail={"batch_id": batch_id, "quantity": 0, "units": units})
    # Under the level's lock: a concurrent call with the same key has committed or waits.
    done = StockMovement.objects.filter(stock=level, kind=MovementKind.ADJUST, ref=ref).first()
    if done is not None:
        current = BatchStock.objects.get(pk=lot.pk)
        return LotBookOut(
            batch_stock_id=lot.pk,
            units=-done.on_hand_delta,
            already_done=True,
            movement_id=done.pk,
            lot_quantity=current.quantity,
            on_hand=level.on_hand,
        )
    locked = next((held for held in lots_lock(level) if held.pk == lot.pk), None)
    quantity = locked.quantity if locked is not None else 0
    if locked is not None and locked.on_hold and not write_off:
        raise LotOnHold(detail={"batch_id": batch_id, "hold_reason": locked.hold_reason})
    if quantity < units:
        raise LotUnitsShort(
            f"批次 {lot.batch.batch_no} 只有 {quantity} 件，不够出库 {units} 件",
            detail={"batch_id": batch_id, "quantity": quantity, "units": units},
        )
    if level.on_hand - units < level.reserved:
        raise StockPromised(
            detail={"on_hand": level.on_hand, "reserved": level.reserved, "units": units}
        )
    BatchStock.objects.filter(pk=lot.pk).update(quantity=F("quantity") - units)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=F("on_hand") - units)
    movement = StockMovement.objects.create(
        stock=level,
        kind=MovementKind.ADJUST,
        on_hand_delta=-units,
        ref=ref,
        note=reason[:200],
        actor=actor.label[:64],
        created_at=clock.now(),
    )
    audit_record(
        actor=actor,
        action="inventory.lot_book_out",
        target=level,
        before={"on_hand": level.on_hand, "lot_quantity": quantity},
        after={
            "on_hand": level.on_hand - units,
            "lot_quantity": quantity - units,
            "batch_id": batch_id,
            "units": units,
            "reason": reason[:200],
            "ref": ref,
            "write_off": write_off,
        },
    )
    return LotBookOut(
        batch_stock_id=lot.pk,
        units=units,
        already_done=False,
        movement_id=movement.pk,
        lot_quantity=quantity - units,
        on_hand=level.on_hand - units,
    )
