"""Group lucky draws: who may win (checked in / spoke in the window), the seeded replayable
choice, the announcement, and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from freshloop.community.checkin import checkin_do
from freshloop.community.draws import draw_candidates, group_draw_run, group_draw_verify
from freshloop.community.errors import DrawNoCandidates
from freshloop.community.inbound import group_messages_store
from freshloop.community.models import AssistantReply, GroupDraw, ReplyStatus
from freshloop.community.schemas import GroupDrawIn, InboundMessageIn
from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.identity.services import IdentifierInput, identify
from freshloop.live.host.selectors import draw_winners
from freshloop.messaging.wecom import SandboxWecomClient
from tests.community.helpers import CHAT, OPERATOR, message
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db


def speaker(external_userid: str) -> int:
    """A customer known by their external_userid who says something in the group now."""
    person = identify(
        identifiers=[
            IdentifierInput(
                type="wecom_external_userid",
                value=external_userid,
                scope=SandboxWecomClient.corp_id,
            )
        ],
        source="test",
    ).person
    group_messages_store(
        messages=[InboundMessageIn.model_validate(message("大家好", sender=external_userid))]
    )
    return person.pk


def draw_in(**fields: Any) -> GroupDrawIn:
    spec: dict[str, Any] = {"chat_id": CHAT, "title": "周五福利", "prize": "鲜牛奶一箱"}
    spec.update(fields)
    return GroupDrawIn(**spec)


class TestDrawCandidates:
    def test_pools_take_checkins_messages_or_both(self) -> None:
        talker = speaker("wmTalker")
        checker = make_person().pk
        checkin_do(person_id=checker, chat_id=CHAT)
        checkin_do(person_id=make_person().pk, chat_id="another-group")
        now = clock.now()
        window = {
            "chat_id": CHAT,
            "start": now - dt.timedelta(hours=1),
            "end": now + dt.timedelta(seconds=1),
        }
        assert draw_candidates(pool="message", **window) == [talker]
        assert draw_candidates(pool="checkin", **window) == [checker]
        assert draw_candidates(pool="both", **window) == sorted([talker, checker])

    def test_staff_and_people_outside_the_window_are_left_out(self) -> None:
        group_messages_store(
            messages=[InboundMessageIn.model_validate(message(sender="zhang", sender_type="staff"))]
        )
        speaker("wmEarly")
        later = clock.now() + dt.timedelta(hours=3)
        assert (
            draw_candidates(
                chat_id=CHAT, pool="both", start=later - dt.timedelta(hours=1), end=later
            )
            == []
        )


class TestGroupDrawRun:
    def test_winners_are_replayable_and_announced(self) -> None:
        people = [speaker(f"wm{n}") for n in range(5)]
        draw = group_draw_run(body=draw_in(winners_count=2), actor=OPERATOR)
        assert draw.candidates == sorted(people)
        assert len(draw.winners) == 2
        assert set(draw.winners) <= set(people)
        # anyone can recompute the result with live's draw function from what is stored
        assert draw_winners(draw.seed, draw.candidates, 2) == draw.winners
        assert group_draw_verify(draw=draw)
        announcement = AssistantReply.objects.get(pk=draw.announcement_id)
        assert announcement.status == ReplyStatus.PREPARED
        assert announcement.source == "draw"
        assert "鲜牛奶一箱" in announcement.content

    def test_a_tampered_draw_fails_verification(self) -> None:
        for n in range(4):
            speaker(f"wm{n}")
        draw = group_draw_run(body=draw_in(), actor=OPERATOR)
        others = [pid for pid in draw.candidates if pid not in draw.winners]
        draw.winners = [others[0]]
        assert not group_draw_verify(draw=draw)

    def test_more_winners_than_candidates_means_everyone_wins(self) -> None:
        only = speaker("wmOnly")
        draw = group_draw_run(body=draw_in(winners_count=5), actor=OPERATOR)
        assert draw.winners == [only]
        assert draw.winners_count == 1

    def test_an_empty_group_cannot_draw(self) -> None:
        with pytest.raises(DrawNoCandidates):
            group_draw_run(body=draw_in(), actor=OPERATOR)
        assert not GroupDraw.objects.exists()


class TestDrawApi:
    def test_a_manager_runs_and_reads_a_draw(self) -> None:
        speaker("wmA")
        client = Client()
        client.force_login(make_staff_user("cm", Role.COMMUNITY_MANAGER))
        body = {"chat_id": CHAT, "title": "周五福利", "prize": "鲜牛奶", "winners_count": 1}
        created = client.post("/api/v1/community/draws", body, content_type="application/json")
        assert created.status_code == 201, created.content
        detail = client.get(f"/api/v1/community/draws/{created.json()['id']}").json()
        assert detail["verified"] is True
        assert len(detail["winner_names"]) == 1

    def test_bad_input_and_empty_groups_are_4xx(self) -> None:
        client = Client()
        client.force_login(make_staff_user("cm", Role.COMMUNITY_MANAGER))
        empty = {"chat_id": "nobody-here", "title": "x", "prize": "y"}
        response = client.post("/api/v1/community/draws", empty, content_type="application/json")
        assert response.status_code == 409
        assert response.json()["code"] == "community_draw_no_candidates"
        blank = {"chat_id": CHAT, "title": " ", "prize": "y"}
        response = client.post("/api/v1/community/draws", blank, content_type="application/json")
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "title"
        assert client.get("/api/v1/community/draws/999").status_code == 404
