"""The pantry (FD-2): what a household has at home and until when, and what became of it.

Items arrive from delivered orders (the lot the parcel carried gives the expiry date), from a
scanned EAN-13 or typed by hand. "用完了" and "扔掉了" close an item; the waste-avoided counter
is what was used up on or before its expiry date against what was thrown away.

Expiry dates are Shanghai calendar dates (the date printed on the pack); "today" is always
the Shanghai date of `clock.now()`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q

from freshloop.catalog.models import Batch, Sku, StorageCondition
from freshloop.content.selectors import ingredient_normalise
from freshloop.core import clock
from freshloop.food.errors import PantryInputInvalid, PantryItemClosed, PantryItemNotFound
from freshloop.food.locks import pantry_item_lock
from freshloop.food.models import PantryBarcode, PantryItem, PantrySource, PantryStatus
from freshloop.food.recipe_cart import recipes_using
from freshloop.fulfillment.models import ShipmentLine, ShipmentStatus
from freshloop.identity.models import Person
from freshloop.orders.models import Order, OrderLine
from freshloop.orders.selectors import cart_items_for_person
from freshloop.orders.services import cart_item_set

MAX_QUANTITY = 999
MAX_DAYS_AHEAD = 3 * 366
"""A typed expiry more than about three years ahead is a typo (canned food is the longest)."""


def shanghai_today() -> dt.date:
    return clock.to_shanghai(clock.now()).date()


# --- EAN-13 ---------------------------------------------------------------------------------


def ean13_check_digit(first_twelve: str) -> int:
    """The GS1 check digit: weights 1, 3, 1, 3… from the left over the first 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return (10 - total % 10) % 10


def ean13_valid(code: str) -> bool:
    """Thirteen ASCII digits whose last is the check digit of the first twelve."""
    if len(code) != 13 or not code.isascii() or not code.isdigit():
        return False
    return ean13_check_digit(code[:12]) == int(code[12])


def pantry_barcode_lookup(*, ean: str) -> Sku | None:
    """The SKU a scanned barcode names, when an operator registered it."""
    row = PantryBarcode.objects.select_related("sku__product").filter(ean=ean).first()
    return row.sku if row is not None else None


# --- adding -----------------------------------------------------------------------------------


def _sku_line_name(sku: Sku) -> str:
    return f"{sku.product.name} {sku.spec}".strip()[:128]


def _estimated_expiry(line: OrderLine, delivered_on: dt.date) -> dt.date:
    return delivered_on + dt.timedelta(days=line.sku.product.shelf_life_days)


@transaction.atomic
def pantry_add_from_order(*, order_id: int) -> list[PantryItem]:
    """Put a delivered order's goods into its buyer's pantry: one item per order line and lot
    (a line split over two lots gives two items, each with its own date). Lines no parcel
    recorded a lot for get the delivery date plus the product's shelf life, marked estimated.
    Idempotent: an item already added for a line and lot is not added again (`source_key`)."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return []
    delivered_on = shanghai_today()
    by_line: dict[int, dict[int | None, int]] = {}
    shipped = ShipmentLine.objects.filter(
        shipment__order_id=order_id, shipment__status=ShipmentStatus.DELIVERED
    ).values_list("order_line_id", "batch_id", "quantity")
    for line_id, lot_id, units in shipped:
        line_lots = by_line.setdefault(line_id, {})
        line_lots[lot_id] = line_lots.get(lot_id, 0) + units
    added: list[PantryItem] = []
    lines = order.lines.select_related("sku__product").all()
    batches = Batch.objects.in_bulk(
        [batch_id for lots in by_line.values() for batch_id in lots if batch_id is not None]
    )
    for line in lines:
        kept = line.quantity - line.refunded_quantity
        if kept <= 0:
            continue
        lots = by_line.get(line.pk) or {None: kept}
        for batch_id, quantity in lots.items():
            batch = batches.get(batch_id) if batch_id is not None else None
            key = f"line:{line.pk}:lot:{batch_id or 0}"
            if PantryItem.objects.filter(source_key=key).exists():
                continue
            item = PantryItem(
                person_id=order.person_id,
                sku=line.sku,
                batch=batch,
                name=_sku_line_name(line.sku),
                storage=line.sku.product.storage,
                quantity=quantity,
                expires_on=batch.expires_on
                if batch is not None
                else _estimated_expiry(line, delivered_on),
                expiry_estimated=batch is None,
                source=PantrySource.ORDER,
                source_key=key,
                order_no=order.order_no,
                created_at=clock.now(),
            )
            try:
                with transaction.atomic():
                    item.save(force_insert=True)
            except IntegrityError:
                continue  # the same delivery handled at this instant elsewhere: first wins
            added.append(item)
    return added


@dataclass(frozen=True)
class PantryItemInput:
    """What a person types or scans. With a registered barcode, name and storage come from
    the SKU; otherwise both must be given."""

    expires_on: dt.date
    name: str = ""
    storage: str = ""
    barcode: str = ""
    quantity: int = 1


def pantry_item_add(*, person_id: int, data: PantryItemInput) -> PantryItem:
    """Add an item by scan or by hand; bad input is refused field by field, nothing written."""
    problems: list[tuple[str, str]] = []
    barcode = data.barcode.strip()
    sku: Sku | None = None
    if barcode:
        if not ean13_valid(barcode):
            problems.append(("barcode", "条码应为 13 位数字且校验位正确（EAN-13）"))
        else:
            sku = pantry_barcode_lookup(ean=barcode)
    name = data.name.strip() or (_sku_line_name(sku) if sku is not None else "")
    storage = data.storage or (sku.product.storage if sku is not None else "")
    if not name:
        problems.append(("name", "请填写物品名称"))
    elif len(name) > 128:
        problems.append(("name", "物品名称最多 128 个字"))
    if storage not in StorageCondition.values:
        problems.append(("storage", "请选择储存方式：常温、冷藏或冷冻"))
    if not 1 <= data.quantity <= MAX_QUANTITY:
        problems.append(("quantity", f"数量应在 1 到 {MAX_QUANTITY} 之间"))
    today = shanghai_today()
    if data.expires_on > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        problems.append(("expires_on", "到期日期太远了，请检查"))
    elif data.expires_on < today - dt.timedelta(days=365):
        problems.append(("expires_on", "到期日期已过去一年以上，请检查"))
    if problems:
        raise PantryInputInvalid.for_fields(problems)
    return PantryItem.objects.create(
        person_id=person_id,
        sku=sku,
        name=name,
        storage=storage,
        quantity=data.quantity,
        expires_on=data.expires_on,
        barcode=barcode,
        source=PantrySource.SCAN if barcode else PantrySource.TYPED,
        created_at=clock.now(),
    )


# --- closing ----------------------------------------------------------------------------------


@transaction.atomic
def pantry_item_close(*, person_id: int, item_id: int, outcome: str) -> PantryItem:
    """ "用完了" (`used`) or "扔掉了" (`thrown`). Someone else's item is not found (never
    revealed); an item already closed is refused, so a double tap counts once."""
    if outcome not in (PantryStatus.USED, PantryStatus.THROWN):
        raise PantryInputInvalid.for_fields([("outcome", "只能选择“用完了”或“扔掉了”")])
    item = pantry_item_lock(item_id=item_id)
    if item is None or item.person_id != person_id:
        raise PantryItemNotFound()
    if item.status != PantryStatus.ACTIVE:
        raise PantryItemClosed()
    item.status = outcome
    item.closed_at = clock.now()
    item.closed_on = shanghai_today()
    item.save(update_fields=["status", "closed_at", "closed_on"])
    return item


def pantry_cart_ensure(*, person: Person, sku_id: int) -> int:
    """One-tap reorder: the SKU is in the cart afterwards, at least once. Setting rather than
    adding, so the reminder's link tapped twice does not order two; returns the cart quantity.
    A SKU no longer sold is refused by the cart (not found)."""
    for line in cart_items_for_person(person=person):
        if line.sku_id == sku_id:
            return line.quantity
    cart_item_set(person=person, sku_id=sku_id, quantity=1)
    return 1


def pantry_person_merge(*, from_person_id: int, into_person_id: int) -> int:
    """Move a merged person's items to the survivor; returns how many moved."""
    return PantryItem.objects.filter(person_id=from_person_id).update(person_id=into_person_id)


