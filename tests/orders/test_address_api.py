"""The address book API under /api/v1/shop: list, add, edit, delete, default, 智能填写, regions,
and checkout by `address_id` (the order keeps a copy)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from freshloop.live.models import FlashSale
from freshloop.orders.models import Address, Order
from tests.factories import ADDRESS, SAVED_ADDRESS, make_person, make_sku
from tests.live.flash_sale.helpers import make_flash_sale
from tests.orders.test_api import client_for, post

pytestmark = pytest.mark.django_db

URL = "/api/v1/shop/addresses"
HOME = SAVED_ADDRESS


def _add(client: Client, **fields: Any) -> Any:
    return post(client, URL, {**HOME, **fields})


class TestAddressBookApi:
    def test_add_list_edit_default_delete(self) -> None:
        # given a buyer with an empty book
        client = client_for(make_person())
        assert client.get(URL).json() == []

        # when they add two addresses
        home = _add(client, label="家")
        assert home.status_code == 201
        assert home.json()["is_default"] is True
        assert home.json()["phone_masked"] == "138****8000"
        office = _add(client, detail="碧波路5号", label="公司").json()
        assert office["is_default"] is False

        # and make the office the default, then edit it
        made = post(client, f"{URL}/{office['id']}/default", {})
        assert made.status_code == 200
        assert made.json()["is_default"] is True
        edited = client.put(
            f"{URL}/{office['id']}",
            {**HOME, "detail": "碧波路6号", "label": "公司"},
            content_type="application/json",
        )
        assert edited.status_code == 200
        assert edited.json()["detail"] == "碧波路6号"

        # then the list shows the default first
        listed = client.get(URL).json()
        assert [a["id"] for a in listed] == [office["id"], home.json()["id"]]
        assert [a["is_default"] for a in listed] == [True, False]

        # and deleting the default leaves the other as the default
        assert client.delete(f"{URL}/{office['id']}").status_code == 204
        assert [(a["id"], a["is_default"]) for a in client.get(URL).json()] == [
            (home.json()["id"], True)
        ]

    def test_another_persons_address_is_404_everywhere(self) -> None:
        owner = client_for(make_person())
        address_id = _add(owner).json()["id"]
        stranger = client_for(make_person())
        answers = [
            stranger.get(f"{URL}/{address_id}"),
            stranger.put(f"{URL}/{address_id}", HOME, content_type="application/json"),
            stranger.delete(f"{URL}/{address_id}"),
            post(stranger, f"{URL}/{address_id}/default", {}),
        ]
        for answer in answers:
            assert answer.status_code == 404
            assert answer.json()["code"] == "address_not_found"
            assert "张三" not in answer.content.decode()
        assert Address.objects.filter(pk=address_id).exists()

    def test_a_bad_phone_is_422_naming_the_field(self) -> None:
        response = _add(client_for(make_person()), phone="12345")
        assert response.status_code == 422
        assert response.json()["code"] == "address_invalid"
        assert "手机号" in response.json()["message"]

    def test_the_21st_address_is_refused(self) -> None:
        client = client_for(make_person())
        for n in range(20):
            assert _add(client, detail=f"张江路{n}号").status_code == 201
        refused = _add(client, detail="第二十一个")
        assert refused.status_code == 422
        assert refused.json()["code"] == "address_limit_exceeded"
        assert "20" in refused.json()["message"]

    def test_an_id_beyond_the_database_is_422(self) -> None:
        response = client_for(make_person()).get(f"{URL}/58701162118764756992")
        assert response.status_code == 422

    def test_anonymous_gets_401(self) -> None:
        assert Client().get(URL).status_code == 401


class TestAddressParseApi:
    def test_a_municipality(self) -> None:
        response = post(
            client_for(make_person()),
            f"{URL}/parse",
            {"text": "张三 13800138000 上海市浦东新区张江路1号"},
        )
        assert response.status_code == 200
        assert response.json() == HOME

    def test_province_city_district(self) -> None:
        response = post(
            client_for(make_person()),
            f"{URL}/parse",
            {"text": "王小明，15912345678，浙江省杭州市西湖区文三路90号"},
        )
        assert response.status_code == 200
        assert response.json() == {
            "name": "王小明",
            "phone": "15912345678",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "detail": "文三路90号",
        }

    def test_unparseable_text_is_422_in_chinese(self) -> None:
        response = post(client_for(make_person()), f"{URL}/parse", {"text": "随便写点什么"})
        assert response.status_code == 422
        assert response.json()["code"] == "address_unparseable"
        assert "省市区" in response.json()["message"]


class TestRegionsApi:
    def test_one_level_at_a_time(self) -> None:
        client = client_for(make_person())
        provinces = client.get("/api/v1/shop/regions").json()
        assert provinces["level"] == "province"
        assert "广东省" in provinces["names"]
        cities = client.get("/api/v1/shop/regions", {"province": "广东省"}).json()
        assert cities["level"] == "city"
        assert "深圳市" in cities["names"]
        districts = client.get(
            "/api/v1/shop/regions", {"province": "广东省", "city": "深圳市"}
        ).json()
        assert districts["level"] == "district"
        assert "南山区" in districts["names"]

    def test_unknown_province_has_no_cities(self) -> None:
        answer = client_for(make_person()).get("/api/v1/shop/regions", {"province": "火星"})
        assert answer.status_code == 200
        assert answer.json()["names"] == []


class TestCheckoutByAddressId:
    def test_the_order_stores_a_copy(self) -> None:
        # given a buyer with a saved address
        person = make_person()
        client = client_for(person)
        milk = make_sku(stock=5)
        address_id = _add(client).json()["id"]

        # when they order with it and then change the saved address
        created = post(
            client,
            "/api/v1/shop/orders",
            {"items": [{"sku_id": milk.pk, "quantity": 1}], "address_id": address_id},
        )
        assert created.status_code == 201
        client.put(
            f"{URL}/{address_id}", {**HOME, "detail": "搬家了"}, content_type="application/json"
        )

        # then the order keeps the address it was placed with
        assert Order.objects.get().address == HOME

    def test_another_persons_address_is_404_and_no_order(self) -> None:
        milk = make_sku(stock=5)
        address_id = _add(client_for(make_person())).json()["id"]
        response = post(
            client_for(make_person()),
            "/api/v1/shop/orders",
            {"items": [{"sku_id": milk.pk, "quantity": 1}], "address_id": address_id},
        )
        assert response.status_code == 404
        assert response.json()["code"] == "address_not_found"
        assert not Order.objects.exists()

    @pytest.mark.parametrize("both", [True, False])
    def test_exactly_one_of_address_and_address_id(self, both: bool) -> None:
        person = make_person()
        client = client_for(person)
        milk = make_sku(stock=5)
        body: dict[str, Any] = {"items": [{"sku_id": milk.pk, "quantity": 1}]}
        if both:
            body |= {"address": ADDRESS, "address_id": _add(client).json()["id"]}
        response = post(client, "/api/v1/shop/orders", body)
        assert response.status_code == 422
        assert response.json()["message"].startswith("请填写收货地址，或选择地址簿中的一个地址")
        assert not Order.objects.exists()

    def test_flash_sale_buy_with_a_saved_address(self) -> None:
        sale: FlashSale = make_flash_sale(units=3)
        person = make_person()
        client = client_for(person)
        address_id = _add(client).json()["id"]
        response = post(
            client,
            f"/api/v1/live/flash-sales/{sale.pk}/buy",
            {"quantity": 1, "address_id": address_id},
        )
        assert response.status_code == 201
        assert Order.objects.get(order_no=response.json()["order_no"]).address == HOME
