"""Allocation moves reservations (issue 16, SPEC FF-1): an order reserves at checkout where
stock looked best then; after payment the fulfillment module's solver chooses the
warehouses, and the reservations follow — atomically, audited, one stock movement per change.

A batch is moved in ONE statement per stock level, by the level's net change over all its
orders: two orders swapping warehouses (one 上海 → 北京, the other 北京 → 上海, which is
exactly what batch allocation does when the first buyer was not the nearer one) could not be
moved one after the other with no slack, but their net change is zero. Levels are written in
their lock order (SKU, then warehouse: `inventory.locks`), each that grows with the
conditional update reservation uses, so a level is never over-promised whatever happened
since the solver read it; a shortfall raises OutOfStock and nothing moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.inventory.errors import OutOfStock
from freshloop.inventory.freshness import held_back_units
from freshloop.inventory.locks import block_lock
from freshloop.inventory.models import (
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
)

Key = tuple[int, int]  # (SKU id, warehouse id): the levels' own order


@dataclass(frozen=True)
class Placement:
    """Units of one SKU an order should hold in one warehouse after allocation."""

    sku_id: int
    warehouse_id: int
    quantity: int


def reservations_move(
    *, order_ref: str, placements: Sequence[Placement], actor: Actor, channel: str = ""
) -> list[Reservation]:
    """One order's reservations to the placements (see `reservations_move_many`)."""
    return reservations_move_many(
        moves={order_ref: placements}, actor=actor, channels={order_ref: channel}
    )


@transaction.atomic
def reservations_move_many(
    *,
    moves: Mapping[str, Sequence[Placement]],
    actor: Actor,
    channels: Mapping[str, str] | None = None,
) -> list[Reservation]:
    """Make each order's active reservations match its placements, all or nothing.

    Per order and SKU the units must stay the same (allocation moves, it never adds or
    drops: InvalidInput). SKUs already placed as asked are left alone, so a retry changes
    nothing; for the others every reservation is closed and new ones opened where asked. A
    unit drawn from a flash sale's block that is still open leaves the block (it shrinks, as
    when the unit ships), so the sale's remaining units stay right. A level that grows must
    still have the units fresh enough for the orders' `channels` (`inventory.freshness`).
    Returns the orders' active reservations afterwards.
    """
    channels = channels or {}
    wanted = {ref: _by_sku(placements) for ref, placements in moves.items()}
    active = list(
        Reservation.objects.select_related("stock", "stock__sku__product")
        .filter(order_ref__in=list(moves), status=ReservationStatus.ACTIVE, is_block=False)
        .order_by("pk")
    )
    held_now: dict[str, dict[int, dict[int, int]]] = {ref: {} for ref in moves}
    for r in active:
        per_sku = held_now[r.order_ref].setdefault(r.stock.sku_id, {})
        per_sku[r.stock.warehouse_id] = per_sku.get(r.stock.warehouse_id, 0) + r.quantity
    for ref in moves:
        have, want = held_now[ref], wanted[ref]
        if set(have) != set(want) or any(
            sum(have[sku].values()) != sum(want[sku].values()) for sku in want
        ):
            raise InvalidInput(
                "分仓数量与订单预占数量不一致",
                detail={"order_ref": ref, "held": have, "wanted": want},
            )
    changing = {
        ref: sorted(sku for sku in wanted[ref] if wanted[ref][sku] != held_now[ref][sku])
        for ref in moves
    }
    leaving = [r for r in active if r.stock.sku_id in changing[r.order_ref]]
    if not leaving:
        return active
    _shrink_blocks(leaving)
    sku_ids = {sku for skus in changing.values() for sku in skus}
    levels: dict[Key, StockLevel] = {
        (level.sku_id, level.warehouse_id): level
        for level in StockLevel.objects.filter(sku_id__in=sku_ids)
    }
    delta: dict[Key, int] = {}
    strictest: dict[Key, set[str]] = {}
    for r in leaving:
        key = (r.stock.sku_id, r.stock.warehouse_id)
        delta[key] = delta.get(key, 0) - r.quantity
    for ref, skus in changing.items():
        for sku in skus:
            for warehouse_id, units in wanted[ref][sku].items():
                key = (sku, warehouse_id)
                if key not in levels:
                    raise OutOfStock(
                        detail={"skus": [{"sku_id": sku, "warehouse_id": warehouse_id}]}
                    )
                delta[key] = delta.get(key, 0) + units
                strictest.setdefault(key, set()).add(channels.get(ref, ""))
    held = _held_back(leaving, strictest)
    for key in sorted(delta):
        change, level = delta[key], levels[key]
        if change < 0:
            StockLevel.objects.filter(pk=level.pk).update(reserved=F("reserved") + change)
        elif change > 0:
            grown = StockLevel.objects.filter(
                pk=level.pk, on_hand__gte=F("reserved") + change + held.get(key, 0)
            ).update(reserved=F("reserved") + change)
            if not grown:
                raise OutOfStock(detail={"skus": [{"sku_id": key[0], "warehouse_id": key[1]}]})
    now = clock.now()
    Reservation.objects.filter(pk__in=[r.pk for r in leaving]).update(
        status=ReservationStatus.RELEASED, closed_at=now
    )
    created = Reservation.objects.bulk_create(
        Reservation(
            order_ref=ref,
            stock=levels[(sku, warehouse_id)],
            quantity=units,
            expires_at=None,
            created_at=now,
        )
        for ref, skus in changing.items()
        for sku in skus
        for warehouse_id, units in sorted(wanted[ref][sku].items())
    )
    label = actor.label[:64]
    StockMovement.objects.bulk_create(
        [
            *(
                StockMovement(
                    stock=r.stock,
                    kind=MovementKind.RELEASE,
                    reserved_delta=-r.quantity,
                    ref=r.order_ref,
                    note="分仓调拨",
                    actor=label,
                    created_at=now,
                )
                for r in leaving
            ),
            *(
                StockMovement(
                    stock=r.stock,
                    kind=MovementKind.RESERVE,
                    reserved_delta=r.quantity,
                    ref=r.order_ref,
                    note="分仓调拨",
                    actor=label,
                    created_at=now,
                )
                for r in created
            ),
        ]
    )
    for ref, skus in changing.items():
        if skus:
            audit_record(
                actor=actor,
                action="inventory.reservations_move",
                target=next(r for r in created if r.order_ref == ref),
                before={str(sku): held_now[ref][sku] for sku in skus},
                after={str(sku): wanted[ref][sku] for sku in skus},
            )
    kept = [r for r in active if r.stock.sku_id not in changing[r.order_ref]]
    return [*kept, *created]


