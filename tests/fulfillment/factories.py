"""Fulfillment test set-up: paid orders through the real checkout and payment, then their
allocation, parcels and lines as the allocation feature leaves them (decided, lines with their
lots) — for tests of what comes after allocation (tracking, telemetry, after-sales, recall,
integration). Allocation itself is tested through `allocations_run` (test_allocating.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from freshloop.catalog.models import Batch, Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.fulfillment.models import (
    Allocation,
    AllocationStatus,
    Carrier,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from freshloop.fulfillment.services import carrier_credential_set
from freshloop.identity.models import Person
from freshloop.inventory.models import Warehouse
from freshloop.inventory.services import stock_receive
from freshloop.orders.models import Order
from freshloop.orders.services import order_allocate
from tests.factories import make_order, make_person, make_sku, make_warehouse
from tests.orders.helpers import pay

OPERATOR = Actor.system("tests")
_numbers = itertools.count(1)


def make_carrier(
    code: str = "sf-cold", *, name: str = "顺丰冷运", chilled: bool = True, frozen: bool = True
) -> Carrier:
    carrier, _ = Carrier.objects.get_or_create(
        code=code,
        defaults={"name": name, "supports_chilled": chilled, "supports_frozen": frozen},
    )
    return carrier


def carrier_secret(carrier: Carrier, secret: str = "push-secret-00001") -> str:
    carrier_credential_set(carrier=carrier, changes={"webhook_secret": secret}, actor=OPERATOR)
    return secret


@dataclass
class ParcelOrder:
    order: Order
    shipments: list[Shipment]
    warehouse: Warehouse
    carrier: Carrier

    @property
    def shipment(self) -> Shipment:
        return self.shipments[0]


def make_parcel_order(
    *,
    parcels: int = 1,
    storage: str = "chilled",
    promised_on: dt.date | None = None,
    carrier: Carrier | None = None,
    allocated: bool = True,
    person: Person | None = None,
    sku_name: str = "鲜牛奶",
    explanation: str = "上海青浦冷链仓，顺丰冷运，1 天：唯一有货且 2 天内可达的冷链仓",
    lot_stocked: bool = True,
) -> ParcelOrder:
    """A paid (and, by default, allocated) order of `parcels` SKUs, each in its own parcel of
    `storage`, from one warehouse by `carrier`, every parcel in status created with its lot."""
    warehouse = Warehouse.objects.filter(code="sh").first() or make_warehouse("sh")
    carrier = carrier or make_carrier()
    skus = [make_sku(storage=storage, name=sku_name) for _ in range(parcels)]
    today = clock.to_shanghai(clock.now()).date()
    lots = {}
    for sku in skus:
        # The units are in a lot, as received goods are: the parcel ships that lot.
        lots[sku.pk] = batch_register(sku=sku, batch_no=f"L{next(_numbers):05d}", produced_on=today)
        stock_receive(sku=sku, warehouse=warehouse, quantity=50, actor=OPERATOR, batch=lots[sku.pk])
        if not lot_stocked:
            # The parcel names a lot the shelf does not hold: books and warehouse disagree.
            lots[sku.pk] = batch_register(
                sku=sku, batch_no=f"X{next(_numbers):05d}", produced_on=today
            )
    person = person or make_person()
    order = make_order(person, *((sku, 1) for sku in skus))
    order = pay(order)
    if allocated:
        order = order_allocate(order_no=order.order_no, actor=OPERATOR)
    shipments = [
        make_parcel(
            order,
            (sku, 1, lots[sku.pk]),
            status=ShipmentStatus.CREATED,
            storage=storage,
            warehouse=warehouse,
            carrier=carrier,
            promised_on=promised_on,
            explanation=explanation,
        )
        for sku in skus
    ]
    return ParcelOrder(order=order, shipments=shipments, warehouse=warehouse, carrier=carrier)


def make_batch(sku: Sku, batch_no: str, produced_on: dt.date | None = None) -> Batch:
    return batch_register(sku=sku, batch_no=batch_no, produced_on=produced_on or clock.now().date())


def paid_order(person: Person, *items: tuple[Sku, int]) -> Order:
    return pay(make_order(person, *items))


def _decided_allocation(
    order: Order, *, promised_on: dt.date | None, explanation: str
) -> Allocation:
    """Payment opened the order's allocation (pending); decide it as the solver would have."""
    now = clock.now()
    allocation, _ = Allocation.objects.get_or_create(order=order, defaults={"created_at": now})
    if allocation.status != AllocationStatus.ALLOCATED:
        Allocation.objects.filter(pk=allocation.pk).update(
            status=AllocationStatus.ALLOCATED,
            cost_fen=1800,
            promised_on=promised_on,
            explanation=explanation,
            decided_at=now,
        )
        allocation.refresh_from_db()
    return allocation


def make_parcel(
    order: Order,
    *lines: tuple[Sku, int, Batch | None],
    status: str = ShipmentStatus.DELIVERED,
    storage: str = "chilled",
    warehouse: Warehouse | None = None,
    carrier: Carrier | None = None,
    promised_on: dt.date | None = None,
    delivered_at: dt.datetime | None = None,
    explanation: str = "上海青浦冷链仓，顺丰冷运，1 天：唯一有货且 2 天内可达的冷链仓",
) -> Shipment:
    """One parcel of `order` with `lines` (sku, units, lot), as allocation writes it; handed
    over unless `status` is created or picked."""
    now = clock.now()
    allocation = _decided_allocation(order, promised_on=promised_on, explanation=explanation)
    handed_over = status not in {ShipmentStatus.CREATED, ShipmentStatus.PICKED}
    shipment = Shipment.objects.create(
        shipment_no=f"PK{next(_numbers):06d}",
        allocation=allocation,
        order=order,
        warehouse=warehouse or make_warehouse(),
        carrier=carrier or make_carrier(),
        storage=storage,
        status=status,
        cost_fen=1800,
        weight_g=1200,
        transit_days=1,
        promised_on=promised_on,
        created_at=now,
        updated_at=now,
        handed_over_at=now if handed_over else None,
        delivered_at=delivered_at or (now if status == ShipmentStatus.DELIVERED else None),
    )
    by_sku = {line.sku_id: line for line in order.lines.all()}
    for sku, quantity, batch in lines:
        ShipmentLine.objects.create(
            shipment=shipment, order_line=by_sku[sku.pk], sku=sku, batch=batch, quantity=quantity
        )
    return shipment


def event_fields(shipment: Shipment) -> dict[str, Any]:
    """The fields every parcel event carries."""
    return {
        "shipment_id": shipment.pk,
        "shipment_no": shipment.shipment_no,
        "order_id": shipment.order_id,
        "order_no": shipment.order.order_no,
        "person_id": shipment.order.person_id,
    }
