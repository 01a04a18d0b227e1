"""The buyer's pantry page (/m/pantry, FD-2) and the one-tap reorder link its reminders carry.

The page lists what is at home by expiry date with a colour, adds by scan (WeChat's
`scanQRCode` where the page runs inside WeChat, else 13 typed digits) or by hand, and offers
"用完了" / "扔掉了"; every write goes through /api/v1/food/pantry."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from freshloop.core.errors import DomainError
from freshloop.food.selectors import (
    expiry_colour,
    pantry_item_get_for_person,
    pantry_items_for_person,
    pantry_waste_stats,
    shanghai_today,
)
from freshloop.food.services import pantry_cart_ensure
from freshloop.identity.models import Person
from freshloop.web.shop_views import consumer_page

STORAGE_LABELS = {"ambient": "常温", "chilled": "冷藏", "frozen": "冷冻"}


@require_GET
@consumer_page
def h5_pantry(request: HttpRequest, person: Person) -> HttpResponse:
    items = pantry_items_for_person(person_id=person.pk)
    today = shanghai_today()
    rows = [
        {
            "id": item.pk,
            "name": item.name,
            "storage": STORAGE_LABELS.get(item.storage, item.storage),
            "quantity": item.quantity,
            "expires_on": item.expires_on.isoformat(),
            "days_left": (item.expires_on - today).days,
            "colour": expiry_colour(item.expires_on, today=today),
            "estimated": item.expiry_estimated,
            "reorder": item.sku_id is not None,
        }
        for item in items
    ]
    stats = pantry_waste_stats(person_id=person.pk)
    return render(
        request,
        "web/h5/pantry.html",
        {
            "items": rows,
            "waste": {
                "saved": stats.saved,
                "thrown": stats.thrown,
                "rate": stats.saved_rate,
                "closed": stats.saved + stats.used_late + stats.thrown,
            },
            "today": today.isoformat(),
            "tab": "me",
        },
    )


@require_GET
@consumer_page
def h5_pantry_reorder(request: HttpRequest, person: Person, item_id: int) -> HttpResponse:
    """The reminder's one-tap link: the item's SKU is in the cart (once, however often the
    link is tapped), then the cart opens."""
    try:
        item = pantry_item_get_for_person(person_id=person.pk, item_id=item_id)
        if item.sku_id is None:
            return render(
                request,
                "web/h5/error.html",
                {"message": "这件物品不是本店商品，无法一键再来一份"},
                status=404,
            )
        pantry_cart_ensure(person=person, sku_id=item.sku_id)
    except DomainError as error:
        return render(request, "web/h5/error.html", {"message": error.text}, status=error.status)
    return HttpResponseRedirect("/m/cart")
