"""The pantry page (/m/pantry) and the reminder's one-tap reorder link."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.food.models import PantryBarcode, PantryItem
from freshloop.food.services import PantryItemInput, pantry_item_add
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.selectors import cart_items_for_person
from tests.factories import make_person, make_sku

pytestmark = pytest.mark.django_db


def browser_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def shop_item(person: Person, days: int = 1) -> PantryItem:
    sku = make_sku(name="鲜牛奶", stock=5)
    PantryBarcode.objects.get_or_create(ean="6901234567892", defaults={"sku": sku})
    return pantry_item_add(
        person_id=person.pk,
        data=PantryItemInput(
            barcode="6901234567892",
            expires_on=clock.to_shanghai(clock.now()).date() + dt.timedelta(days=days),
        ),
    )


class TestPantryPage:
    def test_lists_the_buyers_items_with_their_colour(self) -> None:
        person = make_person()
        shop_item(person, days=1)
        page = browser_for(person).get("/m/pantry").content.decode()
        assert "我的食品柜" in page
        script = re.search(
            r'<script id="pantry-items" type="application/json">(.*?)</script>', page
        )
        assert script is not None
        [row] = json.loads(script.group(1))
        assert row["name"].startswith("鲜牛奶")
        assert row["colour"] == "soon"
        assert row["reorder"] is True
        assert "用完了" in page
        assert "扔掉了" in page

    def test_anonymous_goes_to_login(self) -> None:
        response = Client().get("/m/pantry")
        assert response.status_code == 302
        assert response["Location"].startswith("/m/login")


class TestPantryReorderLink:
    def test_puts_the_sku_in_the_cart_once_and_opens_the_cart(self) -> None:
        person = make_person()
        item = shop_item(person)
        browser = browser_for(person)
        first = browser.get(f"/m/pantry/{item.pk}/reorder")
        browser.get(f"/m/pantry/{item.pk}/reorder")
        assert first.status_code == 302
        assert first["Location"] == "/m/cart"
        [line] = cart_items_for_person(person=person)
        assert (line.sku_id, line.quantity) == (item.sku_id, 1)

    def test_another_persons_item_is_404(self) -> None:
        item = shop_item(make_person())
        other = make_person()
        response = browser_for(other).get(f"/m/pantry/{item.pk}/reorder")
        assert response.status_code == 404
        assert cart_items_for_person(person=other) == []
