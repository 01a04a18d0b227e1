"""The mass message and moment API (/api/v1/scrm/broadcasts, /moments): who may call it, a
draft sent end to end with its results, and bad input answered 4xx with the field named."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.messaging.models import WecomSandboxMessage
from freshloop.scrm.models import Broadcast, BroadcastStatus, MomentStatus, MomentTask
from tests.scrm.test_api import BASE, error, operator, send

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def manager() -> Client:
    return operator(Role.COMMUNITY_MANAGER)


@pytest.fixture(autouse=True)
def morning() -> Iterator[None]:
    with clock.frozen(MORNING):
        yield


def draft(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": "周末鲜果", "kind": "text", "text": "草莓买二送一～"}
    body.update(fields)
    return body


def fields_of(body: dict[str, Any]) -> list[str]:
    return [problem["field"] for problem in body["detail"]]


class TestWhoMayCall:
    def test_customer_service_gets_403_and_anonymous_401(self) -> None:
        error(operator(Role.CUSTOMER_SERVICE).get(f"{BASE}/broadcasts"), 403, "permission_denied")
        error(Client().post(f"{BASE}/moments"), 401, "not_authenticated")

    def test_a_marketer_may_compose(self) -> None:
        response = send(operator(Role.MARKETER), "post", f"{BASE}/broadcasts", draft())
        assert response.status_code == 201, response.content


class TestSendEndToEnd:
    def test_draft_preview_send_and_results(
        self, manager: Client, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        # given the sandbox's three customers as contacts? none yet: everyone is "all contacts"
        created = send(manager, "post", f"{BASE}/broadcasts", draft())
        assert created.status_code == 201, created.content
        body = created.json()
        assert (body["status"], body["audience_label"], body["results"]) == (
            "draft",
            "全部企业微信好友",
            None,
        )
        assert body["tracking_code"] == f"bc-{body['id']}"
        preview = send(manager, "post", f"{BASE}/broadcasts/preview", {"segment_id": None})
        assert preview.status_code == 200
        assert preview.json()["audience"] == 0
        # when it is sent now
        with django_capture_on_commit_callbacks(execute=True):
            sent = send(
                manager, "post", f"{BASE}/broadcasts/{body['id']}/schedule", {"send_now": True}
            )
        # then it was sent (to nobody: no contacts) and has results
        assert sent.status_code == 200, sent.content
        detail = manager.get(f"{BASE}/broadcasts/{body['id']}").json()
        assert detail["status"] == "sent"
        assert detail["results"]["recipients"] == 0
        listed = manager.get(f"{BASE}/broadcasts").json()["items"]
        assert [item["id"] for item in listed] == [body["id"]]

    def test_a_moment_is_handed_to_wecom(self, manager: Client) -> None:
        response = send(
            manager,
            "post",
            f"{BASE}/moments",
            {"text": "今晚直播", "kind": "text", "sender_userids": ["fl_staff_zhou"]},
        )
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "published"
        assert WecomSandboxMessage.objects.filter(
            kind="moment", external_userid="wm_sandbox_0003"
        ).exists()
        error(
            send(manager, "post", f"{BASE}/moments/{response.json()['id']}/publish"),
            409,
            "moment_not_editable",
        )


class TestBadInput:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"segment_id": 987_654}, "segment_id"),
            ({"text": ""}, "text"),
            ({"text": "鲜" * 2000}, "text"),
            ({"scheduled_at": "2026-12-04T01:00:00Z"}, "scheduled_at"),
            ({"kind": "product", "product_id": 42}, "product_id"),
        ],
    )
    def test_422_names_the_field(self, manager: Client, fields: dict[str, Any], field: str) -> None:
        body = error(
            send(manager, "post", f"{BASE}/broadcasts", draft(**fields)), 422, "broadcast_invalid"
        )
        assert field in fields_of(body)
        assert not Broadcast.objects.exists()

    def test_a_megabyte_of_text_is_refused_before_the_service(self, manager: Client) -> None:
        response = send(manager, "post", f"{BASE}/broadcasts", draft(text="鲜" * 100_000))
        assert response.status_code in (413, 422)

    def test_preview_of_an_unknown_segment_is_422(self, manager: Client) -> None:
        body = error(
            send(manager, "post", f"{BASE}/broadcasts/preview", {"segment_id": 987_654}),
            422,
            "broadcast_invalid",
        )
        assert fields_of(body) == ["segment_id"]

    def test_a_time_without_its_zone_is_422(self, manager: Client) -> None:
        for url, body in (
            (f"{BASE}/broadcasts/preview", {"scheduled_at": "2026-12-05T10:00:00"}),
            (f"{BASE}/broadcasts", draft(scheduled_at="2026-12-05T10:00:00")),
        ):
            answer = error(send(manager, "post", url, body), 422, "broadcast_invalid")
            assert fields_of(answer) == ["scheduled_at"]

    def test_a_sent_or_cancelled_message_cannot_be_edited(
        self, manager: Client, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        first = send(manager, "post", f"{BASE}/broadcasts", draft()).json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            send(manager, "post", f"{BASE}/broadcasts/{first}/schedule", {"send_now": True})
        assert Broadcast.objects.get(pk=first).status == BroadcastStatus.SENT
        error(
            send(manager, "put", f"{BASE}/broadcasts/{first}", draft()),
            409,
            "broadcast_not_editable",
        )
        error(
            send(manager, "post", f"{BASE}/broadcasts/{first}/cancel"),
            409,
            "broadcast_not_editable",
        )
        second = send(manager, "post", f"{BASE}/broadcasts", draft()).json()["id"]
        assert send(manager, "post", f"{BASE}/broadcasts/{second}/cancel").json()["status"] == (
            "cancelled"
        )
        error(
            send(manager, "post", f"{BASE}/broadcasts/{second}/schedule", {"send_now": False}),
            409,
            "broadcast_not_editable",
        )

    def test_an_unknown_message_is_404(self, manager: Client) -> None:
        error(manager.get(f"{BASE}/broadcasts/987654"), 404, "broadcast_not_found")
        error(send(manager, "post", f"{BASE}/moments/987654/publish"), 404, "moment_not_found")

    def test_a_moment_wecom_refuses_is_422_and_kept_as_failed(self, manager: Client) -> None:
        body = error(
            send(
                manager,
                "post",
                f"{BASE}/moments",
                {"text": "新品", "kind": "text", "visible_tag_ids": ["et_unknown"]},
            ),
            422,
            "moment_rejected",
        )
        assert body["detail"]["errcode"] == 40068
        assert MomentTask.objects.get().status == MomentStatus.FAILED

    def test_a_moment_without_content_is_422(self, manager: Client) -> None:
        body = error(
            send(manager, "post", f"{BASE}/moments", {"text": " ", "kind": "text"}),
            422,
            "moment_invalid",
        )
        assert fields_of(body) == ["text"]
