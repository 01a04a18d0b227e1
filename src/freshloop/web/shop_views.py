"""The consumer H5 shop at /m/: products, cart, checkout, my orders, coupons and points.

Pages render what they show on the server; the interactive parts (cart quantities, coupon
choice, the explained price, placing the order and paying) call the public API from the page
with Alpine.js, so the H5 site uses exactly what a mini-program or partner app would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string

from freshloop.catalog.models import Category
from freshloop.catalog.selectors import (
    CATALOG_FRAGMENTS,
    product_get_for_channel,
    product_list_for_channel,
)
from freshloop.core.errors import DomainError, NotFound
from freshloop.core.fragments import fragment_cached, fragment_version
from freshloop.food.models import RegionRule
from freshloop.food.selectors import (
    person_region,
    products_rank_for_region,
    region_rules_in_force,
    rules_signature,
)
from freshloop.fulfillment.selectors import (
    ParcelView,
    auto_decisions_for_order,
    order_promise_preview,
    order_promised_on,
    shipments_for_order,
    temperature_chart,
)
from freshloop.groupbuy.presale.selectors import purchase_of_person_for_order
from freshloop.identity.auth import consumer_from_request
from freshloop.identity.errors import TokenInvalid
from freshloop.identity.models import Person
from freshloop.identity.selectors import person_identifiers_masked
from freshloop.inventory.selectors import batch_next_to_ship, stock_available_by_sku
from freshloop.membership.selectors import membership_summary, points_entries_for_person
from freshloop.messaging.selectors import inbox_for_person
from freshloop.orders.models import (
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesStatus,
    Order,
    OrderStatus,
)
from freshloop.orders.selectors import (
    DeliveryEstimate,
    address_default_for_person,
    aftersales_case_count_waiting_for_person,
    aftersales_case_list_for_person,
    aftersales_cases_for_order,
    cart_items_for_person,
    order_delivery_estimate,
    order_get_for_person,
    order_list_for_person,
    shipping_rule_for,
)
from freshloop.promotions.selectors import coupons_for_person
from freshloop.scrm.services import broadcast_click_record
from freshloop.web.leader_pickup import buyer_pickup

SHOP_CHANNEL = "shop"
SAFE_KEY = re.compile(r"[A-Za-z0-9_-]{0,40}")
Page = Callable[..., HttpResponse]

# A link's tracking code (`?src=bc-7` on a mass message's product link) is kept for 7 days in
# a cookie and sent with the next shop order as its `source_ref`, so the order is attributed.
SOURCE_COOKIE = "fl_src"
SOURCE_CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")
SOURCE_DAYS = 7


def _visitor(request: HttpRequest, person: Person | None) -> str:
    """Who opened a tracked link, for counting each visitor once: the shopper, or a hash of
    the address and browser of an anonymous visitor (nothing stored that names them)."""
    if person is not None:
        return f"p:{person.pk}"
    raw = f"{request.META.get('REMOTE_ADDR', '')}|{request.META.get('HTTP_USER_AGENT', '')}"
    return f"a:{hashlib.sha256(raw.encode()).hexdigest()[:40]}"


def _source_ref(request: HttpRequest) -> str:
    code = request.COOKIES.get(SOURCE_COOKIE, "")
    return code if SOURCE_CODE.fullmatch(code) else ""


def _person(request: HttpRequest) -> Person | None:
    try:
        record = consumer_from_request(request)
    except TokenInvalid:
        return None
    return record.person if record is not None else None


def consumer_page(view: Page) -> Page:
    """Pages that need a logged-in buyer send everyone else to the login page and back."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        person = _person(request)
        if person is None:
            return HttpResponseRedirect(f"/m/login?next={quote(request.get_full_path())}")
        return view(request, person, *args, **kwargs)

    return wrapper


def _not_found(request: HttpRequest, error: DomainError) -> HttpResponse:
    return render(request, "web/h5/error.html", {"message": error.text}, status=error.status)


def h5_shop_home(request: HttpRequest) -> HttpResponse:
    category_code = request.GET.get("c", "")
    person = _person(request)
    # Regional pools (FD-5): the grid is ordered and filtered by the rules in force for the
    # visitor's region; visitors under the same rules share one cached grid.
    region = person_region(person=person)
    rules = region_rules_in_force(region=region)
    if SAFE_KEY.fullmatch(category_code):
        key = (
            f"h5-grid:{fragment_version(CATALOG_FRAGMENTS)}:{rules_signature(rules)}:"
            f"{category_code}"
        )
        grid = fragment_cached(key, lambda: _shop_grid(category_code, rules))
    else:  # not a category code: render it, but don't fill the cache with what anyone typed
        grid = _shop_grid(category_code, rules)
    return render(
        request,
        "web/h5/shop/home.html",
        {"grid": grid, "person": person, "tab": "shop", "region": region},
    )


