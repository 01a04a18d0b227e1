"""The presale API: the card, deposit and balance with their windows and keys, my presales,
operators' create / update / list / cancel — and who may call what."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.groupbuy.presale.models import Presale, PresalePurchase
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from tests.factories import ADDRESS, make_person, make_staff_user
from tests.groupbuy.presale.helpers import (
    BALANCE_ENDS,
    BALANCE_STARTS,
    DEPOSIT_ENDS,
    DEPOSIT_STARTS,
    IN_BALANCE,
    IN_DEPOSIT,
    T0,
    make_presale,
    make_presale_sku,
    paid_deposit,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/groupbuy"


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def operator(*roles: Role, username: str = "ops") -> Client:
    client = Client()
    client.force_login(make_staff_user(username, *roles))
    return client


def send(client: Client, method: str, url: str, body: Any = None, **headers: str) -> Any:
    call = getattr(client, method)
    return call(
        f"{URL}{url}",
        data=json.dumps(body if body is not None else {}),
        content_type="application/json",
        headers=headers,
    )


def presale_body(sku_id: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "阳澄湖大闸蟹预售",
        "sku_id": sku_id,
        "quantity": 10,
        "price_fen": 9900,
        "deposit_fen": 1000,
        "deposit_worth_fen": 3000,
        "per_person_limit": 2,
        "deposit_starts_at": DEPOSIT_STARTS.isoformat(),
        "deposit_ends_at": DEPOSIT_ENDS.isoformat(),
        "balance_starts_at": BALANCE_STARTS.isoformat(),
        "balance_ends_at": BALANCE_ENDS.isoformat(),
        "delivery_from": "2026-12-16",
        "delivery_to": "2026-12-20",
    }
    return body | overrides


class TestOperatorEndpoints:
    def test_create_list_update_cancel(self) -> None:
        sku = make_presale_sku()
        ops = operator(Role.COMMUNITY_MANAGER)
        with clock.frozen(T0):
            created = send(ops, "post", "/presales", presale_body(sku.pk))
            assert created.status_code == 201, created.content
            body = created.json()
            assert (body["balance_fen"], body["remaining"], body["status"]) == (6900, 10, "draft")
            presale_no = body["presale_no"]
            listed = ops.get(f"{URL}/presales?status=draft").json()
            assert [item["presale_no"] for item in listed["items"]] == [presale_no]
            updated = send(ops, "put", f"/presales/{presale_no}", presale_body(sku.pk, quantity=5))
            assert updated.status_code == 200, updated.content
            assert updated.json()["quantity"] == 5
            cancelled = send(ops, "post", f"/presales/{presale_no}/cancel", {"reason": "货源不足"})
        assert cancelled.status_code == 200, cancelled.content
        assert cancelled.json()["status"] == "cancelled"

    def test_bad_terms_are_a_422_naming_each_field(self) -> None:
        sku = make_presale_sku()
        with clock.frozen(T0):
            answer = send(
                operator(Role.COMMUNITY_MANAGER),
                "post",
                "/presales",
                presale_body(sku.pk, deposit_fen=9900, balance_ends_at=BALANCE_STARTS.isoformat()),
            )
        assert answer.status_code == 422
        assert answer.json()["code"] == "presale_invalid"
        fields = {problem["field"] for problem in answer.json()["detail"]}
        assert fields == {"deposit_fen", "balance_ends_at"}
        assert not Presale.objects.exists()

    def test_update_after_opening_is_a_409(self) -> None:
        presale = make_presale()
        with clock.frozen(IN_DEPOSIT):
            answer = send(
                operator(Role.COMMUNITY_MANAGER),
                "put",
                f"/presales/{presale.presale_no}",
                presale_body(presale.sku_id),
            )
        assert answer.status_code == 409
        assert answer.json()["code"] == "presale_state_invalid"

    def test_staff_without_the_role_and_consumers_are_refused(self) -> None:
        sku = make_presale_sku()
        assert (
            send(operator(username="clerk"), "post", "/presales", presale_body(sku.pk)).status_code
            == 403
        )
        consumer = client_for(make_person())
        assert send(consumer, "post", "/presales", presale_body(sku.pk)).status_code == 401
        assert not Presale.objects.exists()


class TestConsumerEndpoints:
    def test_anyone_reads_the_card(self) -> None:
        presale = make_presale()
        with clock.frozen(IN_DEPOSIT):
            answer = Client().get(f"{URL}/presales/{presale.presale_no}")
        assert answer.status_code == 200
        card = answer.json()
        assert (card["deposit_fen"], card["deposit_worth_fen"], card["price_fen"]) == (
            1000,
            3000,
            9900,
        )
        assert card["deposit_open_now"] is True
        assert Client().get(f"{URL}/presales/PS_nope").json()["code"] == "presale_not_found"

    def test_deposit_answers_the_order_and_a_replay_the_same_one(self) -> None:
        presale = make_presale()
        client = client_for(make_person())
        body = {"quantity": 2, "address": dict(ADDRESS)}
        with clock.frozen(IN_DEPOSIT):
            first = send(
                client,
                "post",
                f"/presales/{presale.presale_no}/deposit",
                body,
                **{"Idempotency-Key": "k1"},
            )
            again = send(
                client,
                "post",
                f"/presales/{presale.presale_no}/deposit",
                body,
                **{"Idempotency-Key": "k1"},
            )
        assert first.status_code == 201, first.content
        assert again.status_code == 200
        assert first.json()["order"]["order_no"] == again.json()["order"]["order_no"]
        purchase = first.json()["purchase"]
        assert (purchase["deposit_total_fen"], purchase["worth_total_fen"]) == (2000, 6000)
        assert purchase["balance_total_fen"] == 13800
        assert PresalePurchase.objects.count() == 1

    def test_a_deposit_without_a_key_is_placed_but_a_retry_is_a_new_purchase(self) -> None:
        # As on every order path, the key is what makes a retry the same purchase.
        presale = make_presale(per_person_limit=2)
        client = client_for(make_person())
        body = {"quantity": 1, "address": dict(ADDRESS)}
        with clock.frozen(IN_DEPOSIT):
            first = send(client, "post", f"/presales/{presale.presale_no}/deposit", body)
            again = send(client, "post", f"/presales/{presale.presale_no}/deposit", body)
        assert (first.status_code, again.status_code) == (201, 201)
        assert PresalePurchase.objects.count() == 2

    def test_deposit_outside_its_window_is_a_409(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            answer = send(
                client_for(make_person()),
                "post",
                f"/presales/{presale.presale_no}/deposit",
                {"quantity": 1, "address": dict(ADDRESS)},
                **{"Idempotency-Key": "k1"},
            )
        assert answer.status_code == 409
        assert answer.json()["code"] == "presale_deposit_closed"
        assert answer.json()["message"] == "定金支付尚未开始"

    def test_balance_then_my_presales(self) -> None:
        presale = make_presale()
        buyer = make_person()
        purchase = paid_deposit(presale, buyer)
        client = client_for(buyer)
        with clock.frozen(IN_BALANCE):
            placed = send(client, "post", f"/presale-purchases/{purchase.purchase_no}/balance")
        assert placed.status_code == 201, placed.content
        assert placed.json()["order"]["total_fen"] >= 6900
        mine = client.get(f"{URL}/presale-purchases").json()
        assert mine["total"] == 1
        assert mine["items"][0]["balance_order_no"] == placed.json()["order"]["order_no"]

    def test_another_buyers_purchase_is_not_found(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        with clock.frozen(IN_BALANCE):
            answer = send(
                client_for(make_person()),
                "post",
                f"/presale-purchases/{purchase.purchase_no}/balance",
            )
        assert answer.status_code == 404
        assert answer.json()["code"] == "presale_purchase_not_found"
        assert client_for(make_person()).get(f"{URL}/presale-purchases").json()["total"] == 0
