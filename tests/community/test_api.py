"""The community API: who may call it, the happy paths, and bad input refused with a 4xx
(unknown chat ids, empty or huge text, a threshold outside 1..200)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.community.models import JoinCode, TopicPrompt
from freshloop.core import clock
from freshloop.core.permissions import Role
from tests.community.helpers import make_group
from tests.factories import make_staff_user
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

BASE = "/api/v1/community"
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def operator(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json")


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    return body


@pytest.fixture
def manager() -> Client:
    return operator(Role.COMMUNITY_MANAGER)


def code_body(**group: Any) -> dict[str, Any]:
    entry = {"chat_id": "wr_a", "qr_content": "https://work.weixin.qq.com/gm/a", "threshold": 200}
    entry.update(group)
    return {"name": "福利群活码", "groups": [entry]}


class TestAccess:
    def test_customer_service_and_visitors_are_refused(self) -> None:
        assert Client().get(f"{BASE}/groups").status_code == 401
        assert operator(Role.CUSTOMER_SERVICE).get(f"{BASE}/groups").status_code == 403


class TestGroups:
    def test_sync_list_detail_and_health(self, manager: Client) -> None:
        make_group("wr_a", customers=2)
        synced = send(manager, "post", f"{BASE}/groups/sync")
        assert synced.status_code == 200
        assert synced.json()["groups"] == 2

        names = [item["chat_id"] for item in manager.get(f"{BASE}/groups").json()["items"]]
        assert "wr_a" in names
        detail = manager.get(f"{BASE}/groups/wr_a").json()
        assert detail["customer_count"] == 2
        assert {member["member_type"] for member in detail["members"]} == {"staff", "customer"}
        assert all(m["one_id"] for m in detail["members"] if m["member_type"] == "customer")
        assert detail["health"]["customers"] == 2
        assert manager.get(f"{BASE}/health").json()["customers"] >= 2

    def test_an_unknown_chat_id_is_a_404(self, manager: Client) -> None:
        error(manager.get(f"{BASE}/groups/wr_nope"), 404, "group_not_found")
        error(
            send(manager, "put", f"{BASE}/groups/wr_nope/welcome-template", {"template_id": None}),
            404,
            "group_not_found",
        )


class TestJoinCodes:
    def test_create_shows_the_qr_and_the_current_group(self, manager: Client) -> None:
        make_group("wr_a")
        response = send(manager, "post", f"{BASE}/join-codes", code_body())
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["qr_svg"].startswith("data:image/svg+xml")
        assert body["url"].endswith(f"/community/join/{body['code']}")
        assert body["current_chat_id"] == "wr_a"

    @pytest.mark.parametrize("threshold", [0, 201, -1])
    def test_a_threshold_outside_1_to_200_is_a_422(self, manager: Client, threshold: int) -> None:
        make_group("wr_a")
        response = send(manager, "post", f"{BASE}/join-codes", code_body(threshold=threshold))
        assert response.status_code == 422
        assert not JoinCode.objects.exists()

    def test_unknown_chat_ids_are_a_404(self, manager: Client) -> None:
        error(send(manager, "post", f"{BASE}/join-codes", code_body()), 404, "group_not_found")

    def test_a_qr_that_is_not_a_link_is_a_422(self, manager: Client) -> None:
        make_group("wr_a")
        response = send(manager, "post", f"{BASE}/join-codes", code_body(qr_content="扫我"))
        body = error(response, 422, "community_invalid")
        assert body["detail"][0]["field"] == "groups.0.qr_content"


class TestTopics:
    def body(self, **fields: Any) -> dict[str, Any]:
        body = {
            "chat_id": "wr_a",
            "text": "今天聊聊：冬天怎么炖汤？",
            "repeat": "weekly",
            "first_at": (MORNING + dt.timedelta(days=1)).isoformat(),
        }
        body.update(fields)
        return body

    def test_create(self, manager: Client) -> None:
        with clock.frozen(MORNING):
            make_group("wr_a")
            response = send(manager, "post", f"{BASE}/topics", self.body())
        assert response.status_code == 201, response.content
        assert response.json()["next_run_at"].startswith("2026-12-05T02:00")

    @pytest.mark.parametrize("text", ["", "   ", "话" * 1001])
    def test_empty_or_huge_text_is_a_422(self, manager: Client, text: str) -> None:
        with clock.frozen(MORNING):
            make_group("wr_a")
            response = send(manager, "post", f"{BASE}/topics", self.body(text=text))
        assert response.status_code == 422
        assert not TopicPrompt.objects.exists()

    def test_an_unknown_group_is_a_404(self, manager: Client) -> None:
        error(send(manager, "post", f"{BASE}/topics", self.body()), 404, "group_not_found")


class TestWelcomeTemplates:
    def test_create_and_list(self, manager: Client) -> None:
        response = send(
            manager, "post", f"{BASE}/welcome-templates", {"name": "欢迎", "text": "欢迎入群"}
        )
        assert response.status_code == 201, response.content
        assert response.json()["wecom_template_id"].startswith("tpl_sandbox_")
        assert len(manager.get(f"{BASE}/welcome-templates").json()["items"]) == 1

    def test_empty_is_a_422(self, manager: Client) -> None:
        response = send(manager, "post", f"{BASE}/welcome-templates", {"name": "空"})
        error(response, 422, "community_invalid")


class TestChallenges:
    def test_create_and_progress(self, manager: Client) -> None:
        make_group("wr_a", customers=1)
        template = coupon_template(code="group-10")
        body = {
            "chat_id": "wr_a",
            "name": "冲 ¥500",
            "target_fen": 50000,
            "starts_at": clock.now().isoformat(),
            "ends_at": (clock.now() + dt.timedelta(days=7)).isoformat(),
            "coupon_template_id": template.pk,
        }
        response = send(manager, "post", f"{BASE}/challenges", body)
        assert response.status_code == 201, response.content
        assert (response.json()["percent"], response.json()["status"]) == (0, "active")

        body["coupon_template_id"] = 999999
        error(send(manager, "post", f"{BASE}/challenges", body), 422, "community_invalid")
        body["target_fen"] = 0
        assert send(manager, "post", f"{BASE}/challenges", body).status_code == 422
        error(manager.get(f"{BASE}/challenges/999"), 404, "challenge_not_found")
