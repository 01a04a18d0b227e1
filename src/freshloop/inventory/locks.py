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

The conditional UPDATEs of reservations lock a level as much as `select_for_update` does;
that is why the stock take follows their order rather than the levels' primary keys (two
orders of lock, one by SKU and one by primary key, would let a stock take and a multi-SKU
order wait on each other). Orders lock the order row before any stock (`orders.locks`).
"""

from __future__ import annotations

from collections.abc import Iterable

from freshloop.inventory.models import BatchStock, Reservation, StockLevel, Warehouse


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
