"""Consumer H5 pages of smart subscriptions (FD-1): subscribe from a product page with the
cadence the household's own purchases suggest, and manage subscriptions (skip next, pause,
resume, cancel, change the basket or the address, pay by contract — 自动扣款 — or not). The pages render what the food selectors say; every change goes through
/api/v1/food/subscriptions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from freshloop.catalog.models import Sku
from freshloop.food.selectors import (
    cadence_suggestion_for,
    subscription_discount_percent,
    subscription_list_for_person,
)
from freshloop.identity.models import Person
from freshloop.orders.selectors import address_list_for_person
from freshloop.payments.selectors import contract_active_for, contracts_for
from freshloop.payments.services import contract_providers
from freshloop.web.shop_views import consumer_page


def _payment_context(person: Person) -> dict[str, object]:
    """What the pages need to offer 自动扣款: the active contract, and where one can be signed."""
    return {
        "contract": contract_active_for(person_id=person.pk),
        "contract_providers": contract_providers(),
    }


@consumer_page
def h5_subscriptions(request: HttpRequest, person: Person) -> HttpResponse:
    subscriptions = subscription_list_for_person(person=person)
    sku_ids = {int(line["sku_id"]) for s in subscriptions for line in s.items}
    skus = Sku.objects.select_related("product").in_bulk(sku_ids)
    for subscription in subscriptions:
        # the basket as the 修改 panel shows it: each line's product, spec and quantity
        subscription.lines = [  # type: ignore[attr-defined]
            {
                "sku_id": int(line["sku_id"]),
                "name": skus[int(line["sku_id"])].product.name
                if int(line["sku_id"]) in skus
                else "已下架商品",
                "spec": skus[int(line["sku_id"])].spec if int(line["sku_id"]) in skus else "",
                "quantity": int(line["quantity"]),
            }
            for line in subscription.items
        ]
    return render(
        request,
        "web/h5/food/subscriptions.html",
        {
            "subscriptions": subscriptions,
            "addresses": address_list_for_person(person=person),
            "contracts": contracts_for(person_id=person.pk),
            **_payment_context(person),
        },
    )


@consumer_page
def h5_subscribe(request: HttpRequest, person: Person) -> HttpResponse:
    raw = request.GET.get("sku", "")
    sku = (
        Sku.objects.select_related("product").filter(pk=int(raw), is_active=True).first()
        if raw.isdigit() and len(raw) < 12
        else None
    )
    if sku is None:
        return render(request, "web/h5/error.html", {"message": "商品不存在或已下架"}, status=404)
    suggestion = cadence_suggestion_for(person=person, sku_id=sku.pk)
    percent = subscription_discount_percent(sku_id=sku.pk)
    return render(
        request,
        "web/h5/food/subscribe.html",
        {
            "sku": sku,
            "suggestion": suggestion,
            "every_days": suggestion.every_days if suggestion else 7,
            "percent": percent,
            "price_fen": sku.price_fen - sku.price_fen * percent // 100,
            "addresses": address_list_for_person(person=person),
            **_payment_context(person),
        },
    )
