"""The journey API the console editor talks to: who may call it, create / publish / start /
pause / test-run end to end, and wrong steps refused as a 422 naming each card's field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.identity.services import person_erase
from freshloop.promotions.models import Coupon
from freshloop.scrm.models import Journey, JourneyEnrollment, StaffTask
from tests.factories import make_person, make_staff_user
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

BASE = "/api/v1/scrm"
ADMIN = Actor(type="user", id="1", label="管理员")


def operator(role: Role, username: str = "") -> Client:
    client = Client()
    client.force_login(make_staff_user(username or role.value, role))
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json")


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    return body


WIN_BACK = [
    {"type": "message", "text": "您加购的鲜牛奶还在购物车里～", "product_cards": True},
    {"type": "wait", "minutes": 120},
    {"type": "condition", "check": "unpaid_since_entry"},
    {"type": "task", "title": "回访：加购未支付", "due_minutes": 60, "assignee": ""},
]


def create(client: Client, steps: list[dict[str, Any]] | None = None, **fields: Any) -> Any:
    body = {"name": "直播加购挽回", "trigger": "live_cart_abandoned", "steps": steps or WIN_BACK}
    body.update(fields)
    return send(client, "post", f"{BASE}/journeys", body)


@pytest.fixture
def manager() -> Client:
    return operator(Role.COMMUNITY_MANAGER)


class TestWhoMayCall:
    def test_anonymous_gets_401(self) -> None:
        error(Client().get(f"{BASE}/journeys"), 401, "not_authenticated")

    def test_customer_service_gets_403(self) -> None:
        client = operator(Role.CUSTOMER_SERVICE)
        error(client.get(f"{BASE}/journeys"), 403, "permission_denied")
        error(create(client), 403, "permission_denied")
        assert not Journey.objects.exists()

    @pytest.mark.parametrize("role", [Role.COMMUNITY_MANAGER, Role.MARKETER, Role.ADMIN])
    def test_journey_roles_may_list_and_create(self, role: Role) -> None:
        client = operator(role)
        assert create(client).status_code == 201
        assert client.get(f"{BASE}/journeys").status_code == 200


class TestCreateAndList:
    def test_a_new_journey_is_a_draft_with_version_1(self, manager: Client) -> None:
        # when
        response = create(manager)
        # then
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "draft"
        assert body["status_label"] == "草稿"
        assert body["trigger_label"] == "直播间加购未支付"
        assert body["version"] == 1
        assert [step["type"] for step in body["steps"]] == ["message", "wait", "condition", "task"]
        assert [step["index"] for step in body["stats"]["steps"]] == [1, 2, 3, 4]
        assert body["stats"]["entered"] == 0
        listed = manager.get(f"{BASE}/journeys").json()["items"]
        assert [(item["id"], item["version"], item["entered"]) for item in listed] == [
            (body["id"], 1, 0)
        ]

    def test_wrong_steps_are_named_field_by_field_in_chinese(self, manager: Client) -> None:
        # when
        response = create(
            manager,
            steps=[
                {"type": "wait", "minutes": 0},
                {"type": "message", "text": " ", "product_cards": True},
                {"type": "coupon", "template_id": 999_999},
                {"type": "teleport"},
            ],
        )
        # then
        body = error(response, 422, "journey_invalid")
        assert [problem["field"] for problem in body["detail"]] == [
            "steps.0.minutes",
            "steps.1.text",
            "steps.2.template_id",
            "steps.3.type",
        ]
        assert body["detail"][0]["message"] == "等待时长为 1 分钟到 60 天（按分钟填写）"
        assert body["message"].startswith("等待时长")
        assert not Journey.objects.exists()

    def test_no_steps_unknown_trigger_and_bad_shapes_are_4xx(self, manager: Client) -> None:
        body = {"name": "空", "trigger": "live_cart_abandoned", "steps": []}
        refused = error(send(manager, "post", f"{BASE}/journeys", body), 422, "journey_invalid")
        assert refused["detail"] == [{"field": "steps", "message": "请至少添加一个步骤"}]
        refused = error(create(manager, trigger="moon_landing"), 422, "journey_invalid")
        assert refused["detail"][0]["field"] == "trigger"
        error(create(manager, steps="all of them"), 422, "validation_error")
        error(create(manager, colour="red"), 422, "validation_error")
        assert not Journey.objects.exists()

    def test_an_unknown_journey_is_404(self, manager: Client) -> None:
        error(manager.get(f"{BASE}/journeys/999999"), 404, "journey_not_found")


class TestPublishAndStatus:
    def test_publishing_makes_the_next_version_current(self, manager: Client) -> None:
        journey_id = create(manager).json()["id"]
        # when
        steps = [{"type": "tag", "tag": "加购未付"}, *WIN_BACK]
        response = send(manager, "post", f"{BASE}/journeys/{journey_id}/versions", {"steps": steps})
        # then
        assert response.status_code == 201, response.content
        assert response.json()["version"] == 2
        assert response.json()["steps"][0] == {"type": "tag", "tag": "加购未付"}
        assert Journey.objects.get().versions.count() == 2

    def test_a_wrong_new_version_changes_nothing(self, manager: Client) -> None:
        journey_id = create(manager).json()["id"]
        response = send(
            manager,
            "post",
            f"{BASE}/journeys/{journey_id}/versions",
            {"steps": [{"type": "task", "title": "回访", "due_minutes": -5}]},
        )
        body = error(response, 422, "journey_invalid")
        assert body["detail"] == [
            {"field": "steps.0.due_minutes", "message": "完成时限为 1 分钟到 60 天"}
        ]
        assert manager.get(f"{BASE}/journeys/{journey_id}").json()["version"] == 1

    def test_start_then_pause(self, manager: Client) -> None:
        journey_id = create(manager).json()["id"]
        url = f"{BASE}/journeys/{journey_id}/status"
        started = send(manager, "post", url, {"status": "active"})
        assert started.status_code == 200, started.content
        assert started.json()["status_label"] == "运行中"
        paused = send(manager, "post", url, {"status": "paused"})
        assert paused.json()["status"] == "paused"
        error(send(manager, "post", url, {"status": "draft"}), 422, "validation_error")
        assert Journey.objects.get().status == "paused"


class TestTestRun:
    def test_runs_the_steps_up_to_the_first_wait(self, manager: Client) -> None:
        # given a draft journey: a coupon, a task, a wait, a tag
        template = coupon_template(
            "jr-test", name="回来立减5元", kind="fixed", amount_off_fen=500, threshold_fen=0
        )
        steps = [
            {"type": "coupon", "template_id": template.pk},
            {"type": "task", "title": "试运行回访", "due_minutes": 30},
            {"type": "wait", "minutes": 60},
            {"type": "tag", "tag": "试运行"},
        ]
        journey_id = create(manager, steps=steps).json()["id"]
        person = make_person()
        # when
        response = send(
            manager, "post", f"{BASE}/journeys/{journey_id}/test-run", {"one_id": person.one_id}
        )
        # then the two actions ran, once, and the enrolment waits before step 4
        assert response.status_code == 200, response.content
        body = response.json()
        assert [(run["index"], run["outcome"]) for run in body["runs"]] == [
            (1, "done"),
            (2, "done"),
        ]
        assert body["status"] == "active"
        assert body["next_step"] == 4
        assert Coupon.objects.get(person=person).template_id == template.pk
        assert StaffTask.objects.get(person=person).title == "试运行回访"
        enrollment = JourneyEnrollment.objects.get()
        assert enrollment.trigger_key.startswith("test:")
        # and a second test run is its own enrolment (the coupon's per-user limit skips it)
        again = send(
            manager, "post", f"{BASE}/journeys/{journey_id}/test-run", {"one_id": person.one_id}
        ).json()
        assert again["runs"][0]["outcome"] == "skipped"
        assert JourneyEnrollment.objects.count() == 2
        assert manager.get(f"{BASE}/journeys/{journey_id}").json()["stats"]["entered"] == 2

    def test_a_journey_that_ends_in_the_run_is_completed(self, manager: Client) -> None:
        journey_id = create(manager, steps=[{"type": "tag", "tag": "试运行"}]).json()["id"]
        body = send(
            manager,
            "post",
            f"{BASE}/journeys/{journey_id}/test-run",
            {"one_id": make_person().one_id},
        ).json()
        assert body["status"] == "completed"
        assert body["status_label"] == "已走完"

    def test_unknown_and_erased_customers_are_refused(self, manager: Client) -> None:
        journey_id = create(manager).json()["id"]
        url = f"{BASE}/journeys/{journey_id}/test-run"
        error(send(manager, "post", url, {"one_id": "nobody"}), 404, "person_not_found")
        person = make_person()
        person_erase(actor=ADMIN, one_id=person.one_id, reason="用户申请注销")
        refused = error(
            send(manager, "post", url, {"one_id": person.one_id}), 422, "journey_invalid"
        )
        assert refused["detail"][0]["field"] == "one_id"
        assert not JourneyEnrollment.objects.exists()


class TestCouponTemplates:
    def test_lists_active_templates_a_journey_can_issue(self, manager: Client) -> None:
        usable = coupon_template("jr-usable", name="回来立减5元")
        coupon_template("jr-live", name="直播专享", live_only=True)
        coupon_template("jr-off", name="已停用", is_active=False)
        items = manager.get(f"{BASE}/coupon-templates").json()["items"]
        assert items == [{"id": usable.pk, "name": "回来立减5元"}]
