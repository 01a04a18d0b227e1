"""The consumer API of subscriptions: the flows and every kind of bad input answering 4xx."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.food.models import Subscription
from freshloop.food.services import subscription_discount_set
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from tests.factories import ADDRESS, make_person, make_sku

pytestmark = pytest.mark.django_db
URL = "/api/v1/food/subscriptions"
MONDAY = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


class TestSubscriptionApi:
    def test_subscribe_list_skip_pause_cancel(self) -> None:
        sku = make_sku(stock=10)
        client = client_for(make_person())
        with clock.frozen(MONDAY):
            created = post(
                client,
                URL,
                {
                    "items": [{"sku_id": sku.pk, "quantity": 1}],
                    "cadence_kind": "every_days",
                    "cadence_value": 9,
                    "address": ADDRESS,
                },
            )
            assert created.status_code == 201, created.content
            number = created.json()["subscription_no"]
            assert created.json()["cadence_label"] == "每 9 天"
            assert created.json()["next_delivery_date"] == "2026-12-09"
            assert [s["subscription_no"] for s in client.get(URL).json()] == [number]
            skipped = post(client, f"{URL}/{number}/skip")
            assert skipped.json()["next_delivery_date"] == "2026-12-18"
            paused = post(client, f"{URL}/{number}/pause", {"until": "2026-12-25"})
            assert paused.status_code == 200, paused.content
            assert paused.json()["status"] == "paused"
            assert post(client, f"{URL}/{number}/resume").json()["status"] == "active"
            assert post(client, f"{URL}/{number}/cancel").json()["status"] == "cancelled"

    def test_suggestion_without_history_says_so(self) -> None:
        sku = make_sku(stock=10)
        subscription_discount_set(product_id=sku.product_id, percent_off=5, actor=Actor.system("t"))
        answer = client_for(make_person()).get(f"{URL}/suggestion", {"sku_id": sku.pk})
        assert answer.status_code == 200
        assert answer.json()["every_days"] is None
        assert answer.json()["discount_percent"] == 5

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"items": [], "cadence_kind": "every_days", "cadence_value": 7, "address": ADDRESS},
            {
                "items": [{"sku_id": 1}],
                "cadence_kind": "hourly",
                "cadence_value": 7,
                "address": ADDRESS,
            },
            {
                "items": [{"sku_id": 1}],
                "cadence_kind": "every_days",
                "cadence_value": 0,
                "address": ADDRESS,
            },
            {
                "items": [{"sku_id": 1}],
                "cadence_kind": "weekly",
                "cadence_value": 9,
                "address": ADDRESS,
            },
            {"items": [{"sku_id": 1}], "cadence_kind": "every_days", "cadence_value": 7},
            {
                "items": [{"sku_id": 99999}],
                "cadence_kind": "every_days",
                "cadence_value": 7,
                "address": ADDRESS,
            },
            {
                "items": [{"sku_id": "x"}],
                "cadence_kind": "every_days",
                "cadence_value": 7,
                "address": ADDRESS,
            },
        ],
    )
    def test_bad_input_is_4xx_and_writes_nothing(self, body: dict[str, Any]) -> None:
        make_sku(stock=10)
        answer = post(client_for(make_person()), URL, body)
        assert 400 <= answer.status_code < 500, answer.content
        assert answer.json()["message"]
        assert not Subscription.objects.exists()

    def test_other_peoples_and_unknown_subscriptions_are_404(self) -> None:
        sku = make_sku(stock=10)
        owner = client_for(make_person())
        number = post(
            owner,
            URL,
            {
                "items": [{"sku_id": sku.pk}],
                "cadence_kind": "weekly",
                "cadence_value": 5,
                "address": ADDRESS,
            },
        ).json()["subscription_no"]
        stranger = client_for(make_person())
        assert post(stranger, f"{URL}/{number}/cancel").status_code == 404
        assert post(owner, f"{URL}/SUB_NOPE/skip").status_code == 404
        assert post(owner, f"{URL}/{number}/pause", {"until": "yesterday"}).status_code == 422

    def test_anonymous_is_refused(self) -> None:
        assert Client().get(URL).status_code == 401
