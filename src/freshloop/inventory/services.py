"""Inventory writes (SPEC BM-2): receive, adjust, stock-take, reserve, release, ship.

Invariant: for every stock level, 0 <= reserved <= on_hand. Reservations never read-then-write:
they move `reserved` with one conditional UPDATE (`... WHERE on_hand - reserved >= n`), which
PostgreSQL re-checks after waiting for a concurrent writer's row lock and SQLite runs one
writer at a time — so two buyers of the last unit cannot both get it, whatever the timing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q

from freshloop.catalog.models import Batch, Sku
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import Conflict, InvalidInput
from freshloop.inventory.errors import OutOfStock
from freshloop.inventory.locks import lots_lock, stock_levels_lock
from freshloop.inventory.models import (
    BatchStock,
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    StockTake,
    Warehouse,
)

MAX_UNITS_PER_CHANGE = 1_000_000


def warehouse_upsert(
    *,
    code: str,
    name: str,
    province: str,
    city: str,
    address: str = "",
    ambient: bool = True,
    chilled: bool = False,
    frozen: bool = False,
) -> Warehouse:
    warehouse, _ = Warehouse.objects.update_or_create(
        code=code,
        defaults={
            "name": name,
            "province": province,
            "city": city,
            "address": address,
            "supports_ambient": ambient,
            "supports_chilled": chilled,
            "supports_frozen": frozen,
        },
    )
    return warehouse


def _stock_level(*, sku: Sku, warehouse: Warehouse) -> StockLevel:
    stock, _ = StockLevel.objects.get_or_create(sku=sku, warehouse=warehouse)
    return stock


def _movement(
    stock: StockLevel,
    kind: MovementKind,
    *,
    on_hand: int = 0,
    reserved: int = 0,
    ref: str = "",
    note: str = "",
    actor: Actor | None = None,
) -> None:
    StockMovement.objects.create(
        stock=stock,
        kind=kind,
        on_hand_delta=on_hand,
        reserved_delta=reserved,
        ref=ref,
        note=note[:200],
        actor=actor.label[:64] if actor else "",
        created_at=clock.now(),
    )


def _check_quantity(quantity: int, *, allow_negative: bool = False) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput("数量必须是整数", detail={"quantity": quantity})
    if abs(quantity) > MAX_UNITS_PER_CHANGE or (quantity <= 0 and not allow_negative):
        raise InvalidInput("数量不正确", detail={"quantity": quantity})


@transaction.atomic
def stock_receive(
    *,
    sku: Sku,
    warehouse: Warehouse,
    quantity: int,
    actor: Actor,
    batch: Batch | None = None,
    ref: str = "",
) -> StockLevel:
    """Goods arrive in a warehouse (optionally as a known production lot)."""
    _check_quantity(quantity)
    if not warehouse.can_store(sku.product.storage):
        raise InvalidInput(
            f"{warehouse.name}不具备{sku.product.get_storage_display()}条件",
            detail={"warehouse": warehouse.code, "storage": sku.product.storage},
        )
    if batch is not None and batch.sku_id != sku.pk:
        raise InvalidInput("批次不属于该商品", detail={"batch": batch.batch_no})
    stock = _stock_level(sku=sku, warehouse=warehouse)
    StockLevel.objects.filter(pk=stock.pk).update(on_hand=F("on_hand") + quantity)
    if batch is not None:
        batch_stock, _ = BatchStock.objects.get_or_create(batch=batch, warehouse=warehouse)
        BatchStock.objects.filter(pk=batch_stock.pk).update(quantity=F("quantity") + quantity)
    _movement(
        stock,
        MovementKind.RECEIVE,
        on_hand=quantity,
        ref=ref,
        note=batch.batch_no if batch else "",
        actor=actor,
    )
    stock.refresh_from_db()
    audit_record(
        actor=actor,
        action="inventory.stock_receive",
        target=stock,
        after={"quantity": quantity, "on_hand": stock.on_hand, "batch": batch and batch.batch_no},
    )
    return stock


@transaction.atomic
def stock_adjust(
    *, sku: Sku, warehouse: Warehouse, delta: int, reason: str, actor: Actor
) -> StockLevel:
    """Correct on-hand stock (damage, found goods). It can never drop below what is promised."""
    _check_quantity(delta, allow_negative=True)
    if delta == 0:
        raise InvalidInput("调整数量不能为 0", detail={"delta": delta})
    if not reason.strip():
        raise InvalidInput("请填写调整原因", detail={"reason": reason})
    stock = _stock_level(sku=sku, warehouse=warehouse)
    before = StockLevel.objects.get(pk=stock.pk)
    changed = StockLevel.objects.filter(pk=stock.pk, on_hand__gte=F("reserved") - delta).update(
        on_hand=F("on_hand") + delta
    )
    if not changed:
        raise Conflict(
            "调整后在库数量将少于已预占数量",
            detail={"on_hand": before.on_hand, "reserved": before.reserved, "delta": delta},
        )
    _movement(stock, MovementKind.ADJUST, on_hand=delta, note=reason, actor=actor)
    stock.refresh_from_db()
    audit_record(
        actor=actor,
        action="inventory.stock_adjust",
        target=stock,
        before={"on_hand": before.on_hand},
        after={"on_hand": stock.on_hand, "reason": reason},
    )
    return stock


@transaction.atomic
def stock_take(
    *, warehouse: Warehouse, counts: dict[int, int], actor: Actor, note: str = ""
) -> StockTake:
    """Record a physical count: on hand becomes what was counted, differences are kept.

    A count below what is already promised to orders is refused as a whole (nothing applied):
    those orders must be cancelled or moved first, otherwise the system would promise goods it
    knows are not there.
    """
    if not counts:
        raise InvalidInput("盘点结果不能为空")
    for counted in counts.values():
        _check_quantity(counted, allow_negative=True)
        if counted < 0:
            raise InvalidInput("盘点数量不能为负数", detail={"counted": counted})
    skus = {sku.pk: sku for sku in Sku.objects.filter(pk__in=counts)}
    missing = sorted(set(counts) - set(skus))
    if missing:
        raise InvalidInput("盘点中有不存在的 SKU", detail={"sku_ids": missing})
    levels = stock_levels_lock(warehouse=warehouse, sku_ids=counts)
    short = [
        {"sku_id": sku_id, "counted": counted, "reserved": levels[sku_id].reserved}
        for sku_id, counted in sorted(counts.items())
        if sku_id in levels and counted < levels[sku_id].reserved
    ]
    if short:
        raise Conflict("盘点数量少于已预占数量，请先处理相关订单", detail={"lines": short})
    take = StockTake.objects.create(
        warehouse=warehouse, note=note[:200], actor=actor.label[:64], created_at=clock.now()
    )
    lines = []
    for sku_id, counted in sorted(counts.items()):
        stock = levels.get(sku_id) or _stock_level(sku=skus[sku_id], warehouse=warehouse)
        difference = counted - stock.on_hand
        lines.append(
            {"sku_id": sku_id, "system": stock.on_hand, "counted": counted, "diff": difference}
        )
        if difference:
            StockLevel.objects.filter(pk=stock.pk).update(on_hand=counted)
            _movement(
                stock,
                MovementKind.STOCKTAKE,
                on_hand=difference,
                ref=f"ST{take.pk}",
                note=note,
                actor=actor,
            )
    take.lines = lines
    take.save(update_fields=["lines"])
    audit_record(actor=actor, action="inventory.stock_take", target=take, after={"lines": lines})
    return take


@dataclass(frozen=True)
class ReservationRequest:
    sku: Sku
    quantity: int


def _candidate_levels(sku: Sku, quantity: int, province: str) -> list[StockLevel]:
    """Warehouses that can store the product and hold enough, nearest (same province) first."""
    levels = [
        level
        for level in StockLevel.objects.select_related("warehouse").filter(
            sku=sku, warehouse__is_active=True, on_hand__gte=F("reserved") + quantity
        )
        if level.warehouse.can_store(sku.product.storage)
    ]
    return sorted(
        levels,
        key=lambda level: (level.warehouse.province != province, -level.available, level.pk),
    )


def stock_reserve(
    *,
    order_ref: str,
    requests: Sequence[ReservationRequest],
    expires_at: dt.datetime | None,
    province: str = "",
) -> list[Reservation]:
    """Promise units to an order, inside the caller's transaction (the order rolls back with it).

    Each line is taken whole from one warehouse; splitting a line across warehouses is the
    fulfillment module's job (SPEC FF-1). Raises OutOfStock naming the SKUs that cannot be had.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("stock_reserve must run inside the order's transaction")
    reservations: list[Reservation] = []
    short: list[dict[str, object]] = []
    now = clock.now()
    for request in sorted(requests, key=lambda r: r.sku.pk):
        _check_quantity(request.quantity)
        taken = False
        for level in _candidate_levels(request.sku, request.quantity, province):
            changed = StockLevel.objects.filter(
                pk=level.pk, on_hand__gte=F("reserved") + request.quantity
            ).update(reserved=F("reserved") + request.quantity)
            if changed:
                reservations.append(
                    Reservation.objects.create(
                        order_ref=order_ref,
                        stock=level,
                        quantity=request.quantity,
                        expires_at=expires_at,
                        created_at=now,
                    )
                )
                _movement(level, MovementKind.RESERVE, reserved=request.quantity, ref=order_ref)
                taken = True
                break
        if not taken:
            short.append({"sku_id": request.sku.pk, "name": str(request.sku)})
    if short:
        # Raising rolls back the caller's transaction, and with it every line reserved above.
        raise OutOfStock(detail={"skus": short})
    return reservations


