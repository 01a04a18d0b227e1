"""The food API's region and calendar reads."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.orders.services import address_create
from tests.factories import make_person
from tests.web.test_shop_views import browser_for

pytestmark = pytest.mark.django_db


class TestMyRegion:
    def test_from_address_then_after_a_move(self) -> None:
        person = make_person(phone="13700000000")
        browser = browser_for(person)
        body = browser.get("/api/v1/food/region/mine").json()
        assert body == {"province": "辽宁省", "city": "沈阳市", "zone": "北方", "source": "phone"}
        address_create(
            person=person,
            name="李雷",
            phone="13700000000",
            province="海南省",
            city="海口市",
            detail="滨海大道 1 号",
        )
        body = browser.get("/api/v1/food/region/mine").json()
        assert (body["province"], body["zone"], body["source"]) == ("海南省", "南方", "address")

    def test_needs_a_signed_in_customer(self) -> None:
        assert Client().get("/api/v1/food/region/mine").status_code == 401


class TestCalendar:
    def test_2025(self) -> None:
        body = Client().get("/api/v1/food/calendar?year=2025").json()
        found = {(item["name"], item["kind"], item["date"]) for item in body["items"]}
        assert ("冬至", "term", "2025-12-21") in found
        assert ("中秋节", "festival", "2025-10-06") in found
        assert ("国庆节", "holiday", "2025-10-01") in found

    @pytest.mark.parametrize("query", ["", "?year=abc", "?year=1800", "?year=2101"])
    def test_bad_year_is_422(self, query: str) -> None:
        response = Client().get(f"/api/v1/food/calendar{query}")
        assert response.status_code == 422
        assert response.json()["code"]