def _shop_grid(category_code: str, rules: list[RegionRule]) -> str:
    """The category chips and product cards: the same for every visitor under the same
    regional rules (cached)."""
    products = products_rank_for_region(
        product_list_for_channel(channel=SHOP_CHANNEL, category_code=category_code or None),
        rules=rules,
    )
    sku_ids = [sku.pk for product in products for sku in product.skus.all()]
    available = stock_available_by_sku(sku_ids=sku_ids)
    cards = []
    for product in products:
        skus = list(product.skus.all())
        if not skus:
            continue
        cheapest = min(skus, key=lambda sku: sku.price_fen)
        cards.append(
            {
                "product": product,
                "image": next(iter(product.images.all()), None),
                "price_fen": cheapest.price_fen,
                "many_specs": len(skus) > 1,
                "sold_out": all(available.get(sku.pk, 0) <= 0 for sku in skus),
            }
        )
    categories = Category.objects.filter(parent__isnull=True).order_by("sort_order", "id")
    return render_to_string(
        "web/h5/shop/_grid.html",
        {"cards": cards, "categories": categories, "current": category_code},
    )


def h5_product(request: HttpRequest, product_id: int) -> HttpResponse:
    key = f"h5-product:{fragment_version(CATALOG_FRAGMENTS)}:{product_id}"
    detail = fragment_cached(key, lambda: _product_detail(product_id))
    if detail is None:
        return _not_found(request, NotFound("商品不存在或已下架"))
    person = _person(request)
    response = render(
        request, "web/h5/shop/product.html", {"detail": detail, "logged_in": person is not None}
    )
    code = request.GET.get("src", "")
    if SOURCE_CODE.fullmatch(code):
        broadcast_click_record(
            tracking_code=code,
            visitor=_visitor(request, person),
            person_id=person.pk if person is not None else None,
        )
        response.set_cookie(
            SOURCE_COOKIE,
            code,
            max_age=SOURCE_DAYS * 86400,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


def _product_detail(product_id: int) -> dict[str, Any] | None:
    """The product's name, first SKU and rendered body (cached), or None when it is not sold
    in the shop."""
    try:
        product = product_get_for_channel(product_id=product_id, channel=SHOP_CHANNEL)
    except DomainError:
        return None
    skus = list(product.skus.all())
    available = stock_available_by_sku(sku_ids=[sku.pk for sku in skus])
    options = [
        {
            "sku": sku,
            "available": available.get(sku.pk, 0),
            "batch": batch_next_to_ship(sku_id=sku.pk),
        }
        for sku in skus
    ]
    body = render_to_string(
        "web/h5/shop/_product_body.html", {"product": product, "options": options}
    )
    return {
        "name": product.name,
        "first_sku_id": skus[0].pk if skus else "null",
        "body": body,  # SafeString: escaped by its template, and it stays so in the cache
    }


@consumer_page
def h5_cart(request: HttpRequest, person: Person) -> HttpResponse:
    items = cart_items_for_person(person=person)
    # The cart knows no address yet: the buyer's default one, else the nationwide rule.
    default = address_default_for_person(person=person)
    rule = shipping_rule_for(default.province if default is not None else "")
    return render(
        request,
        "web/h5/shop/cart.html",
        {
            "items": items,
            "tab": "cart",
            "shipping_rule": rule.name,
            "free_shipping_from_fen": rule.free_shipping_from_fen,
        },
    )


@consumer_page
def h5_checkout(request: HttpRequest, person: Person) -> HttpResponse:
    """Checkout for the cart, or for one SKU bought at once (`?sku=&qty=`)."""
    single = None
    if request.GET.get("sku"):
        try:
            single = {
                "sku_id": int(request.GET["sku"]),
                "quantity": int(request.GET.get("qty", "1")),
            }
        except ValueError:
            single = None
    last = Order.objects.filter(person=person).order_by("-id").first()
    address = last.address if last is not None else {}
    return render(
        request,
        "web/h5/shop/checkout.html",
        {
            "single": single,
            "address": address,
            "summary": membership_summary(person=person),
            "source_ref": _source_ref(request),
        },
    )


@consumer_page
def h5_orders(request: HttpRequest, person: Person) -> HttpResponse:
    orders = list(order_list_for_person(person=person)[:50])
    return render(request, "web/h5/shop/orders.html", {"orders": orders, "tab": "me"})


def _delivery(order: Order) -> DeliveryEstimate | None:
    """When the order arrives (SPEC FF-1): the allocation's promise once it chose warehouses
    and carriers; before that what allocation would promise if it ran now (the same problem,
    the same rule for the date), so the date a buyer sees before paying is the one promised
    after; the transit table's estimate when allocation could not place it (no carrier,
    no fresh enough stock). None when no date applies (delivered, cancelled, refunded)."""
    estimate = order_delivery_estimate(order=order)
    if estimate is None:
        return None
    if order.status != OrderStatus.PENDING_PAYMENT:  # unpaid: no allocation yet, no query
        promised_on = order_promised_on(order_id=order.pk)
        if promised_on is not None:
            return dataclasses.replace(estimate, on=promised_on, after_payment=False, promised=True)
    preview = order_promise_preview(order=order)
    if preview is None:
        return estimate
    return dataclasses.replace(estimate, on=preview.on, transit_days=preview.days)


@consumer_page
def h5_order(request: HttpRequest, person: Person, order_no: str) -> HttpResponse:
    try:
        order = order_get_for_person(person=person, order_no=order_no)
    except DomainError as error:
        return _not_found(request, error)
    cases = aftersales_cases_for_order(person=person, order_no=order_no)
    parcels = shipments_for_order(order.pk)
    return render(
        request,
        "web/h5/shop/order.html",
        {
            "order": order,
            "delivery": _delivery(order),
            "parcels": parcels,
            "parcel_charts": _parcel_charts(parcels),
            # What the after-sales rules decided on their own (an excursion, a late parcel, a
            # recall): the buyer reads why, not only that money moved.
            "auto_decisions": auto_decisions_for_order(order_id=order.pk),
            "aftersales_cases": cases,
            **_aftersales_form(order, cases),
            # An order attributed to a group leader: where to collect it, with the code.
            **buyer_pickup(person=person, order_no=order.order_no),
            # A presale's deposit or balance order: the other half of the purchase, linked.
            "presale_purchase": purchase_of_person_for_order(person=person, order_no=order_no),
        },
    )


def _parcel_charts(parcels: list[ParcelView]) -> dict[str, Any]:
    """Each cold parcel's temperature line for ECharts: points (ms, °C, Shanghai time label),
    the safe band and the excursions, keyed by parcel number."""
    charts: dict[str, Any] = {}
    for parcel in parcels:
        if not parcel.cold or not parcel.readings:
            continue
        charts[parcel.shipment.shipment_no] = temperature_chart(
            readings=parcel.readings, band=parcel.band, excursions=parcel.excursions
        )
    return charts


# Paid or later and not waiting on a refund decision: where 「申请售后」 is offered.
AFTERSALES_STATUSES = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.ALLOCATED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.PARTIALLY_REFUNDED,
    }
)


