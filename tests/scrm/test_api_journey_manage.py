"""The journey API's management calls: create with a trigger's settings, rename, delete (a
draft or paused journey nobody is inside; otherwise a 409 in Chinese), who is inside (paged),
and the segments the 进入人群 trigger may name — bad input a 4xx, never a 500."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.datahub.segments.services import segment_save
from freshloop.promotions.models import Coupon
from freshloop.scrm.models import Journey, JourneyEnrollment, JourneyVersion
from freshloop.scrm.services import enrollment_convert, journey_enroll_people
from tests.factories import make_person, make_staff_user
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

BASE = "/api/v1/scrm"
OPERATOR = Actor(type="user", id="3", label="社群运营小周")
VIP_ONLY = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": "VIP"}]}
STEPS = [
    {"type": "task", "title": "回访", "due_minutes": 60},
    {"type": "wait", "minutes": 120},
    {"type": "tag", "tag": "已回访"},
]


@pytest.fixture
def manager() -> Client:
    client = Client()
    client.force_login(make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER))
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json")


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    assert any("\u4e00" <= char <= "\u9fff" for char in body["message"])
    return body


def create(client: Client, **fields: Any) -> Any:
    body = {"name": "老客回访", "trigger": "order_paid", "steps": STEPS}
    body.update(fields)
    return send(client, "post", f"{BASE}/journeys", body)


def started(client: Client, **fields: Any) -> dict[str, Any]:
    journey = create(client, **fields).json()
    send(client, "post", f"{BASE}/journeys/{journey['id']}/status", {"status": "active"})
    return journey  # type: ignore[no-any-return]


class TestCreateWithSettings:
    def test_a_segment_journey_shows_its_segment(self, manager: Client) -> None:
        segment = segment_save(name="高价值老客", definition=VIP_ONLY, actor=OPERATOR)
        response = create(
            manager,
            trigger="segment_joined",
            trigger_config={"segment_id": segment.pk},
            steps=[{"type": "message", "text": "欢迎成为{segment_name}"}],
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["trigger_label"] == "进入人群"
        assert body["trigger_config"] == {"segment_id": segment.pk}
        assert body["trigger_text"] == "人群：高价值老客"

    def test_wrong_settings_are_422_naming_the_field(self, manager: Client) -> None:
        body = error(
            create(manager, trigger="segment_joined", trigger_config={"segment_id": 42}),
            422,
            "journey_invalid",
        )
        assert body["detail"] == [
            {"field": "trigger_config.segment_id", "message": "请选择一个存在的人群"}
        ]
        body = error(
            create(manager, trigger="birthday", trigger_config={"days": 99}), 422, "journey_invalid"
        )
        assert body["detail"][0]["field"] == "trigger_config.days"
        error(create(manager, trigger_config=[1]), 422, "validation_error")
        assert not Journey.objects.exists()

    def test_the_segments_to_choose_from(self, manager: Client) -> None:
        segment = segment_save(name="高价值老客", definition=VIP_ONLY, actor=OPERATOR)
        response = manager.get(f"{BASE}/trigger-segments")
        assert response.status_code == 200
        assert response.json() == {
            "items": [{"id": segment.pk, "name": "高价值老客", "member_count": 0}]
        }


class TestRename:
    def test_renames_and_audits(self, manager: Client) -> None:
        journey = create(manager).json()
        response = send(
            manager, "patch", f"{BASE}/journeys/{journey['id']}", {"name": " 复购回访 "}
        )
        assert response.status_code == 200, response.content
        assert response.json()["name"] == "复购回访"
        assert response.json()["version"] == 1  # renaming publishes nothing
        log = AuditLog.objects.get(action="scrm.journey_rename")
        assert (log.before, log.after) == ({"name": "老客回访"}, {"name": "复购回访"})

    def test_a_running_journey_can_be_renamed_too(self, manager: Client) -> None:
        journey = started(manager)
        response = send(manager, "patch", f"{BASE}/journeys/{journey['id']}", {"name": "新名字"})
        assert response.status_code == 200
        assert response.json()["status"] == "active"

    @pytest.mark.parametrize("name", ["", "   ", "x" * 65, "换\n行"])
    def test_a_bad_name_is_422(self, manager: Client, name: str) -> None:
        journey = create(manager).json()
        body = error(
            send(manager, "patch", f"{BASE}/journeys/{journey['id']}", {"name": name}),
            422,
            "journey_invalid",
        )
        assert body["detail"][0]["field"] == "name"
        assert Journey.objects.get().name == "老客回访"

    def test_bad_bodies_and_unknown_journeys(self, manager: Client) -> None:
        journey = create(manager).json()
        url = f"{BASE}/journeys/{journey['id']}"
        error(send(manager, "patch", url, {"name": 3}), 422, "validation_error")
        error(send(manager, "patch", url, {"name": "a", "status": "x"}), 422, "validation_error")
        error(
            send(manager, "patch", f"{BASE}/journeys/999", {"name": "a"}), 404, "journey_not_found"
        )


class TestDelete:
    def test_a_draft_goes_with_its_versions_and_is_audited(self, manager: Client) -> None:
        journey = create(manager).json()
        send(manager, "post", f"{BASE}/journeys/{journey['id']}/versions", {"steps": STEPS[:1]})
        response = send(manager, "delete", f"{BASE}/journeys/{journey['id']}")
        assert response.status_code == 204, response.content
        assert not Journey.objects.exists()
        assert not JourneyVersion.objects.exists()
        log = AuditLog.objects.get(action="scrm.journey_delete")
        assert log.before["name"] == "老客回访"
        error(manager.get(f"{BASE}/journeys/{journey['id']}"), 404, "journey_not_found")

    def test_a_running_journey_is_409(self, manager: Client) -> None:
        journey = started(manager)
        body = error(
            send(manager, "delete", f"{BASE}/journeys/{journey['id']}"),
            409,
            "journey_not_deletable",
        )
        assert body["message"] == "运行中的旅程不能删除，请先暂停"
        assert Journey.objects.exists()

    def test_a_paused_journey_with_customers_inside_is_409_until_they_finish(
        self, manager: Client
    ) -> None:
        journey = started(manager)
        people = [make_person(), make_person()]
        journey_enroll_people(
            journey=Journey.objects.get(),
            person_ids=[p.pk for p in people],
            trigger_key="order:1",
            context={},
        )
        send(manager, "post", f"{BASE}/journeys/{journey['id']}/status", {"status": "paused"})
        body = error(
            send(manager, "delete", f"{BASE}/journeys/{journey['id']}"),
            409,
            "journey_not_deletable",
        )
        assert body["message"] == "旅程中还有 2 位客户未走完，不能删除"
        assert body["detail"] == {"active": 2}
        # when they have finished, the journey goes with their finished entries
        JourneyEnrollment.objects.update(status="completed")
        assert send(manager, "delete", f"{BASE}/journeys/{journey['id']}").status_code == 204
        assert not JourneyEnrollment.objects.exists()

    def test_what_the_steps_did_stays(self, manager: Client) -> None:
        template = coupon_template("back", name="回来立减5元")
        journey = create(manager, steps=[{"type": "coupon", "template_id": template.pk}]).json()
        person = make_person()
        send(
            manager, "post", f"{BASE}/journeys/{journey['id']}/test-run", {"one_id": person.one_id}
        )
        assert Coupon.objects.filter(person=person).count() == 1
        assert send(manager, "delete", f"{BASE}/journeys/{journey['id']}").status_code == 204
        assert Coupon.objects.filter(person=person).count() == 1

    def test_an_unknown_journey_is_404(self, manager: Client) -> None:
        error(send(manager, "delete", f"{BASE}/journeys/999"), 404, "journey_not_found")
        error(send(manager, "delete", f"{BASE}/journeys/0"), 422, "validation_error")

    def test_customer_service_may_not(self) -> None:
        client = Client()
        client.force_login(make_staff_user("kefu", Role.CUSTOMER_SERVICE))
        error(send(client, "delete", f"{BASE}/journeys/1"), 403, "permission_denied")


class TestPeople:
    def test_who_is_inside_page_by_page_latest_first(self, manager: Client) -> None:
        journey = started(manager)
        start = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
        people = [make_person(phone=f"+86138000000{n:02d}") for n in range(3)]
        for minutes, person in enumerate(people):
            with clock.frozen(start + dt.timedelta(minutes=minutes)):
                journey_enroll_people(
                    journey=Journey.objects.get(),
                    person_ids=[person.pk],
                    trigger_key=f"order:{minutes}",
                    context={},
                )
        with clock.frozen(start + dt.timedelta(minutes=5)):
            from freshloop.scrm.services import journeys_run_due

            journeys_run_due()
            enrollment_convert(
                person_id=people[0].pk,
                order_no="FL001",
                paid_fen=3990,
                paid_at=start + dt.timedelta(minutes=5),
            )
        url = f"{BASE}/journeys/{journey['id']}/people"
        first = manager.get(url, {"page": 1, "page_size": 2})
        assert first.status_code == 200, first.content
        body = first.json()
        assert (body["total"], body["page"], body["page_size"]) == (3, 1, 2)
        assert [row["one_id"] for row in body["items"]] == [people[2].one_id, people[1].one_id]
        row = body["items"][0]
        assert row["phone_masked"] == "138****0002"
        assert row["status"] == "active"
        assert row["step"] == "第 3 步 · 打标签（等待中）"
        assert row["next_run_at"].startswith("2026-12-04T04:05")
        assert row["version"] == 1
        assert row["test"] is False
        last = manager.get(url, {"page": 2, "page_size": 2}).json()
        assert [row["one_id"] for row in last["items"]] == [people[0].one_id]
        assert (last["items"][0]["converted_order_no"], last["items"][0]["converted_fen"]) == (
            "FL001",
            3990,
        )
        # the status filter
        JourneyEnrollment.objects.filter(person=people[1]).update(status="completed")
        done = manager.get(url, {"status": "completed"}).json()
        assert [row["one_id"] for row in done["items"]] == [people[1].one_id]
        assert done["items"][0]["next_run_at"] is None
        assert done["items"][0]["step"] == "已走完"

    @pytest.mark.parametrize(
        "query",
        [{"page": 0}, {"page": "x"}, {"page_size": 101}, {"page_size": 0}, {"status": "gone"}],
    )
    def test_bad_queries_are_422(self, manager: Client, query: dict[str, Any]) -> None:
        journey = create(manager).json()
        error(
            manager.get(f"{BASE}/journeys/{journey['id']}/people", query), 422, "validation_error"
        )

    def test_an_unknown_journey_is_404(self, manager: Client) -> None:
        error(manager.get(f"{BASE}/journeys/999/people"), 404, "journey_not_found")
