"""Inventory writes (SPEC BM-2): receive, adjust, stock-take, reserve, release, ship.

Invariant: for every stock level, 0 <= reserved <= on_hand. Reservations never read-then-write:
they move `reserved` with one conditional UPDATE (`... WHERE on_hand - reserved >= n`), which
PostgreSQL re-checks after waiting for a concurrent writer's row lock and SQLite runs one
writer at a time — so two buyers of the last unit cannot both get it, whatever the timing.
A block (`stock_block_reserve`, see `models.Reservation`) moves `reserved` once for many
orders; its owner keeps what is drawn from it within it (the live flash sale's `claimed`
counter, under its CHECK, does), so drawing touches no stock level at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Q, Sum

from freshloop.catalog.models import Batch, Sku
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import Conflict, InvalidInput
from freshloop.inventory.errors import OutOfStock
from freshloop.inventory.locks import (
    block_lock,
    stock_levels_lock,
    stock_levels_reserve,
    stock_levels_reserve_recorded,
)
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
from freshloop.inventory.picking import (
    LotPicks,
    take_from_lots,
    take_picked_lots,
)
from freshloop.inventory.picking import (
    candidate_levels as _candidate_levels,
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
    block_ref: str = ""
    """Draw the units from this active block (`stock_block_reserve`) instead of the shelf; when
    no such block is active they are reserved from the shelf as usual."""


def _reserve_on(level: StockLevel, quantity: int, held_back: int = 0) -> bool:
    """Promise `quantity` more units of one level if it still has them (never over-promised),
    not counting `held_back` units (too old for the order's channel)."""
    changed = StockLevel.objects.filter(
        pk=level.pk, on_hand__gte=F("reserved") + quantity + held_back
    ).update(reserved=F("reserved") + quantity)
    return changed > 0


def stock_reserve(
    *,
    order_ref: str,
    requests: Sequence[ReservationRequest],
    expires_at: dt.datetime | None,
    province: str = "",
    channel: str = "",
) -> list[Reservation]:
    """Promise units to an order, inside the caller's transaction (the order rolls back with it).
    Only units fresh enough for the order's `channel` count (`held_back_units`), so a paid
    order never meets a lot shortfall when it ships; the bound rides in the same conditional
    UPDATE (`locks.stock_levels_reserve`). Many orders at once: `batch_reserve`.

    Each line is taken whole from one warehouse; splitting a line across warehouses is the
    fulfillment module's job (SPEC FF-1). Raises OutOfStock naming the SKUs that cannot be had.
    A line with a `block_ref` whose block is active is drawn from the block: no stock level
    is read or written for it (that is the point: a flash sale's orders stop queuing on it)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("stock_reserve must run inside the order's transaction")
    for request in requests:
        _check_quantity(request.quantity)
    now = clock.now()
    block_refs = sorted({request.block_ref for request in requests if request.block_ref})
    blocks = (
        {
            block.order_ref: block
            for block in Reservation.objects.select_related("stock").filter(
                order_ref__in=block_refs, is_block=True, status=ReservationStatus.ACTIVE
            )
        }
        if block_refs
        else {}
    )
    drawn: list[Reservation] = []
    from_shelf: list[ReservationRequest] = []
    for request in requests:
        block = blocks.get(request.block_ref) if request.block_ref else None
        if block is not None and block.stock.sku_id == request.sku.pk:
            drawn.append(
                Reservation(
                    order_ref=order_ref,
                    stock_id=block.stock_id,
                    quantity=request.quantity,
                    expires_at=expires_at,
                    created_at=now,
                    block=block,
                )
            )
        else:
            from_shelf.append(request)
    taken: list[Reservation] = []
    short: list[dict[str, object]] = []
    candidates, held = _candidate_levels(
        [(r.sku, r.quantity) for r in from_shelf], province, channel
    )
    from_shelf.sort(key=lambda r: r.sku.pk)
    # Every line's first choice in one statement; only a line whose first choice fell short
    # since the read above tries its other warehouses, one at a time (see `locks`). On
    # PostgreSQL that statement also writes the first choices' reservations and movements.
    first_choices = [
        (candidates[r.sku.pk][0].pk, r.quantity) for r in from_shelf if candidates[r.sku.pk]
    ]
    recorded: dict[int, int] = {}
    if connection.vendor == "postgresql":
        recorded = stock_levels_reserve_recorded(
            first_choices, order_ref=order_ref, expires_at=expires_at, now=now, held_back=held
        )
        first_taken = set(recorded)
    else:
        first_taken = stock_levels_reserve(first_choices, held)
    written: list[Reservation] = []
    for request in from_shelf:
        levels = candidates[request.sku.pk]
        if levels and levels[0].pk in first_taken:
            reserved_on: StockLevel | None = levels[0]
        else:
            reserved_on = next(
                (
                    level
                    for level in levels[1:]
                    if _reserve_on(level, request.quantity, held.get(level.pk, 0))
                ),
                None,
            )
        if reserved_on is not None:
            reservation = Reservation(
                pk=recorded.get(reserved_on.pk),
                order_ref=order_ref,
                stock=reserved_on,
                quantity=request.quantity,
                expires_at=expires_at,
                created_at=now,
            )
            if reservation.pk:
                reservation._state.adding = False  # stored by the statement above
                written.append(reservation)
            else:
                taken.append(reservation)
        else:
            short.append({"sku_id": request.sku.pk, "name": str(request.sku)})
    if short:
        # Raising rolls back the caller's transaction, and with it every line reserved above.
        raise OutOfStock(detail={"skus": short})
    reservations = [*Reservation.objects.bulk_create([*drawn, *taken]), *written]
    if taken:
        StockMovement.objects.bulk_create(
            StockMovement(
                stock=reservation.stock,
                kind=MovementKind.RESERVE,
                reserved_delta=reservation.quantity,
                ref=order_ref,
                created_at=now,
            )
            for reservation in taken
        )
    return reservations


@transaction.atomic
def stock_block_reserve(
    *, block_ref: str, sku: Sku, quantity: int, actor: Actor
) -> Reservation | None:
    """Set `quantity` units of `sku` aside in one warehouse for the orders a sale will draw
    from it (`ReservationRequest.block_ref`); the owner keeps its draws within `quantity`.

    None when no single warehouse holds them all: the sale's orders then reserve one by one.
    """
    _check_quantity(quantity)
    if Reservation.objects.filter(order_ref=block_ref, is_block=True).exists():
        raise Conflict("整批预留已存在", detail={"block_ref": block_ref})
    for level in _candidate_levels([(sku, quantity)], "")[0][sku.pk]:
        if not _reserve_on(level, quantity):
            continue
        block = Reservation.objects.create(
            order_ref=block_ref,
            stock=level,
            quantity=quantity,
            is_block=True,
            expires_at=None,
            created_at=clock.now(),
        )
        _movement(level, MovementKind.RESERVE, reserved=quantity, ref=block_ref, actor=actor)
        audit_record(
            actor=actor,
            action="inventory.block_reserve",
            target=block,
            after={"sku_id": sku.pk, "warehouse_id": level.warehouse_id, "quantity": quantity},
        )
        return block
    return None


@transaction.atomic
def stock_block_close(*, block_ref: str, actor: Actor) -> int:
    """Give the block's undrawn units back to the shelf (the sale is over). What was drawn
    from it stays reserved for its orders, as ordinary reservations from now on. Idempotent;
    returns the units given back."""
    found = (
        Reservation.objects.filter(
            order_ref=block_ref, is_block=True, status=ReservationStatus.ACTIVE
        )
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        return 0
    block = block_lock(found)
    if block.status != ReservationStatus.ACTIVE:
        return 0  # a concurrent close did it
    drawn = (
        Reservation.objects.filter(block=block, status=ReservationStatus.ACTIVE).aggregate(
            units=Sum("quantity")
        )["units"]
        or 0
    )
    unused = block.quantity - drawn
    Reservation.objects.filter(pk=block.pk).update(
        status=ReservationStatus.RELEASED, closed_at=clock.now()
    )
    if unused:
        StockLevel.objects.filter(pk=block.stock_id).update(reserved=F("reserved") - unused)
        _movement(
            block.stock,
            MovementKind.RELEASE,
            reserved=-unused,
            ref=block_ref,
            note="整批预留结束",
            actor=actor,
        )
    audit_record(
        actor=actor,
        action="inventory.block_close",
        target=block,
        after={"drawn": drawn, "given_back": unused},
    )
    return unused


def _drawn_leaves(reservation: Reservation, units: int, *, shipped: bool) -> bool:
    """`units` of a reservation drawn from a block stop being drawn (released, or shipped).
    Returns True when the stock level is still covered by the active block — a release then
    leaves `reserved` as it is (the units are the block's again) and a shipment shrinks the
    block — and False when the block is closed (the level moves as for any reservation)."""
    assert reservation.block_id is not None
    block = block_lock(reservation.block_id)
    if block.status != ReservationStatus.ACTIVE:
        return False
    if shipped:
        Reservation.objects.filter(pk=block.pk).update(quantity=F("quantity") - units)
    return True


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
        released += reservation.quantity
        if reservation.block_id is not None and _drawn_leaves(
            reservation, reservation.quantity, shipped=False
        ):
            continue  # back in the sale's block, which still covers them in `reserved`
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
    return released


def reservations_ship(
    *, order_ref: str, channel: str = "", lot_picks: LotPicks | None = None
) -> list[Reservation]:
    """Units leave the warehouse: on hand and reserved both drop, and lots give them up —
    the lots in `lot_picks` when the allocation chose them, otherwise first-expiry-first-out
    among the lots fresh enough for `channel` (`inventory.freshness`). A lot that no longer
    has the units raises LotShortfall (the whole shipment rolls back): never ignored."""
    shipped = []
    now = clock.now()
    remaining_picks = {key: list(picks) for key, picks in (lot_picks or {}).items()}
    for reservation in (
        Reservation.objects.select_related("stock", "stock__sku__product")
        .filter(order_ref=order_ref, status=ReservationStatus.ACTIVE)
        .order_by("pk")
    ):
        closed = Reservation.objects.filter(
            pk=reservation.pk, status=ReservationStatus.ACTIVE
        ).update(status=ReservationStatus.SHIPPED, closed_at=now)
        if not closed:
            continue
        if reservation.block_id is not None:
            _drawn_leaves(reservation, reservation.quantity, shipped=True)
        stock = reservation.stock
        key = (stock.warehouse_id, stock.sku_id)
        units = take_picked_lots(stock, reservation.quantity, remaining_picks.get(key, []))
        if units:
            take_from_lots(stock, units, channel=channel)
        StockLevel.objects.filter(pk=reservation.stock_id).update(
            on_hand=F("on_hand") - reservation.quantity,
            reserved=F("reserved") - reservation.quantity,
        )
        _movement(
            stock,
            MovementKind.SHIP,
            on_hand=-reservation.quantity,
            reserved=-reservation.quantity,
            ref=order_ref,
        )
        shipped.append(reservation)
    return shipped


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
        released += take
        # Units drawn from an active block go back to it: the block still covers them.
        if reservation.block_id is None or not _drawn_leaves(reservation, take, shipped=False):
            StockLevel.objects.filter(pk=reservation.stock_id).update(reserved=F("reserved") - take)
            _movement(reservation.stock, MovementKind.RELEASE, reserved=-take, ref=order_ref)
        if released == quantity:
            break
    return released


# --- allocation moves reservations (issue 16, FF-1), written in moves.py -----------------------
from freshloop.inventory.batch_reserve import (  # noqa: E402, F401
    OrderStock,
    StockPlan,
    stock_plan_many,
    stock_reserve_planned,
)
from freshloop.inventory.holds import lot_hold as lot_hold  # noqa: E402
from freshloop.inventory.lots import lot_book_out as lot_book_out  # noqa: E402
from freshloop.inventory.moves import Placement as Placement  # noqa: E402
from freshloop.inventory.moves import reservations_move as reservations_move  # noqa: E402
from freshloop.inventory.moves import (  # noqa: E402
    reservations_move_many as reservations_move_many,
)
