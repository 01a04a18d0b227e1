"""The room's flash-sale API: figures and the buy button, with typed errors."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from freshloop.identity.services import consumer_token_issue
from freshloop.live.models import FlashSale
from tests.factories import make_person
from tests.live.flash_sale.helpers import ADDRESS, make_flash_sale


def _auth() -> dict[str, str]:
    token, _ = consumer_token_issue(person=make_person(), method="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _buy(client: Client, sale: FlashSale, headers: dict[str, str], **body: Any) -> Any:
    payload = {"quantity": 1, "address": ADDRESS, **body}
    return client.post(
        f"/api/v1/live/flash-sales/{sale.pk}/buy",
        payload,
        content_type="application/json",
        **headers,
    )


@pytest.mark.django_db
class TestFlashSaleBuyEndpoint:
    def test_buy_then_replay_then_sold_out(self, client: Client) -> None:
        sale = make_flash_sale(units=1)
        buyer = _auth()
        created = _buy(client, sale, {**buyer, "HTTP_IDEMPOTENCY_KEY": "k-1"})
        assert created.status_code == 201
        assert created.json()["total_fen"] == 990 + created.json()["shipping_fen"]
        assert "直播秒杀价" in [row["label"] for row in created.json()["price_explanation"]]
        replay = _buy(client, sale, {**buyer, "HTTP_IDEMPOTENCY_KEY": "k-1"})
        assert replay.status_code == 200
        assert replay.json()["order_no"] == created.json()["order_no"]
        late = _buy(client, sale, _auth())
        assert late.status_code == 409
        assert late.json()["code"] == "flash_sale_sold_out"
        assert late.json()["message"] == "手慢了，秒杀商品已抢光"

    def test_needs_a_logged_in_buyer(self, client: Client) -> None:
        sale = make_flash_sale()
        assert _buy(client, sale, {}).status_code == 401

    @pytest.mark.parametrize("body", [{"quantity": 0}, {"price_fen": 1}])
    def test_bad_body_is_a_422(self, client: Client, body: dict[str, Any]) -> None:
        sale = make_flash_sale()
        response = _buy(client, sale, _auth(), **body)
        assert response.status_code == 422
        assert FlashSale.objects.get(pk=sale.pk).claimed == 0

    def test_over_the_limit_is_a_409_with_a_code(self, client: Client) -> None:
        sale = make_flash_sale(per_user_limit=1)
        response = _buy(client, sale, _auth(), quantity=2)
        assert response.status_code == 409
        assert response.json()["code"] == "flash_sale_limit_exceeded"

    def test_unknown_sale_is_a_404(self, client: Client) -> None:
        response = client.post(
            "/api/v1/live/flash-sales/999999/buy",
            {"quantity": 1, "address": ADDRESS},
            content_type="application/json",
            **_auth(),
        )
        assert response.status_code == 404
        assert response.json()["code"] == "flash_sale_not_found"


@pytest.mark.django_db
class TestFlashSaleDetailEndpoint:
    def test_price_quantity_remaining_status(self, client: Client) -> None:
        sale = make_flash_sale(units=5)
        _buy(client, sale, _auth())
        body = client.get(f"/api/v1/live/flash-sales/{sale.pk}").json()
        assert (body["price_fen"], body["list_price_fen"]) == (990, 2990)
        assert (body["quantity"], body["remaining"], body["status"]) == (5, 4, "running")
