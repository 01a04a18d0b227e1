"""Order reads for the buyer (their own orders only) and for operators."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from freshloop.core import clock
from freshloop.identity.models import Person
from freshloop.inventory.selectors import order_transit_days
from freshloop.orders.errors import AddressNotFound, OrderNotFound
from freshloop.orders.models import (
    Address,
    AfterSalesCase,
    AfterSalesStatus,
    Cart,
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PaymentProvider,
    RefundRequest,
    RefundStatus,
)
from freshloop.orders.shipping import shipping_rule_for as shipping_rule_for  # a read: public


def cart_items_for_person(*, person: Person) -> list[CartItem]:
    cart = Cart.objects.filter(person=person).first()
    if cart is None:
        return []
    return list(
        cart.items.select_related("sku__product")
        .prefetch_related("sku__product__images")
        .order_by("added_at", "id")
    )


def refund_request_list_pending(*, limit: int = 20) -> list[RefundRequest]:
    """Refund requests waiting for a decision, oldest first (customer service works the queue
    from its far end), with their orders."""
    return list(
        RefundRequest.objects.filter(status=RefundStatus.REQUESTED)
        .select_related("order")
        .order_by("created_at", "pk")[:limit]
    )


def refund_request_count_pending() -> int:
    return RefundRequest.objects.filter(status=RefundStatus.REQUESTED).count()


# An order's lines with what their pictures need (OrderLineOut's image_url / thumb_url).
LINES_WITH_PICTURES = Prefetch(
    "lines",
    queryset=OrderLine.objects.select_related("sku__product").prefetch_related(
        "sku__product__images"
    ),
)


def order_list_for_person(*, person: Person, status: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(person=person).prefetch_related(LINES_WITH_PICTURES)
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-created_at", "-id")


def order_get_for_person(*, person: Person, order_no: str) -> Order:
    """Another buyer's order is "not found", never "forbidden": order numbers are not a secret
    worth confirming."""
    order = (
        Order.objects.filter(person=person, order_no=order_no)
        .prefetch_related(
            LINES_WITH_PICTURES,
            Prefetch("timeline", queryset=OrderEvent.objects.order_by("created_at", "id")),
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


# Orders paid before this hour (Shanghai) leave the warehouse the same day, later ones the next.
DISPATCH_CUTOFF_HOUR = 16
_WEEKDAYS = "一二三四五六日"
_ESTIMATED_STATUSES = frozenset(
    {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.ALLOCATED, OrderStatus.SHIPPED}
)


@dataclass(frozen=True)
class DeliveryEstimate:
    """When an order should arrive: a simple promise from the transit table by warehouse and
    destination province (the fulfillment module's allocation replaces it with its own)."""

    on: dt.date
    transit_days: int
    after_payment: bool
    """True while unpaid: the date holds if the buyer pays now."""
    promised: bool = False
    """The fulfillment allocation's promise (warehouse, carrier and transit chosen), not the
    table's estimate."""

    @property
    def label(self) -> str:
        when = f"{self.on.month}月{self.on.day}日（周{_WEEKDAYS[self.on.weekday()]}）"
        if self.promised:
            return f"承诺 {when}前送达"
        return f"付款后预计 {when}送达" if self.after_payment else f"预计 {when}送达"


def order_delivery_estimate(
    *, order: Order, now: dt.datetime | None = None
) -> DeliveryEstimate | None:
    """The estimated delivery date of an order that is on its way (or would be once paid);
    None once delivered, cancelled or refunded, or when nothing is reserved for it."""
    if order.status not in _ESTIMATED_STATUSES:
        return None
    days = order_transit_days(order_ref=order.order_no, destination_province=order.province)
    if days is None:
        return None
    unpaid = order.status == OrderStatus.PENDING_PAYMENT
    ordered = clock.to_shanghai(
        (now or clock.now()) if unpaid or order.paid_at is None else order.paid_at
    )
    dispatch = ordered.date() + dt.timedelta(days=int(ordered.hour >= DISPATCH_CUTOFF_HOUR))
    return DeliveryEstimate(
        on=dispatch + dt.timedelta(days=days), transit_days=days, after_payment=unpaid
    )


def address_list_for_person(*, person: Person) -> list[Address]:
    """The buyer's address book: the default first, then the most recently changed."""
    return list(Address.objects.filter(person=person).order_by("-is_default", "-updated_at", "-id"))


def address_get_for_person(*, person: Person, address_id: int) -> Address:
    """Another buyer's address is "not found", never "forbidden": ids are not confirmed."""
    address = Address.objects.filter(person=person, pk=address_id).first()
    if address is None:
        raise AddressNotFound(detail={"address_id": address_id})
    return address


def address_default_for_person(*, person: Person) -> Address | None:
    return Address.objects.filter(person=person, is_default=True).first()


def payment_provider_label(provider: str) -> str:
    """微信支付 / 支付宝 / 沙箱支付 for a provider name; an unknown name is shown as it is."""
    return str(dict(PaymentProvider.choices).get(provider, provider))


def aftersales_cases_for_order(*, person: Person, order_no: str) -> list[AfterSalesCase]:
    """The buyer's cases on one of their orders, newest first (another buyer's: not found)."""
    order = Order.objects.filter(person=person, order_no=order_no).only("pk").first()
    if order is None:
        raise OrderNotFound(detail={"order_no": order_no})
    return list(
        AfterSalesCase.objects.filter(order=order)
        .select_related("refund")
        .prefetch_related("photos")
        .order_by("-created_at", "-id")
    )


def aftersales_case_list_for_person(*, person: Person) -> list[AfterSalesCase]:
    """Every case of one buyer, newest first."""
    return list(
        AfterSalesCase.objects.filter(person=person)
        .select_related("order", "refund")
        .prefetch_related("photos")
        .order_by("-created_at", "-id")[:100]
    )


def aftersales_case_count_waiting_for_person(*, person: Person) -> int:
    """How many of the buyer's cases wait for customer service (the badge on 我的)."""
    return AfterSalesCase.objects.filter(person=person, status=AfterSalesStatus.SUBMITTED).count()


def aftersales_case_list_open(*, limit: int = 20) -> list[AfterSalesCase]:
    """The customer-service queue: cases waiting for a decision, oldest first."""
    return list(
        AfterSalesCase.objects.filter(status=AfterSalesStatus.SUBMITTED)
        .select_related("order")
        .order_by("created_at", "id")[:limit]
    )


def aftersales_case_count_open() -> int:
    return AfterSalesCase.objects.filter(status=AfterSalesStatus.SUBMITTED).count()