def reservations_confirm(*, order_ref: str) -> int:
    """The order is paid: keep its units until they ship, with no payment deadline."""
    return Reservation.objects.filter(order_ref=order_ref, status=ReservationStatus.ACTIVE).update(
        expires_at=None
    )


def reservations_release(*, order_ref: str, note: str = "") -> int:
    """Give an order's promised units back (cancelled, expired, refunded before shipping).

    Idempotent: each reservation is closed by a conditional update, so a retried or concurrent
    release gives nothing back twice. Returns the number of units released.
    """
    released = 0
    now = clock.now()
    for reservation in Reservation.objects.filter(
        order_ref=order_ref, status=ReservationStatus.ACTIVE
    ).order_by("pk"):
        closed = Reservation.objects.filter(
            pk=reservation.pk, status=ReservationStatus.ACTIVE
        ).update(status=ReservationStatus.RELEASED, closed_at=now)
        if not closed:
            continue
        StockLevel.objects.filter(pk=reservation.stock_id).update(
            reserved=F("reserved") - reservation.quantity
        )
        _movement(
            reservation.stock,
            MovementKind.RELEASE,
            reserved=-reservation.quantity,
            ref=order_ref,
            note=note,
        )
        released += reservation.quantity
    return released


def reservations_ship(*, order_ref: str) -> list[Reservation]:
    """Units leave the warehouse: on hand and reserved both drop; lots go earliest expiry first."""
    shipped = []
    now = clock.now()
    for reservation in (
        Reservation.objects.select_related("stock")
        .filter(order_ref=order_ref, status=ReservationStatus.ACTIVE)
        .order_by("pk")
    ):
        closed = Reservation.objects.filter(
            pk=reservation.pk, status=ReservationStatus.ACTIVE
        ).update(status=ReservationStatus.SHIPPED, closed_at=now)
        if not closed:
            continue
        StockLevel.objects.filter(pk=reservation.stock_id).update(
            on_hand=F("on_hand") - reservation.quantity,
            reserved=F("reserved") - reservation.quantity,
        )
        _take_from_lots(reservation.stock, reservation.quantity)
        _movement(
            reservation.stock,
            MovementKind.SHIP,
            on_hand=-reservation.quantity,
            reserved=-reservation.quantity,
            ref=order_ref,
        )
        shipped.append(reservation)
    return shipped


