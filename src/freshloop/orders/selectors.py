"""Order reads for the buyer (their own orders only) and for operators."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from freshloop.identity.models import Person
from freshloop.orders.errors import OrderNotFound
from freshloop.orders.models import Cart, CartItem, Order, OrderEvent, PaymentProvider


def cart_items_for_person(*, person: Person) -> list[CartItem]:
    cart = Cart.objects.filter(person=person).first()
    if cart is None:
        return []
    return list(cart.items.select_related("sku__product").order_by("added_at", "id"))


def order_list_for_person(*, person: Person, status: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(person=person).prefetch_related("lines")
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-created_at", "-id")


def order_get_for_person(*, person: Person, order_no: str) -> Order:
    """Another buyer's order is "not found", never "forbidden": order numbers are not a secret
    worth confirming."""
    order = (
        Order.objects.filter(person=person, order_no=order_no)
        .prefetch_related(
            "lines", Prefetch("timeline", queryset=OrderEvent.objects.order_by("created_at", "id"))
        )
        .first()
    )
    if order is None:
        raise OrderNotFound(detail={"order_no": order_no})
    return order


def order_for_idempotency_key(*, person: Person, idempotency_key: str) -> Order | None:
    """The order a buyer already placed under this key, if any (the one lookup behind every
    "is this a retry?" question; `services.order_create` owns what a retry means)."""
    if not idempotency_key:
        return None
    return Order.objects.filter(person=person, idempotency_key=idempotency_key).first()


def payment_provider_label(provider: str) -> str:
    """微信支付 / 支付宝 / 沙箱支付 for a provider name; an unknown name is shown as it is."""
    return str(dict(PaymentProvider.choices).get(provider, provider))
