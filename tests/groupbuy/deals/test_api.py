"""The group-deal API: a share card anyone can open, starting and joining with a consumer token,
operators setting deals up — and bad input answered with a code and a Chinese message."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.groupbuy.deals.models import DealGroup, GroupDeal
from tests.factories import ADDRESS, make_person, make_sku, make_staff_user
from tests.groupbuy.deals.factories import LIST_PRICE_FEN, TIERS, make_deal, pay
from tests.groupbuy.test_api import client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/groupbuy"


def post(client: Client, url: str, body: Any = None, **headers: str) -> Any:
    return client.post(
        f"{URL}{url}",
        data=json.dumps({"address": ADDRESS} if body is None else body),
        content_type="application/json",
        headers=headers,
    )


def operator() -> Client:
    client = Client()
    client.force_login(make_staff_user("gb-ops", Role.COMMUNITY_MANAGER))
    return client


class TestStartAndJoin:
    def test_a_customer_starts_a_group_and_a_friend_joins_from_the_card(self) -> None:
        deal = make_deal()
        starter, friend = make_person(), make_person()
        started = post(client_for(starter), f"/deals/{deal.deal_no}/groups")
        assert started.status_code == 201, started.json()
        body = started.json()
        group_no = body["group"]["group_no"]
        assert body["unit_price_fen"] == TIERS[0]["price_fen"]
        assert body["order"]["total_fen"] > 0
        assert body["group"]["share_path"] == f"/m/groupbuy/groups/{group_no}"

        card = Client().get(f"{URL}/groups/{group_no}").json()  # not signed in
        # one person in: one more forms the group, two more reach the 3-person ¥35.90 tier
        assert (card["seats"], card["people_to_form"]) == (1, 1)
        assert (card["next_tier_size"], card["people_to_next_tier"]) == (3, 2)
        assert 0 < card["seconds_left"] <= 3600

        joined = post(client_for(friend), f"/groups/{group_no}/join")
        assert joined.status_code == 201
        assert joined.json()["group"]["seats"] == 2
        assert len(joined.json()["group"]["member_names"]) == 2

    def test_a_retry_with_the_same_key_answers_the_same_order_with_200(self) -> None:
        deal = make_deal()
        client = client_for(make_person())
        url = f"/deals/{deal.deal_no}/groups"
        first = post(client, url, **{"Idempotency-Key": "tap-1"})
        again = post(client, url, **{"Idempotency-Key": "tap-1"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["order"]["order_no"] == again.json()["order"]["order_no"]
        assert DealGroup.objects.count() == 1

    def test_a_second_place_in_the_same_deal_is_a_409_in_chinese(self) -> None:
        deal = make_deal()
        client = client_for(make_person())
        group_no = post(client, f"/deals/{deal.deal_no}/groups").json()["group"]["group_no"]
        refused = post(client, f"/groups/{group_no}/join")
        assert refused.status_code == 409
        assert refused.json()["code"] == "already_in_deal"
        assert "已参加" in refused.json()["message"]

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"address": ADDRESS, "quantity": 0},
            {"address": ADDRESS, "quantity": "两个"},
            {"address": ADDRESS, "address_id": 1},
        ],
    )
    def test_bad_input_is_a_422(self, body: dict[str, Any]) -> None:
        deal = make_deal()
        answer = post(client_for(make_person()), f"/deals/{deal.deal_no}/groups", body)
        assert answer.status_code == 422
        assert not DealGroup.objects.exists()

    def test_malformed_json_is_a_400_not_a_500(self) -> None:
        deal = make_deal()
        answer = client_for(make_person()).post(
            f"{URL}/deals/{deal.deal_no}/groups", data="{not json", content_type="application/json"
        )
        assert answer.status_code == 400

    def test_unknown_deal_and_group_are_404s(self) -> None:
        client = client_for(make_person())
        assert post(client, "/deals/GD_NOPE/groups").json()["code"] == "deal_not_found"
        assert post(client, "/groups/GG_NOPE/join").json()["code"] == "group_not_found"
        assert Client().get(f"{URL}/groups/GG_NOPE").status_code == 404

    def test_joining_needs_a_signed_in_customer(self) -> None:
        deal = make_deal()
        assert post(Client(), f"/deals/{deal.deal_no}/groups").status_code == 401

    def test_my_groups_lists_my_places_only(self) -> None:
        deal = make_deal()
        me = make_person()
        post(client_for(me), f"/deals/{deal.deal_no}/groups")
        post(client_for(make_person()), f"/deals/{deal.deal_no}/groups")
        mine = client_for(me).get(f"{URL}/me/groups").json()
        assert len(mine) == 1
        assert mine[0]["status"] == "pending"


class TestDealPage:
    def test_the_deal_lists_its_open_groups_closest_deadline_first(self) -> None:
        deal = make_deal()
        first = post(client_for(make_person()), f"/deals/{deal.deal_no}/groups").json()
        post(client_for(make_person()), f"/deals/{deal.deal_no}/groups")
        page = Client().get(f"{URL}/deals/{deal.deal_no}").json()
        assert [tier["size"] for tier in page["tiers"]] == [2, 3, 4]
        assert page["units_left"] == deal.quantity - 2
        assert page["open_groups"][0]["group_no"] == first["group"]["group_no"]


class TestOperatorDeals:
    def _deal_body(self, **overrides: Any) -> dict[str, Any]:
        now = clock.now()
        return {
            "title": "赣南脐橙拼团",
            "sku_id": make_sku(price_fen=LIST_PRICE_FEN, stock=50).pk,
            "tiers": TIERS,
            "quantity": 20,
            "group_minutes": 120,
            "starts_at": now.isoformat(),
            "ends_at": (now + dt.timedelta(days=2)).isoformat(),
        } | overrides

    def test_a_community_manager_creates_lists_and_ends_a_deal(self) -> None:
        client = operator()
        created = post(client, "/operator/deals", self._deal_body())
        assert created.status_code == 201, created.json()
        deal_no = created.json()["deal_no"]
        listed = client.get(f"{URL}/operator/deals").json()
        assert listed[0]["figures"]["groups_open"] == 0
        ended = post(client, f"/operator/deals/{deal_no}/end", {})
        assert ended.json()["status"] == "ended"

    def test_more_units_than_in_stock_is_a_field_error(self) -> None:
        answer = post(operator(), "/operator/deals", self._deal_body(quantity=51))
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["field"] == "quantity"
        assert not GroupDeal.objects.exists()

    def test_times_without_a_time_zone_are_a_field_error_not_a_500(self) -> None:
        body = self._deal_body(starts_at="2026-12-01T08:00:00", ends_at="2027-12-01T08:00:00")
        answer = post(operator(), "/operator/deals", body)
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["field"] == "ends_at"
        assert not GroupDeal.objects.exists()

    def test_a_consumer_token_cannot_create_a_deal(self) -> None:
        answer = post(client_for(make_person()), "/operator/deals", self._deal_body())
        assert answer.status_code in (401, 403)
        assert not GroupDeal.objects.exists()


class TestPaidGroupOverTheApi:
    def test_the_card_shows_the_final_price_once_the_group_is_full(self) -> None:
        deal = make_deal()
        people = [make_person() for _ in range(4)]
        first = post(client_for(people[0]), f"/deals/{deal.deal_no}/groups").json()
        group_no = first["group"]["group_no"]
        orders = [first["order"]["order_no"]]
        orders += [
            post(client_for(person), f"/groups/{group_no}/join").json()["order"]["order_no"]
            for person in people[1:]
        ]
        for order_no, person in zip(orders, people, strict=True):
            pay(order_no, person)
        card = Client().get(f"{URL}/groups/{group_no}").json()
        assert (card["status"], card["final_price_fen"], card["seconds_left"]) == (
            "succeeded",
            2990,
            0,
        )
