"""The shop API: cart, explained checkout, idempotent order creation, my orders, refunds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.models import Order
from freshloop.orders.services import cart_item_set
from tests.factories import ADDRESS, give_coupon, make_person, make_sku, product_channels_set
from tests.orders.helpers import coupon_template, pay

pytestmark = pytest.mark.django_db


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post(client: Client, url: str, body: Any, **headers: str) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


class TestCartApi:
    def test_put_and_get_cart(self) -> None:
        person, milk = make_person(), make_sku(stock=5)
        client = client_for(person)
        response = client.put(
            "/api/v1/shop/cart/items",
            json.dumps({"sku_id": milk.pk, "quantity": 2}),
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["items"][0]["quantity"] == 2
        assert client.get("/api/v1/shop/cart").json()["items"][0]["sku_id"] == milk.pk

    def test_anonymous_gets_401(self) -> None:
        response = Client().get("/api/v1/shop/cart")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"

    @pytest.mark.parametrize("quantity", [0, 1])
    def test_an_id_beyond_the_database_is_422_not_500(self, quantity: int) -> None:
        # found by the schemathesis run: removing (quantity 0) an id beyond BIGINT was a 500
        response = client_for(make_person()).put(
            "/api/v1/shop/cart/items",
            json.dumps({"sku_id": 58701162118764756992, "quantity": quantity}),
            content_type="application/json",
        )
        assert response.status_code == 422
        assert response.json()["message"] == "商品规格不能大于 9223372036854775807"

    def test_unknown_sku_is_404_with_code(self) -> None:
        response = client_for(make_person()).put(
            "/api/v1/shop/cart/items",
            json.dumps({"sku_id": 99999, "quantity": 1}),
            content_type="application/json",
        )
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


class TestCheckoutApi:
    def test_preview_explains_the_price(self) -> None:
        person = make_person()
        milk = make_sku(price_fen=6000, stock=5)
        coupon = give_coupon(person, coupon_template())
        response = post(
            client_for(person),
            "/api/v1/shop/checkout/preview",
            {"items": [{"sku_id": milk.pk, "quantity": 2}], "coupon_ids": [coupon.pk]},
        )
        assert response.status_code == 200
        body = response.json()
        labels = [row["label"] for row in body["explanation"]]
        assert labels[0] == "商品金额"
        assert any("满99减20" in label for label in labels)
        assert body["total_fen"] == 10000

    def test_order_create_is_idempotent_by_header(self) -> None:
        person, milk = make_person(), make_sku(stock=5)
        client = client_for(person)
        body = {"items": [{"sku_id": milk.pk, "quantity": 1}], "address": ADDRESS}
        first = post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "abc"})
        again = post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "abc"})
        assert first.status_code == 201
        assert again.status_code == 200
        assert first.json()["order_no"] == again.json()["order_no"]
        assert Order.objects.count() == 1

    def test_a_cart_checkout_retried_answers_200_with_the_same_order(self) -> None:
        # given the H5 checkout's whole-cart order (no items: the cart is bought), placed once
        person, milk = make_person(), make_sku(stock=5)
        cart_item_set(person=person, sku_id=milk.pk, quantity=2)
        client = client_for(person)
        body = {"address": ADDRESS, "coupon_ids": [], "points": 0}
        first = post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "cart-1"})
        # when the answer was lost and the page retries with the same key (the cart is empty now)
        again = post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "cart-1"})
        # then the retry answers 200 with the same order, not 422 cart_empty
        assert first.status_code == 201
        assert again.status_code == 200, again.content[:200]
        assert again.json()["order_no"] == first.json()["order_no"]
        assert again.json()["lines"][0]["quantity"] == 2
        assert Order.objects.count() == 1

    def test_a_retry_answers_the_order_after_its_product_left_the_shop(self) -> None:
        # given an order, then the product taken off the shop channel
        person, milk = make_person(), make_sku(stock=5)
        client = client_for(person)
        body = {"items": [{"sku_id": milk.pk, "quantity": 1}], "address": ADDRESS}
        first = post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "k-9"})
        product_channels_set(milk, channels=("live",))
        # when the same request is retried
        again = post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "k-9"})
        # then it is the order that exists (a new one would be refused: 404 商品不存在或已下架)
        assert again.status_code == 200, again.content[:200]
        assert again.json()["order_no"] == first.json()["order_no"]
        fresh = post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "k-10"})
        assert fresh.status_code == 404

    def test_the_same_key_with_other_content_is_409(self) -> None:
        person, milk = make_person(), make_sku(stock=5)
        client = client_for(person)
        body = {"items": [{"sku_id": milk.pk, "quantity": 1}], "address": ADDRESS}
        post(client, "/api/v1/shop/orders", body, **{"Idempotency-Key": "k-11"})
        other = {**body, "items": [{"sku_id": milk.pk, "quantity": 2}]}
        response = post(client, "/api/v1/shop/orders", other, **{"Idempotency-Key": "k-11"})
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_reused"
        assert Order.objects.count() == 1

    def test_out_of_stock_is_409_with_code_and_chinese_message(self) -> None:
        person, milk = make_person(), make_sku(stock=1)
        response = post(
            client_for(person),
            "/api/v1/shop/orders",
            {"items": [{"sku_id": milk.pk, "quantity": 2}], "address": ADDRESS},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "out_of_stock"
        assert response.json()["message"] == "库存不足"

    @pytest.mark.parametrize(
        "body",
        [
            {"items": [{"sku_id": 1, "quantity": 0}], "address": ADDRESS},
            {"items": [{"sku_id": "x", "quantity": 1}], "address": ADDRESS},
            {"items": [{"sku_id": 1, "quantity": 1}]},
            {"items": [{"sku_id": 1, "quantity": 1}], "address": {**ADDRESS, "detail": ""}},
            {"items": [], "address": ADDRESS, "channel": "tv"},
        ],
    )
    def test_bad_input_is_422(self, body: dict[str, Any]) -> None:
        response = post(client_for(make_person()), "/api/v1/shop/orders", body)
        assert response.status_code == 422
        assert response.json()["code"] in {"validation_error", "address_invalid", "invalid_input"}
        assert response.json()["message"]
        assert not Order.objects.exists()

    def test_a_blank_address_field_is_named_like_a_schema_problem(self) -> None:
        # given a phone of spaces: long enough for the schema, empty to the order service
        person, milk = make_person(), make_sku(stock=5)
        address = {**ADDRESS, "name": "   ", "phone": "      "}
        # when the order is placed
        response = post(
            client_for(person),
            "/api/v1/shop/orders",
            {"items": [{"sku_id": milk.pk, "quantity": 1}], "address": address},
        )
        # then the service's refusal has the shape of a 422 validation error: each field's
        # path with a sentence, the message the first sentence
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "address_invalid"
        assert body["message"] == "请填写收货人姓名（另有 1 处问题）"
        assert body["detail"] == [
            {"field": "address.name", "message": "请填写收货人姓名"},
            {"field": "address.phone", "message": "请填写收货人手机号"},
        ]


class TestMyOrdersApi:
    def test_list_detail_with_timeline_and_cancel(self) -> None:
        person, milk = make_person(), make_sku(stock=5)
        client = client_for(person)
        created = post(
            client,
            "/api/v1/shop/orders",
            {"items": [{"sku_id": milk.pk, "quantity": 1}], "address": ADDRESS},
        ).json()
        assert [o["order_no"] for o in client.get("/api/v1/shop/orders").json()] == [
            created["order_no"]
        ]
        detail = client.get(f"/api/v1/shop/orders/{created['order_no']}").json()
        assert detail["timeline"][0]["to_status"] == "pending_payment"
        cancelled = post(client, f"/api/v1/shop/orders/{created['order_no']}/cancel", {})
        assert cancelled.json()["status"] == "cancelled"

    def test_someone_elses_order_is_404(self) -> None:
        owner, milk = make_person(), make_sku(stock=5)
        order_no = post(
            client_for(owner),
            "/api/v1/shop/orders",
            {"items": [{"sku_id": milk.pk, "quantity": 1}], "address": ADDRESS},
        ).json()["order_no"]
        stranger = client_for(make_person())
        assert stranger.get(f"/api/v1/shop/orders/{order_no}").status_code == 404
        assert post(stranger, f"/api/v1/shop/orders/{order_no}/cancel", {}).status_code == 404
        assert Order.objects.get().status == "pending_payment"

    def test_refund_request_for_a_paid_order(self) -> None:
        person, milk = make_person(), make_sku(price_fen=3000, stock=5)
        client = client_for(person)
        order_no = post(
            client,
            "/api/v1/shop/orders",
            {"items": [{"sku_id": milk.pk, "quantity": 2}], "address": ADDRESS},
        ).json()["order_no"]
        pay(Order.objects.get(order_no=order_no))
        line_id = client.get(f"/api/v1/shop/orders/{order_no}").json()["lines"][0]["id"]
        response = post(
            client,
            f"/api/v1/shop/orders/{order_no}/refunds",
            {"lines": [{"line_id": line_id, "quantity": 1}], "reason": "漏发"},
        )
        assert response.status_code == 201
        assert response.json()["amount_fen"] == 3000


class TestFreeShippingNudge:
    def test_preview_says_how_much_more_ships_free(self) -> None:
        milk = make_sku(price_fen=1590, stock=5, storage="chilled")
        body = post(
            client_for(make_person()),
            "/api/v1/shop/checkout/preview",
            {"items": [{"sku_id": milk.pk, "quantity": 2}]},
        ).json()
        assert body["shipping_fen"] == 1500
        assert (body["free_shipping_from_fen"], body["free_shipping_gap_fen"]) == (9900, 6720)
        assert body["shipping_rule"] == "全国默认"

    def test_the_cart_page_shows_the_threshold(self) -> None:
        person, milk = make_person(), make_sku(price_fen=1590, stock=5)
        client = client_for(person)
        client.put(
            "/api/v1/shop/cart/items",
            json.dumps({"sku_id": milk.pk, "quantity": 1}),
            content_type="application/json",
        )
        page = client.get("/m/cart").content.decode()
        assert 'data-testid="free-shipping-nudge"' in page
        assert "满¥99.00包邮" in page


class TestPicturesInAnswers:
    def test_cart_and_order_lines_carry_the_skus_picture(self) -> None:
        from freshloop.catalog.services import product_image_add, sku_upsert
        from freshloop.core.audit import Actor
        from freshloop.inventory.services import stock_receive
        from tests.catalog.test_images import picture
        from tests.factories import make_warehouse

        # given a milk with a picture for the whole product, a second pack size with its own,
        # and a yogurt with none
        litre = make_sku(stock=5, name="牧场鲜牛奶")
        case = sku_upsert(product=litre.product, code="milk-case", spec="250ml×12", price_fen=5990)
        stock_receive(sku=case, warehouse=make_warehouse(), quantity=5, actor=Actor.system("t"))
        shared = product_image_add(product=litre.product, file=picture(), actor=Actor.system("t"))
        own = product_image_add(
            product=litre.product, file=picture(800, 800), actor=Actor.system("t"), sku=case
        )
        yogurt = make_sku(stock=5, name="老酸奶")
        person = make_person()
        client = client_for(person)
        for sku in (litre, case, yogurt):
            cart_item_set(person=person, sku_id=sku.pk, quantity=1)

        # when the cart is read / then each line shows its picture: the SKU's own first
        items = {i["sku_id"]: i for i in client.get("/api/v1/shop/cart").json()["items"]}
        assert items[litre.pk]["image_url"] == shared.url
        assert items[litre.pk]["thumb_url"] == shared.webp_400.url
        assert items[case.pk]["image_url"] == own.url
        assert items[yogurt.pk]["image_url"] is None

        # when the cart is ordered, the placing answer leaves pictures out; reading it has them
        created = post(client, "/api/v1/shop/orders", {"address": ADDRESS})
        assert created.status_code == 201
        assert {line["image_url"] for line in created.json()["lines"]} == {None}
        order_no = created.json()["order_no"]
        for answer in (
            client.get(f"/api/v1/shop/orders/{order_no}").json(),
            client.get("/api/v1/shop/orders").json()[0],
        ):
            lines = {line["sku_id"]: line for line in answer["lines"]}
            assert lines[litre.pk]["image_url"] == shared.url
            assert lines[case.pk]["thumb_url"] == own.webp_400.url
            assert lines[yogurt.pk]["image_url"] is None