def _take_from_lots(stock: StockLevel, quantity: int) -> None:
    remaining = quantity
    for lot in lots_lock(stock):
        take = min(lot.quantity, remaining)
        BatchStock.objects.filter(pk=lot.pk).update(quantity=F("quantity") - take)
        remaining -= take
        if remaining == 0:
            break


def reservations_overdue(*, now: dt.datetime) -> list[str]:
    """Order refs whose unpaid reservations passed their payment deadline."""
    return list(
        Reservation.objects.filter(Q(status=ReservationStatus.ACTIVE) & Q(expires_at__lt=now))
        .values_list("order_ref", flat=True)
        .distinct()
    )


def reservation_reduce(*, order_ref: str, sku_id: int, quantity: int) -> int:
    """Give back part of an order's unshipped units (a partial refund before shipping)."""
    _check_quantity(quantity)
    released = 0
    for reservation in Reservation.objects.filter(
        order_ref=order_ref, stock__sku_id=sku_id, status=ReservationStatus.ACTIVE
    ).order_by("pk"):
        take = min(reservation.quantity, quantity - released)
        shrunk = Reservation.objects.filter(
            pk=reservation.pk, status=ReservationStatus.ACTIVE, quantity__gte=take
        ).update(quantity=F("quantity") - take)
        if not shrunk:
            continue
        StockLevel.objects.filter(pk=reservation.stock_id).update(reserved=F("reserved") - take)
        _movement(reservation.stock, MovementKind.RELEASE, reserved=-take, ref=order_ref)
        released += take
        if released == quantity:
            break
    return released