def pantry_person_erase(*, person_id: int) -> int:
    """Delete an erased person's items; returns how many."""
    deleted, _ = PantryItem.objects.filter(person_id=person_id).delete()
    return deleted


# --- reads ----------------------------------------------------------------------------------


def pantry_items_for_person(*, person_id: int, include_closed: bool = False) -> list[PantryItem]:
    """The person's pantry, soonest expiry first."""
    items = PantryItem.objects.filter(person_id=person_id)
    if not include_closed:
        items = items.filter(status=PantryStatus.ACTIVE)
    return list(items.order_by("expires_on", "id")[:500])


def pantry_item_get_for_person(*, person_id: int, item_id: int) -> PantryItem:
    item = PantryItem.objects.filter(pk=item_id, person_id=person_id).first()
    if item is None:
        raise PantryItemNotFound()
    return item


@dataclass(frozen=True)
class WasteStats:
    """`saved`: items used up on or before their date; `used_late`: used after it (eaten,
    but not what the reminder is for); `thrown`: thrown away."""

    saved: int
    used_late: int
    thrown: int

    @property
    def saved_rate(self) -> int:
        """Percent of closed items that were not wasted (0 when nothing was closed)."""
        closed = self.saved + self.used_late + self.thrown
        return round(100 * (self.saved + self.used_late) / closed) if closed else 0


def pantry_waste_stats(*, person_id: int) -> WasteStats:
    counts = PantryItem.objects.filter(person_id=person_id).aggregate(
        saved=Count("pk", filter=Q(status=PantryStatus.USED, closed_on__lte=F("expires_on"))),
        used_late=Count("pk", filter=Q(status=PantryStatus.USED, closed_on__gt=F("expires_on"))),
        thrown=Count("pk", filter=Q(status=PantryStatus.THROWN)),
    )
    return WasteStats(
        saved=counts["saved"] or 0,
        used_late=counts["used_late"] or 0,
        thrown=counts["thrown"] or 0,
    )


def expiry_colour(expires_on: dt.date, *, today: dt.date | None = None) -> str:
    """The list's colour: expired (red), within 3 days (orange), within 7 (yellow), else green."""
    days = (expires_on - (today or shanghai_today())).days
    if days < 0:
        return "expired"
    if days <= 3:
        return "soon"
    if days <= 7:
        return "week"
    return "fresh"


def recipes_for_pantry_item(*, item: PantryItem, limit: int = 2) -> list[dict[str, str]]:
    """Recipes that use up a near-expiry item ({"title", "url"} each, the simplest first), for
    the reminder and the pantry page: the item's SKU names its ingredient, else its typed
    name does (the content library's normaliser: 农家土鸡蛋 → 鸡蛋)."""
    ingredient = ingredient_normalise(item.sku.product.name if item.sku else item.name)
    return [
        {"title": recipe.name, "url": f"/m/recipes/{recipe.pk}"}
        for recipe in recipes_using(ingredient=ingredient, limit=limit)
    ]
