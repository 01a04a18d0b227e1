"""The contacts API (/api/v1/scrm/contacts, /transfers, /tags): who may call it, a transfer end
to end, and bad input refused with a 4xx code and a Chinese message, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.messaging.wecom import sandbox_staff_resign
from freshloop.scrm.models import ComputedTagPush, ContactTransfer, WecomTag
from tests.scrm.test_api import error, operator, send
from tests.scrm.wecom_helpers import contact

pytestmark = pytest.mark.django_db

BASE = "/api/v1/scrm"


@pytest.fixture
def manager() -> Client:
    contact("wm_sandbox_0001")
    contact("wm_sandbox_0002")
    return operator(Role.COMMUNITY_MANAGER)


def transfer(client: Client, **fields: Any) -> Any:
    body = {"handover_userid": "fl_staff_lin", "takeover_userids": ["fl_staff_zhou"]}
    return send(client, "post", f"{BASE}/contacts/transfer", {**body, **fields})


class TestContactList:
    def test_lists_contacts_with_follow_user_and_tags(self, manager: Client) -> None:
        response = manager.get(f"{BASE}/contacts?staff=fl_staff_lin")
        assert response.status_code == 200
        items = {item["external_userid"]: item for item in response.json()["items"]}
        assert items["wm_sandbox_0001"]["tags"] == ["客户等级/VIP"]
        assert items["wm_sandbox_0001"]["follow_userid"] == "fl_staff_lin"

    def test_an_unknown_status_is_a_422(self, manager: Client) -> None:
        error(manager.get(f"{BASE}/contacts?status=gone"), 422, "invalid_input")


class TestTransfer:
    def test_resigned_transfer_is_accepted(self, manager: Client) -> None:
        sandbox_staff_resign(userid="fl_staff_lin")
        response = transfer(manager, kind="resigned")
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["waiting"], body["rejected"]) == (2, 0)
        assert {row["status_label"] for row in body["transfers"]} == {"等待接替"}
        listed = manager.get(f"{BASE}/transfers").json()["items"]
        assert len(listed) == 2

    def test_an_unknown_takeover_staff_member(self, manager: Client) -> None:
        body = error(
            transfer(manager, kind="in_service", takeover_userids=["fl_staff_ghost"]),
            422,
            "contact_transfer_invalid",
        )
        assert body["detail"][0]["field"] == "takeover_userids"
        assert "fl_staff_ghost" in body["detail"][0]["message"]

    def test_unknown_external_ids(self, manager: Client) -> None:
        body = error(
            transfer(manager, kind="in_service", external_userids=["wm_nobody"]),
            422,
            "contact_transfer_invalid",
        )
        assert body["detail"][0]["field"] == "external_userids"

    def test_more_than_100_ids(self, manager: Client) -> None:
        ids = [f"wm_{n:04d}" for n in range(101)]
        body = error(
            transfer(manager, kind="in_service", external_userids=ids),
            422,
            "contact_transfer_invalid",
        )
        assert "最多转接 100 位客户" in body["detail"][0]["message"]
        assert ContactTransfer.objects.count() == 0

    def test_malformed_bodies(self, manager: Client) -> None:
        assert transfer(manager, kind="fired").status_code == 422
        assert transfer(manager, takeover_userids=[]).status_code == 422
        huge = transfer(manager, external_userids=[f"wm_{n}" for n in range(1001)])
        assert huge.status_code == 422

    def test_a_marketer_may_not_transfer(self) -> None:
        response = transfer(operator(Role.MARKETER, "marketer"), kind="in_service")
        error(response, 403, "permission_denied")

    def test_poll(self, manager: Client) -> None:
        transfer(manager, kind="in_service")
        response = send(manager, "post", f"{BASE}/transfers/poll")
        assert response.status_code == 200
        assert response.json() == {"ended": 0}


class TestTags:
    def test_sync_then_list(self, manager: Client) -> None:
        response = send(manager, "post", f"{BASE}/tags/sync")
        assert response.status_code == 202
        assert WecomTag.objects.count() == 2
        body = manager.get(f"{BASE}/tags").json()
        assert {tag["freshloop_tag"] for tag in body["tags"]} == {"VIP", "新客"}
        assert "重要价值客户" in body["pushable"]["rfm_segment"]

    def test_computed_push_setting(self, manager: Client, tmp_path: Any, settings: Any) -> None:
        settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
        from freshloop.datahub.eventstore.selectors import EventStore
        from freshloop.datahub.eventstore.services import buffer_flush_all

        buffer_flush_all(store=EventStore(settings.DATAHUB_STORE_PATH))  # an empty store
        response = send(
            manager,
            "post",
            f"{BASE}/tags/computed-push",
            {"column": "rfm_segment", "value": "重要价值客户", "enabled": True},
        )
        assert response.status_code == 200, response.content
        assert response.json()["wecom_tag_id"]
        assert ComputedTagPush.objects.get().enabled

    def test_a_bad_computed_tag_is_a_422(self, manager: Client) -> None:
        body = error(
            send(
                manager,
                "post",
                f"{BASE}/tags/computed-push",
                {"column": "monetary_fen", "value": "1"},
            ),
            422,
            "computed_tag_invalid",
        )
        assert body["message"] == "这个计算标签不能推送到企业微信"


class TestWecomDown:
    def test_a_transfer_while_wecom_is_down_is_a_502(
        self, manager: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from freshloop.messaging.errors import WecomUnavailable
        from freshloop.messaging.wecom import SandboxWecomClient

        def down(self: Any) -> list[str]:
            raise WecomUnavailable(errcode=-1, errmsg="system busy")

        monkeypatch.setattr(SandboxWecomClient, "follow_user_list", down)
        body = error(transfer(manager, kind="in_service"), 502, "contact_transfer_unavailable")
        assert body["detail"]["errcode"] == -1
