"""How orders react to identity: a merge moves orders, the cart and the address book to the
surviving OneID (its default stays the default) with the after-sales cases, PIPL export lists
the orders, saved addresses and after-sales cases, erasure destroys the delivery addresses, the
address book and the cases' descriptions and photos (the orders and the cases' decisions stay as
anonymous facts for revenue, stock and service quality)."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F

from freshloop.core.events import subscribe
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.models import Person
from freshloop.identity.services import register_export_section
from freshloop.orders.models import Address, AfterSalesCase, AfterSalesPhoto, Cart, CartItem, Order


@subscribe(IdentityMerged, durable=True)
def orders_follow_merge(event: IdentityMerged) -> None:
    with transaction.atomic():
        Order.objects.filter(person_id=event.from_person_id).update(person_id=event.into_person_id)
        AfterSalesCase.objects.filter(person_id=event.from_person_id).update(
            person_id=event.into_person_id
        )
        book = Address.objects.filter(person_id=event.from_person_id)
        if Address.objects.filter(person_id=event.into_person_id, is_default=True).exists():
            book.update(is_default=False)  # the survivor's default stays the one default
        book.update(person_id=event.into_person_id)
        old_cart = Cart.objects.filter(person_id=event.from_person_id).first()
        if old_cart is None:
            return
        cart, _ = Cart.objects.get_or_create(
            person_id=event.into_person_id, defaults={"updated_at": old_cart.updated_at}
        )
        for item in old_cart.items.all():
            moved = CartItem.objects.filter(cart=cart, sku_id=item.sku_id).update(
                quantity=F("quantity") + item.quantity
            )
            if not moved:
                CartItem.objects.create(
                    cart=cart, sku_id=item.sku_id, quantity=item.quantity, added_at=item.added_at
                )
        old_cart.delete()


@subscribe(PersonErased, durable=True)
def addresses_erased(event: PersonErased) -> None:
    Order.objects.filter(person_id=event.person_id).update(address={})
    Address.objects.filter(person_id=event.person_id).delete()
    photos = AfterSalesPhoto.objects.filter(case__person_id=event.person_id)
    for photo in photos:
        for stored in (photo.original, photo.webp_400, photo.webp_1080, photo.jpeg_1080):
            if stored.name:
                default_storage.delete(stored.name)
    photos.delete()
    AfterSalesCase.objects.filter(person_id=event.person_id).update(description="")


def orders_export_section(person: Person) -> list[dict[str, Any]]:
    return [
        {
            "order_no": order.order_no,
            "channel": order.channel,
            "status": order.status,
            "total_fen": order.total_fen,
            "paid_fen": order.paid_fen,
            "refunded_fen": order.refunded_fen,
            "created_at": order.created_at.isoformat(),
            "address": order.address,
            "lines": [
                {"product": line.product_name, "spec": line.spec, "quantity": line.quantity}
                for line in order.lines.all()
            ],
        }
        for order in Order.objects.filter(person=person).prefetch_related("lines").order_by("pk")
    ]


def addresses_export_section(person: Person) -> list[dict[str, Any]]:
    return [
        {**address.as_order_address(), "label": address.label, "is_default": address.is_default}
        for address in Address.objects.filter(person=person).order_by("pk")
    ]


def aftersales_export_section(person: Person) -> list[dict[str, Any]]:
    return [
        {
            "case_no": case.case_no,
            "order_no": case.order.order_no,
            "kind": case.get_kind_display(),
            "reason": case.get_reason_display(),
            "description": case.description,
            "lines": case.lines,
            "photos": [photo.url for photo in case.photos.all()],
            "status": case.get_status_display(),
            "decision_note": case.decision_note,
            "created_at": case.created_at.isoformat(),
        }
        for case in AfterSalesCase.objects.filter(person=person)
        .select_related("order")
        .prefetch_related("photos")
        .order_by("pk")
    ]


register_export_section("orders", orders_export_section)
register_export_section("addresses", addresses_export_section)
register_export_section("aftersales", aftersales_export_section)
