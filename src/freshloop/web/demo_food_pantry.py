"""Pantry part of the demo brand (FD-2): barcodes of a few demo SKUs (so scanning works), the
reminder lead times per storage class, the recently delivered demo orders in their buyers'
pantries, and a filled pantry for the demo shopper (demo_scrm.LOOP_PHONE): items of every
colour, one used up in time and one thrown away, so /m/pantry shows a counter.

Through the food services. Idempotent: barcodes and rules by key, orders by line and lot, the
shopper's typed items only when their pantry has none typed yet."""

from __future__ import annotations

import datetime as dt

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.food.models import PantryBarcode, PantryReminderRule, PantrySource
from freshloop.food.selectors import DEFAULT_DAYS_BEFORE, ean13_check_digit, pantry_items_for_person
from freshloop.food.services import (
    PantryItemInput,
    pantry_add_from_order,
    pantry_item_add,
    pantry_item_close,
)
from freshloop.identity.selectors import person_by_identifier
from freshloop.orders.models import Order, OrderStatus
from freshloop.web import demo_scrm

BARCODE_SKUS = (
    "milk-pasture-950",
    "milk-a2-750",
    "yogurt-plain-1kg",
    "dumpling-pork-1kg",
    "rice-wuchang-5kg",
)


def demo_ean(number: int) -> str:
    """A valid EAN-13 under the 690 (China) prefix for the demo's n-th barcode."""
    first_twelve = f"690{number:09d}"
    return first_twelve + str(ean13_check_digit(first_twelve))


def _barcodes() -> int:
    created = 0
    skus = {sku.code: sku for sku in Sku.objects.filter(code__in=BARCODE_SKUS)}
    for index, code in enumerate(BARCODE_SKUS, start=1):
        sku = skus.get(code) or Sku.objects.order_by("pk")[index - 1 : index].first()
        if sku is None:
            continue
        _, made = PantryBarcode.objects.get_or_create(ean=demo_ean(index), defaults={"sku": sku})
        created += made
    return created


def _typed(person_id: int) -> int:
    today = clock.to_shanghai(clock.now()).date()
    if any(i.source != PantrySource.ORDER for i in pantry_items_for_person(person_id=person_id)):
        return 0
    plan = [
        ("鸡蛋", "chilled", 1),
        ("切片吐司", "ambient", 3),
        ("速冻虾仁", "frozen", 20),
        ("橄榄油", "ambient", 200),
        ("豆腐", "chilled", -1),
    ]
    for name, storage, days in plan:
        pantry_item_add(
            person_id=person_id,
            data=PantryItemInput(
                name=name, storage=storage, expires_on=today + dt.timedelta(days=days)
            ),
        )
    used = pantry_item_add(
        person_id=person_id,
        data=PantryItemInput(
            barcode=demo_ean(1), expires_on=today + dt.timedelta(days=2), name="", storage=""
        )
        if PantryBarcode.objects.filter(ean=demo_ean(1)).exists()
        else PantryItemInput(name="酸奶", storage="chilled", expires_on=today),
    )
    pantry_item_close(person_id=person_id, item_id=used.pk, outcome="used")
    thrown = pantry_item_add(
        person_id=person_id,
        data=PantryItemInput(name="生菜", storage="chilled", expires_on=today),
    )
    pantry_item_close(person_id=person_id, item_id=thrown.pk, outcome="thrown")
    return len(plan) + 2


def seed_pantry() -> str:
    """Seed the pantry demo; returns the line demo_seed prints."""
    barcodes = _barcodes()
    for storage, days in DEFAULT_DAYS_BEFORE.items():
        PantryReminderRule.objects.get_or_create(storage=storage, defaults={"days_before": days})
    since = clock.now() - dt.timedelta(days=14)
    orders = Order.objects.filter(
        status__in=[OrderStatus.DELIVERED, OrderStatus.COMPLETED], created_at__gte=since
    ).values_list("pk", flat=True)
    from_orders = sum(len(pantry_add_from_order(order_id=pk)) for pk in orders)
    shopper = person_by_identifier(identifier_type="phone", value=demo_scrm.LOOP_PHONE)
    typed = _typed(shopper.pk) if shopper is not None else 0
    return (
        f"  pantry      {barcodes} barcodes new (scan {demo_ean(1)} = 牧场鲜牛奶), "
        f"{from_orders} items from delivered orders, {typed} items for {demo_scrm.LOOP_PHONE}; "
        "/m/pantry, daily job food.pantry_reminders\n"
    )
