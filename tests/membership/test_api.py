"""GET /api/v1/membership/me and /me/points for the logged-in consumer."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.membership.services import points_earn_for_order, points_spend
from tests.factories import make_person

pytestmark = pytest.mark.django_db


def _bearer(person: Person) -> dict[str, str]:
    token, _record = consumer_token_issue(person=person, method="otp")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


class TestMembershipMe:
    def test_new_customer_sees_the_lowest_level_and_the_way_up(self, client: Client) -> None:
        person = make_person()
        response = client.get("/api/v1/membership/me", **_bearer(person))
        assert response.status_code == 200
        body = response.json()
        assert body["one_id"] == person.one_id
        assert body["level"]["code"] == "regular"
        assert body["points_balance"] == 0
        assert body["next_level"]["code"] == "silver"
        assert body["next_level"]["spend_needed_fen"] == 100_000
        assert body["next_level"]["points_needed"] == 1_000

    def test_member_sees_benefits_balance_and_distance(self, client: Client) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=500_000)
        points_spend(person_id=person.pk, points=1_000, order_ref="O-2")
        body = client.get("/api/v1/membership/me", **_bearer(person)).json()
        assert body["level"] == {
            "code": "gold",
            "name": "金卡",
            "discount_percent": 5,
            "free_shipping": True,
            "points_multiplier_bp": 15000,
        }
        assert (body["points_balance"], body["points_value_fen"]) == (4_000, 4_000)
        assert body["lifetime_spend_fen"] == 500_000
        assert body["next_level"]["code"] == "black"
        assert body["next_level"]["spend_needed_fen"] == 1_500_000
        assert body["next_level"]["points_needed"] == 15_000

    def test_unauthenticated_is_401(self, client: Client) -> None:
        response = client.get("/api/v1/membership/me")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


class TestMembershipMyPoints:
    def test_newest_first_with_paging(self, client: Client) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        points_spend(person_id=person.pk, points=10, order_ref="O-2")
        points_spend(person_id=person.pk, points=20, order_ref="O-3")
        headers = _bearer(person)
        body = client.get("/api/v1/membership/me/points?limit=2", **headers).json()
        assert body["count"] == 3
        assert [item["order_ref"] for item in body["items"]] == ["O-3", "O-2"]
        assert body["items"][0]["kind_label"] == "下单抵扣"
        rest = client.get("/api/v1/membership/me/points?limit=2&offset=2", **headers).json()
        assert [(item["kind"], item["delta"]) for item in rest["items"]] == [("earn", 100)]

    def test_only_my_own_entries(self, client: Client) -> None:
        me, other = make_person(), make_person()
        points_earn_for_order(person_id=other.pk, order_ref="O-1", paid_amount_fen=10_000)
        body = client.get("/api/v1/membership/me/points", **_bearer(me)).json()
        assert (body["count"], body["items"]) == (0, [])

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=abc"])
    def test_bad_paging_is_422(self, client: Client, query: str) -> None:
        response = client.get(f"/api/v1/membership/me/points?{query}", **_bearer(make_person()))
        assert response.status_code == 422
        assert response.json()["code"]

    def test_unauthenticated_is_401(self, client: Client) -> None:
        assert client.get("/api/v1/membership/me/points").status_code == 401