def _by_sku(placements: Sequence[Placement]) -> dict[int, dict[int, int]]:
    found: dict[int, dict[int, int]] = {}
    for placement in placements:
        if isinstance(placement.quantity, bool) or placement.quantity <= 0:
            raise InvalidInput("数量不正确", detail={"quantity": placement.quantity})
        per_sku = found.setdefault(placement.sku_id, {})
        per_sku[placement.warehouse_id] = (
            per_sku.get(placement.warehouse_id, 0) + placement.quantity
        )
    return found


def _shrink_blocks(leaving: Sequence[Reservation]) -> None:
    """Units leaving an open block shrink it (locked first: `inventory.locks` rule 3)."""
    for block_id in sorted({r.block_id for r in leaving if r.block_id is not None}):
        block = block_lock(block_id)
        if block.status == ReservationStatus.ACTIVE:
            units = sum(r.quantity for r in leaving if r.block_id == block_id)
            Reservation.objects.filter(pk=block_id).update(quantity=F("quantity") - units)


def _held_back(leaving: Sequence[Reservation], channels: Mapping[Key, set[str]]) -> dict[Key, int]:
    """Per growing level the units too old for the orders moving in — the most lenient of
    their channels (the solver already kept each order to its own channel's lots)."""
    skus = {r.stock.sku_id: r.stock.sku for r in leaving}
    by_channel = {
        channel: held_back_units(skus=list(skus.values()), channel=channel)
        for channel in {c for cs in channels.values() for c in cs}
    }
    return {
        key: min(by_channel[c].get((key[1], key[0]), 0) for c in cs) for key, cs in channels.items()
    }
