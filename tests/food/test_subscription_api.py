"""The consumer API of subscriptions: the flows and every kind of bad input answering 4xx."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.food.models import Subscription
from freshloop.food.services import subscription_discount_set, subscriptions_run
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.models import Order
from freshloop.orders.services import address_create
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


class TestChangeBasketAndAddress:
    def _subscribed(self, client: Client, sku_id: int) -> str:
        with clock.frozen(MONDAY):
            created = post(
                client,
                URL,
                {
                    "items": [{"sku_id": sku_id, "quantity": 1}],
                    "cadence_kind": "every_days",
                    "cadence_value": 7,
                    "address": ADDRESS,
                },
            )
        assert created.status_code == 201, created.content
        return str(created.json()["subscription_no"])

    def test_the_next_order_has_the_new_basket_and_address(self) -> None:
        # given a subscription to milk, ordered once already
        milk, yogurt = make_sku(stock=10, name="鲜牛奶"), make_sku(stock=10, name="酸奶")
        person = make_person()
        client = client_for(person)
        number = self._subscribed(client, milk.pk)
        with clock.frozen(MONDAY):
            first = subscriptions_run(today=dt.date(2026, 12, 7)).placed
        # when the customer adds yogurt and moves to Hangzhou (a saved address)
        hangzhou = address_create(
            person=person,
            name="王小明",
            phone="13800138000",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路 1 号",
        )
        with clock.frozen(MONDAY):
            changed = post(
                client,
                f"{URL}/{number}/change",
                {
                    "items": [
                        {"sku_id": milk.pk, "quantity": 1},
                        {"sku_id": yogurt.pk, "quantity": 2},
                    ],
                    "address_id": hangzhou.pk,
                },
            )
        # then the subscription says so
        assert changed.status_code == 200, changed.content
        assert changed.json()["title"] == "鲜牛奶 等 2 种"
        # and the order already placed keeps its basket, while the next one has the new one
        assert Order.objects.get(order_no=first[0]).lines.count() == 1
        with clock.frozen(MONDAY + dt.timedelta(days=7)):
            [second] = subscriptions_run(today=dt.date(2026, 12, 14)).placed
        order = Order.objects.get(order_no=second)
        assert sorted(order.lines.values_list("sku_id", "quantity")) == [
            (milk.pk, 1),
            (yogurt.pk, 2),
        ]
        assert order.address["city"] == "杭州市"
        # and the audit names the new basket, not the address
        change = AuditLog.objects.get(action="food.subscription.change")
        assert change.after["address_changed"] is True
        assert "杭州" not in json.dumps(change.after, ensure_ascii=False)

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            ({}, 422, "subscription_invalid"),
            ({"items": []}, 422, "validation_error"),
            ({"items": [{"sku_id": 999_999, "quantity": 1}]}, 404, "not_found"),
            ({"items": [{"sku_id": 1, "quantity": 0}]}, 422, "validation_error"),
            ({"address": {"name": "王小明"}}, 422, "validation_error"),
            ({"address_id": 999_999}, 404, "address_not_found"),
            ({"items": "milk"}, 422, "validation_error"),
        ],
    )
    def test_bad_changes_are_4xx_and_change_nothing(
        self, body: dict[str, Any], status: int, code: str
    ) -> None:
        milk = make_sku(stock=10)
        client = client_for(make_person())
        number = self._subscribed(client, milk.pk)
        before = Subscription.objects.get(subscription_no=number)
        answer = post(client, f"{URL}/{number}/change", body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), answer.content
        after = Subscription.objects.get(subscription_no=number)
        assert (after.items, after.address, after.title) == (
            before.items,
            before.address,
            before.title,
        )

    def test_someone_elses_or_a_cancelled_subscription_cannot_be_changed(self) -> None:
        milk = make_sku(stock=10)
        owner = client_for(make_person())
        number = self._subscribed(owner, milk.pk)
        stranger = post(client_for(make_person()), f"{URL}/{number}/change", {"address_id": 1})
        assert stranger.status_code == 404
        post(owner, f"{URL}/{number}/cancel")
        cancelled = post(owner, f"{URL}/{number}/change", {"items": [{"sku_id": milk.pk}]})
        assert (cancelled.status_code, cancelled.json()["code"]) == (
            409,
            "subscription_state_invalid",
        )
