"""Consumer API: GET /promotions/coupons/mine, POST /promotions/coupons/claim."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.promotions.services import redeem_code_create
from tests.factories import make_person
from tests.promotions.helpers import SYSTEM, T0, give, make_template

pytestmark = pytest.mark.django_db


def bearer(person: Person) -> dict[str, str]:
    token, _ = consumer_token_issue(person=person, method="otp")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def claim(client: Client, person: Person, body: Any) -> Any:
    return client.post(
        "/api/v1/promotions/coupons/claim",
        data=json.dumps(body),
        content_type="application/json",
        **bearer(person),
    )


class TestClaim:
    def test_claims_a_coupon(self, client: Client) -> None:
        template = make_template(name="鲜奶满99减20")
        redeem_code_create(actor=SYSTEM, template=template, code="MILK2026")
        person = make_person()
        response = claim(client, person, {"code": "milk2026"})
        assert response.status_code == 201
        payload = response.json()
        assert (payload["name"], payload["status"], payload["threshold_fen"]) == (
            "鲜奶满99减20",
            "available",
            9900,
        )

    def test_unknown_code_is_404_with_a_code(self, client: Client) -> None:
        response = claim(client, make_person(), {"code": "NOPE"})
        assert response.status_code == 404
        assert response.json()["code"] == "redeem_code_not_found"

    def test_expired_code(self, client: Client) -> None:
        template = make_template()
        redeem_code_create(
            actor=SYSTEM, template=template, code="OLD1", valid_until=T0 - dt.timedelta(days=1)
        )
        with clock.frozen(T0):
            response = claim(client, make_person(), {"code": "OLD1"})
        assert response.status_code == 410
        assert response.json()["code"] == "redeem_code_expired"

    def test_over_the_limit(self, client: Client) -> None:
        template = make_template(per_user_limit=1)
        redeem_code_create(actor=SYSTEM, template=template, code="ONE1")
        person = make_person()
        assert claim(client, person, {"code": "ONE1"}).status_code == 201
        response = claim(client, person, {"code": "ONE1"})
        assert response.status_code == 409
        assert response.json()["code"] == "coupon_limit_reached"

    @pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 5}, {"code": "A1", "x": 1}])
    def test_bad_bodies_are_422(self, client: Client, body: Any) -> None:
        assert claim(client, make_person(), body).status_code == 422

    def test_needs_a_login(self, client: Client) -> None:
        response = client.post(
            "/api/v1/promotions/coupons/claim",
            data=json.dumps({"code": "X1Y"}),
            content_type="application/json",
        )
        assert response.status_code == 401


class TestMine:
    def test_lists_only_my_coupons_filtered_by_status(self, client: Client) -> None:
        person = make_person()
        mine = give(make_template(), person)
        give(make_template(), make_person())
        response = client.get("/api/v1/promotions/coupons/mine", **bearer(person))
        assert response.status_code == 200
        assert [item["code"] for item in response.json()["items"]] == [mine.code]
        used = client.get("/api/v1/promotions/coupons/mine?status=used", **bearer(person))
        assert used.json()["items"] == []

    def test_bad_status_is_422(self, client: Client) -> None:
        response = client.get(
            "/api/v1/promotions/coupons/mine?status=whatever", **bearer(make_person())
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"
