"""Row locks of the inventory module, taken in one order:

1. stock levels in SKU order (`StockLevel`'s own ordering: SKU, then warehouse). An order
   reserves its lines in SKU order (`stock_reserve`: the warehouse is only known once a
   conditional UPDATE succeeds, so it cannot sort by anything else), and releases and ships
   them in reservation order, which is the same; a stock take locks one warehouse's levels,
   where the SKU orders them totally, in that order too;
2. a level before its lots, lots in primary-key order;
3. a block reservation (`Reservation.is_block`) before the stock level it sets units aside
   in: closing a block, and releasing or shipping what was drawn from it, lock the block row
   first, then move the level (draws themselves lock nothing: see `stock_reserve`).

`stock_levels_reserve` takes an order's first-choice levels (one per SKU) in one statement,
locking them in SKU order first; a line whose first choice fell short in the meantime then
tries its other warehouses one by one, after that statement — the one place a level of a
lower SKU can be locked after a higher one. It needs a race on the first choice and a second
warehouse, and the deadlock it could cause is one PostgreSQL detects and `retry_transient`
retries.

The conditional UPDATEs of reservations lock a level as much as `select_for_update` does;
that is why the stock take follows their order rather than the levels' primary keys (two
orders of lock, one by SKU and one by primary key, would let a stock take and a multi-SKU
order wait on each other). Orders lock the order row before any stock (`orders.locks`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection

from freshloop.inventory.models import (
    BatchStock,
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Warehouse,
)


def stock_levels_lock(*, warehouse: Warehouse, sku_ids: Iterable[int]) -> dict[int, StockLevel]:
    """Lock one warehouse's levels of these SKUs in SKU order; returned by SKU id (SKUs with no
    level yet are left out)."""
    levels = (
        StockLevel.objects.select_for_update()
        .filter(warehouse=warehouse, sku_id__in=sorted(set(sku_ids)))
        .order_by("sku_id")
    )
    return {level.sku_id: level for level in levels}


def lots_lock(stock: StockLevel) -> list[BatchStock]:
    """Lock the lots of a level that still hold units, in primary-key order; returned earliest
    expiry first (the order shipping takes from them)."""
    lots = list(
        BatchStock.objects.select_for_update()
        .select_related("batch")
        .filter(warehouse_id=stock.warehouse_id, batch__sku_id=stock.sku_id, quantity__gt=0)
        .order_by("pk")
    )
    return sorted(lots, key=lambda lot: (lot.batch.expires_on, lot.pk))


def block_lock(block_id: int) -> Reservation:
    """Lock one block reservation (see `Reservation`): its status and quantity decide what a
    release or a shipment of a reservation drawn from it does to the stock level."""
    return Reservation.objects.select_for_update().get(pk=block_id)


def stock_levels_reserve(
    wanted: Sequence[tuple[int, int]], held_back: Mapping[int, int] | None = None
) -> set[int]:
    """Reserve `quantity` more units on each `(level id, quantity)` — levels of distinct SKUs —
    where the level still has them available, in one statement; returns the ids reserved on.

    `held_back` (by level id) is on-hand a reservation may not count on: units in lots too
    close to expiry for the order's channel (`inventory.freshness`). The bound becomes
    `on_hand - held_back >= reserved + quantity`, still one conditional UPDATE.

    The same conditional UPDATE as one level at a time (`on_hand >= reserved + quantity`, so
    a level is never over-promised), one round trip for the whole order. On PostgreSQL the
    levels are locked in SKU order before they are updated (an UPDATE … FROM locks rows in
    whatever order its plan visits them); SQLite has one writer at a time.
    """
    if not wanted:
        return set()
    table = connection.ops.quote_name(StockLevel._meta.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * len(wanted))
    held = held_back or {}
    params: list[int] = [
        v for level_id, qty in wanted for v in (level_id, qty, held.get(level_id, 0))
    ]
    if connection.vendor == "postgresql":
        sql = (
            f"WITH wanted (id, quantity, held) AS (VALUES {rows}), "  # noqa: S608 (table name from the model, values are parameters)
            f"locked AS MATERIALIZED (SELECT s.id FROM {table} s JOIN wanted w ON s.id = w.id::bigint "
            "ORDER BY s.sku_id FOR UPDATE OF s) "
            f"UPDATE {table} s SET reserved = s.reserved + w.quantity::integer "
            "FROM wanted w, locked l "
            "WHERE s.id = w.id::bigint AND l.id = s.id "
            "AND s.on_hand - w.held::integer >= s.reserved + w.quantity::integer "
            "RETURNING s.id"
        )
    else:
        sql = (
            f"WITH wanted (id, quantity, held) AS (VALUES {rows}) "  # noqa: S608 (table name from the model, values are parameters)
            f"UPDATE {table} SET reserved = {table}.reserved + wanted.quantity FROM wanted "
            f"WHERE {table}.id = wanted.id "
            f"AND {table}.on_hand - wanted.held >= {table}.reserved + wanted.quantity "
            f"RETURNING {table}.id"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def stock_levels_reserve_recorded(
    wanted: Sequence[tuple[int, int]],
    *,
    order_ref: str,
    expires_at: dt.datetime | None,
    now: dt.datetime,
    held_back: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """PostgreSQL only: `stock_levels_reserve`, and in the same statement the order's
    reservation and reserve movement on every level it reserved on; returns the new
    reservations' ids by level id (a level that fell short has neither).

    One round trip instead of three for the common order whose every line has its first
    choice; the levels are locked in SKU order exactly as `stock_levels_reserve` locks them."""
    if not wanted:
        return {}
    quote = connection.ops.quote_name
    levels = quote(StockLevel._meta.db_table)
    reservations = quote(Reservation._meta.db_table)
    movements = quote(StockMovement._meta.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * len(wanted))
    sql = (
        f"WITH wanted (id, quantity, held) AS (VALUES {rows}), "  # noqa: S608 (table names from the models, values are parameters)
        f"locked AS MATERIALIZED (SELECT s.id FROM {levels} s JOIN wanted w ON s.id = w.id::bigint "
        "ORDER BY s.sku_id FOR UPDATE OF s), "
        f"taken AS (UPDATE {levels} s SET reserved = s.reserved + w.quantity::integer "
        "FROM wanted w, locked l "
        "WHERE s.id = w.id::bigint AND l.id = s.id "
        "AND s.on_hand - w.held::integer >= s.reserved + w.quantity::integer "
        "RETURNING s.id, w.quantity::integer AS quantity), "
        f"promised AS (INSERT INTO {reservations} "
        "(order_ref, stock_id, quantity, is_block, block_id, status, expires_at, created_at, closed_at) "
        "SELECT %s, t.id, t.quantity, false, NULL, %s, %s::timestamptz, %s, NULL FROM taken t "
        "RETURNING id, stock_id), "
        f"moved AS (INSERT INTO {movements} "
        "(stock_id, kind, on_hand_delta, reserved_delta, ref, note, actor, created_at) "
        "SELECT t.id, %s, 0, t.quantity, %s, '', '', %s FROM taken t) "
        "SELECT stock_id, id FROM promised"
    )
    held = held_back or {}
    params: list[Any] = [
        v for level_id, qty in wanted for v in (level_id, qty, held.get(level_id, 0))
    ]
    params += [order_ref, ReservationStatus.ACTIVE, expires_at, now]
    params += [MovementKind.RESERVE, order_ref, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {stock_id: reservation_id for stock_id, reservation_id in cursor.fetchall()}
