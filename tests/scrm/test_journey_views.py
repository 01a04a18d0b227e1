"""The journey pages of the console: who may open them, the list's numbers and its empty
state, and the editor's page config (menus from the server's own whitelists)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.scrm.services import journey_create, journey_status_set
from tests.factories import make_staff_user
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")


def logged_in(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


def make_journey(name: str = "直播加购挽回") -> int:
    journey = journey_create(
        name=name,
        trigger="live_cart_abandoned",
        steps=[{"type": "wait", "minutes": 120}, {"type": "tag", "tag": "加购未付"}],
        actor=OPERATOR,
    )
    return journey.pk


class TestAccess:
    def test_anonymous_visitors_go_to_the_login_page(self) -> None:
        response = Client().get("/console/scrm/")
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")

    def test_customer_service_gets_the_forbidden_page(self) -> None:
        client = logged_in(Role.CUSTOMER_SERVICE)
        assert client.get("/console/scrm/").status_code == 403
        assert client.get("/console/scrm/journeys/new").status_code == 403

    @pytest.mark.parametrize("role", [Role.COMMUNITY_MANAGER, Role.MARKETER, Role.ADMIN])
    def test_journey_roles_open_the_list_and_the_editor(self, role: Role) -> None:
        client = logged_in(role)
        assert client.get("/console/scrm/").status_code == 200
        assert client.get("/console/scrm/journeys/new").status_code == 200


class TestList:
    def test_the_empty_list_explains_what_a_journey_is(self) -> None:
        page = logged_in(Role.COMMUNITY_MANAGER).get("/console/scrm/").content.decode()
        assert 'data-testid="journey-empty"' in page
        assert "还没有旅程" in page

    def test_rows_show_status_trigger_and_version(self) -> None:
        journey_id = make_journey()
        journey_status_set(
            journey=journey_create(
                name="支付后关怀",
                trigger="order_paid",
                steps=[{"type": "tag", "tag": "已购"}],
                actor=OPERATOR,
            ),
            status="active",
            actor=OPERATOR,
        )
        page = logged_in(Role.COMMUNITY_MANAGER).get("/console/scrm/").content.decode()
        assert f'href="/console/scrm/journeys/{journey_id}"' in page
        assert "草稿" in page
        assert "运行中" in page
        assert "直播间加购未支付" in page
        assert "支付成功" in page
        assert "运行中的旅程" in page


class TestEditor:
    def test_the_editor_gets_the_journey_and_the_menus(self) -> None:
        template = coupon_template("view-usable", name="回来立减5元")
        coupon_template("view-live", name="直播专享", live_only=True)
        journey_id = make_journey()
        response = logged_in(Role.COMMUNITY_MANAGER).get(f"/console/scrm/journeys/{journey_id}")
        assert response.status_code == 200
        config = json.loads(json.dumps(response.context["config"]))
        assert config["journey"]["id"] == journey_id
        assert config["journey"]["steps"][0] == {"type": "wait", "minutes": 120}
        assert [t["value"] for t in config["triggers"]] == [
            "live_cart_abandoned",
            "order_paid",
            "contact_added",
            "segment_joined",
            "coupon_expiring",
            "birthday",
        ]
        assert config["trigger_days"] == {"coupon_expiring": 3, "birthday": 0}
        assert config["segments"] == []  # the data hub has none saved yet
        assert {p["name"] for p in config["placeholders"]["coupon_expiring"]} == {
            "coupon_name",
            "coupon_expires",
            "days_left",
        }
        assert {t["value"] for t in config["step_types"]} == {
            "wait",
            "condition",
            "message",
            "coupon",
            "task",
            "tag",
        }
        assert config["templates"] == [{"id": template.pk, "name": "回来立减5元"}]
        assert 'id="editor-config"' in response.content.decode()

    def test_an_unknown_journey_is_404(self) -> None:
        client = logged_in(Role.COMMUNITY_MANAGER)
        assert client.get("/console/scrm/journeys/999999").status_code == 404