def _aftersales_form(order: Order, cases: list[Any]) -> dict[str, Any]:
    """What the 申请售后 form needs: whether it is offered, the choices, and each line's units
    still open to a claim."""
    lines: list[dict[str, Any]] = [
        {
            "id": line.pk,
            "name": f"{line.product_name} {line.spec}",
            "left": line.quantity - line.refunded_quantity,
        }
        for line in order.lines.all()
    ]
    can_open = (
        order.status in AFTERSALES_STATUSES
        and not any(case.status == AfterSalesStatus.SUBMITTED for case in cases)
        and any(line["left"] > 0 for line in lines)
    )
    return {
        "aftersales_can_open": can_open,
        "aftersales_lines": lines,
        "aftersales_kinds": AfterSalesKind.choices,
        "aftersales_reasons": AfterSalesReason.choices,
    }


@consumer_page
def h5_aftersales(request: HttpRequest, person: Person) -> HttpResponse:
    cases = aftersales_case_list_for_person(person=person)
    return render(request, "web/h5/shop/aftersales.html", {"cases": cases, "tab": "me"})


@consumer_page
def h5_messages(request: HttpRequest, person: Person) -> HttpResponse:
    """The buyer's in-app messages (站内信): order, after-sales and delivery notices."""
    messages = inbox_for_person(person_id=person.pk)
    return render(request, "web/h5/shop/messages.html", {"messages": messages, "tab": "me"})


@consumer_page
def h5_coupons(request: HttpRequest, person: Person) -> HttpResponse:
    status = request.GET.get("s", "available")
    if status not in {"available", "used", "expired"}:
        status = "available"
    coupons = list(coupons_for_person(person_id=person.pk, status=status)[:100])
    return render(request, "web/h5/shop/coupons.html", {"coupons": coupons, "status": status})


@consumer_page
def h5_points(request: HttpRequest, person: Person) -> HttpResponse:
    return render(
        request,
        "web/h5/shop/points.html",
        {
            "summary": membership_summary(person=person),
            "entries": list(points_entries_for_person(person=person)[:50]),
        },
    )


def h5_me(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    context: dict[str, Any] = {"person": person, "tab": "me"}
    if person is not None:
        context["identifiers"] = person_identifiers_masked(person=person)
        context["summary"] = membership_summary(person=person)
        context["open_aftersales"] = aftersales_case_count_waiting_for_person(person=person)
    return render(request, "web/h5/home.html", context)
