"""The pantry API (/api/v1/food/pantry): a buyer's own items only, bad input 4xx."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.food.models import PantryBarcode, PantryItem, PantryStatus
from freshloop.food.services import PantryItemInput, pantry_item_add
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.selectors import cart_items_for_person
from tests.factories import make_person, make_sku

pytestmark = pytest.mark.django_db

URL = "/api/v1/food/pantry"


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def today() -> dt.date:
    return clock.to_shanghai(clock.now()).date()


def typed(person: Person, days: int = 3, name: str = "鸡蛋") -> PantryItem:
    return pantry_item_add(
        person_id=person.pk,
        data=PantryItemInput(
            name=name, storage="chilled", expires_on=today() + dt.timedelta(days=days)
        ),
    )


class TestPantryGet:
    def test_lists_own_items_by_expiry_with_colour_and_counter(self) -> None:
        person = make_person()
        typed(person, days=10, name="大米")
        typed(person, days=1, name="牛奶")
        typed(make_person(), days=1, name="别人的")
        data = client_for(person).get(URL).json()
        assert [i["name"] for i in data["items"]] == ["牛奶", "大米"]
        assert [i["colour"] for i in data["items"]] == ["soon", "fresh"]
        assert data["items"][0]["days_left"] == 1
        assert data["waste"] == {"saved": 0, "used_late": 0, "thrown": 0, "saved_rate": 0}

    def test_anonymous_is_401(self) -> None:
        assert Client().get(URL).status_code == 401


class TestPantryItemPost:
    def test_scan_a_registered_barcode(self) -> None:
        sku = make_sku(name="有机酸奶")
        PantryBarcode.objects.create(ean="6901234567892", sku=sku)
        person = make_person()
        response = post(
            client_for(person),
            f"{URL}/items",
            {"barcode": "6901234567892", "expires_on": str(today())},
        )
        assert response.status_code == 201
        assert response.json()["sku_id"] == sku.pk
        assert response.json()["source"] == "scan"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"barcode": "6901234567891", "name": "x", "storage": "ambient"}, "barcode"),
            ({"name": "鸡蛋", "storage": "chilled", "expires_on": "2026-02-30"}, "expires_on"),
            ({"name": "鸡蛋", "storage": "chilled", "expires_on": "明天"}, "expires_on"),
            ({"name": "", "storage": "chilled"}, "name"),
            ({"name": "鸡蛋", "storage": "hot"}, "storage"),
            ({"name": "鸡蛋", "storage": "chilled", "quantity": 0}, "quantity"),
        ],
    )
    def test_bad_input_is_422_naming_the_field(self, body: dict[str, Any], field: str) -> None:
        person = make_person()
        body = {"expires_on": str(today()), **body}
        response = post(client_for(person), f"{URL}/items", body)
        assert response.status_code == 422
        assert field in json.dumps(response.json()["detail"])
        assert not PantryItem.objects.exists()

    def test_barcode_lookup(self) -> None:
        client = client_for(make_person())
        assert client.get(f"{URL}/barcodes/4006381333931").json()["sku_id"] is None
        assert client.get(f"{URL}/barcodes/4006381333932").status_code == 422


class TestPantryItemClose:
    def test_used_then_counted(self) -> None:
        person = make_person()
        item = typed(person)
        client = client_for(person)
        response = post(client, f"{URL}/items/{item.pk}/used")
        assert response.status_code == 200
        assert response.json()["status"] == PantryStatus.USED
        assert client.get(URL).json()["waste"]["saved"] == 1
        # a second tap is refused
        again = post(client, f"{URL}/items/{item.pk}/thrown")
        assert again.status_code == 409
        assert again.json()["code"] == "pantry_item_closed"

    def test_another_persons_item_is_404_and_untouched(self) -> None:
        item = typed(make_person())
        response = post(client_for(make_person()), f"{URL}/items/{item.pk}/thrown")
        assert response.status_code == 404
        item.refresh_from_db()
        assert item.status == PantryStatus.ACTIVE

    @pytest.mark.parametrize("item_id", ["0", "9223372036854775808", "abc"])
    def test_bad_id_is_4xx(self, item_id: str) -> None:
        response = post(client_for(make_person()), f"{URL}/items/{item_id}/used")
        assert 400 <= response.status_code < 500


class TestPantryItemReorder:
    def test_reorder_puts_the_sku_in_the_cart_once(self) -> None:
        sku = make_sku(name="鲜牛奶", stock=5)
        PantryBarcode.objects.create(ean="6901234567892", sku=sku)
        person = make_person()
        item = pantry_item_add(
            person_id=person.pk,
            data=PantryItemInput(barcode="6901234567892", expires_on=today()),
        )
        client = client_for(person)
        assert post(client, f"{URL}/items/{item.pk}/reorder").json() == {
            "sku_id": sku.pk,
            "quantity": 1,
        }
        post(client, f"{URL}/items/{item.pk}/reorder")
        [line] = cart_items_for_person(person=person)
        assert (line.sku_id, line.quantity) == (sku.pk, 1)

    def test_an_item_not_from_the_shop_cannot_be_reordered(self) -> None:
        person = make_person()
        item = typed(person)
        assert post(client_for(person), f"{URL}/items/{item.pk}/reorder").status_code == 404

    def test_another_persons_item_cannot_be_reordered(self) -> None:
        sku = make_sku()
        PantryBarcode.objects.create(ean="6901234567892", sku=sku)
        item = pantry_item_add(
            person_id=make_person().pk,
            data=PantryItemInput(barcode="6901234567892", expires_on=today()),
        )
        other = make_person()
        assert post(client_for(other), f"{URL}/items/{item.pk}/reorder").status_code == 404
        assert cart_items_for_person(person=other) == []
