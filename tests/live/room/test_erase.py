"""PIPL erasure in the live room: an erased person's comments and nicknames leave every table
(the moderation trail included); their person id stays on every row as a tombstone, and
nobody else's data changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.apps import apps
from django.db import models

from freshloop.core import clock, realtime
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog, OutboxMessage
from freshloop.core.outbox import outbox_relay
from freshloop.datahub.models import BufferedEvent
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.privacy import person_erase, person_export
from freshloop.live.host.services import comment_delete
from freshloop.live.models import LiveActivity, LiveComment, LiveSession, LiveViewer
from freshloop.live.room.selectors import room_channel
from freshloop.live.room.services import (
    ERASED_NICKNAME,
    comment_post,
    viewer_join,
    viewer_personal_data_erase,
)
from tests.factories import make_person
from tests.live.helpers import HOST_ACTOR, make_session

pytestmark = pytest.mark.django_db

CS = Actor(type="user", id="9", label="客服小李")


def rows_containing(needle: str) -> list[str]:
    """Every row, in the live tables and wherever a copy of a comment could land (the audit
    trail, the outbox, the data hub's buffer), with a text or JSON field containing `needle`."""
    found = []
    searched = [*apps.get_app_config("live").get_models(), AuditLog, OutboxMessage, BufferedEvent]
    for model in searched:
        fields = [
            f.name
            for f in model._meta.get_fields()
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        for row in model.objects.values("pk", *fields):
            if any(needle in str(row[name]) for name in fields):
                found.append(f"{model._meta.label}:{row['pk']}")
    return found


def watch_and_say(session: LiveSession, person: Person, nickname: str, *texts: str) -> None:
    viewer_join(session=session, person=person, nickname=nickname)
    for text in texts:
        comment_post(session=session, person=person, text=text)


@pytest.fixture
def room() -> dict[str, Any]:
    """Two viewers of one session; the first also had a comment deleted by the host."""
    session = make_session()
    erased, other = make_person(), make_person()
    watch_and_say(session, erased, "王小明", "我住张江路 88 号", "电话 13800138000 联系我")
    watch_and_say(session, other, "李大姐", "牛奶真新鲜")
    comment_delete(comment=LiveComment.objects.get(text="我住张江路 88 号"), actor=HOST_ACTOR)
    return {"session": session, "erased": erased, "other": other}


class TestPersonErasedInTheRoom:
    def test_comment_text_and_nicknames_are_gone_from_every_table(
        self, room: dict[str, Any], django_capture_on_commit_callbacks: Any
    ) -> None:
        # given the host's deletion copied one of the comments into the audit trail
        assert rows_containing("张江路 88 号")
        # when the person is erased
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=room["erased"].one_id, reason="用户申请注销")
        # then none of their words or their nickname is left anywhere
        for secret in ("张江路 88 号", "13800138000", "王小明"):
            assert rows_containing(secret) == [], secret

    def test_the_rooms_replay_buffer_forgets_their_words_and_name(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a room whose real-time buffer carries the person's join and comment (a page
        # reconnecting with Last-Event-ID would be handed them again)
        session, erased, other = make_session(), make_person(), make_person()
        with django_capture_on_commit_callbacks(execute=True):
            watch_and_say(session, erased, "王小明", "电话 13800138000 联系我")
            watch_and_say(session, other, "李大姐", "牛奶真新鲜")
        channel = room_channel(code=session.code)
        assert "13800138000" in str([e.data for e in realtime.get_broker().buffered(channel)])
        # when the person is erased
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        # then the buffer holds neither their words nor their name; the others' stay
        buffered = str([e.data for e in realtime.get_broker().buffered(channel)])
        assert "13800138000" not in buffered
        assert "王小明" not in buffered
        assert "牛奶真新鲜" in buffered
        assert "李大姐" in buffered

    def test_their_person_id_stays_on_every_row_as_a_tombstone(
        self, room: dict[str, Any], django_capture_on_commit_callbacks: Any
    ) -> None:
        erased = room["erased"]
        activities = LiveActivity.objects.filter(person=erased).count()
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        viewer = LiveViewer.objects.get(person=erased)
        assert viewer.nickname == ERASED_NICKNAME
        comments = LiveComment.objects.filter(viewer=viewer)
        assert comments.count() == 2  # the comments were there; the session's numbers stay
        assert set(comments.values_list("text", flat=True)) == {""}
        assert all(c.deleted_at is not None for c in comments)
        # the one the host had deleted still says who deleted it
        assert set(comments.values_list("deleted_by", flat=True)) == {"主播小鲜", "PIPL 删除"}
        assert LiveActivity.objects.filter(person=erased).count() == activities
        audit = AuditLog.objects.get(action="live.comment_delete")
        assert audit.before == {"text": "", "viewer": viewer.pk}
        assert AuditLog.objects.filter(
            action="live.viewer_erase", target_id=str(erased.pk)
        ).exists()

    def test_other_peoples_comments_and_names_are_untouched(
        self, room: dict[str, Any], django_capture_on_commit_callbacks: Any
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=room["erased"].one_id, reason="用户申请注销")
        other = LiveViewer.objects.get(person=room["other"])
        assert other.nickname == "李大姐"
        comment = LiveComment.objects.get(viewer=other)
        assert (comment.text, comment.deleted_at) == ("牛奶真新鲜", None)

    def test_it_is_durable_a_crash_after_the_commit_loses_nothing(
        self, room: dict[str, Any], django_capture_on_commit_callbacks: Any
    ) -> None:
        # given the erasure committed but the process died before anything ran after it
        with django_capture_on_commit_callbacks(execute=False):
            person_erase(actor=CS, one_id=room["erased"].one_id, reason="用户申请注销")
        assert rows_containing("13800138000")
        # when the relay finds the effect once its lease has passed
        with clock.frozen(clock.now() + dt.timedelta(minutes=10)):
            outbox_relay()
        # then the scrub happened all the same
        assert rows_containing("13800138000") == []
        assert rows_containing("王小明") == []

    def test_merged_in_peoples_rows_go_too(
        self, room: dict[str, Any], django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a second account merged into the person, whose rows a lost merge handler
        # left behind under the merged-away id
        session, erased = room["session"], room["erased"]
        twin = make_person()
        watch_and_say(make_session(), twin, "小明的小号", "我的身份证 110101199003074477")
        Person.objects.filter(pk=twin.pk).update(merged_into=erased, status=PersonStatus.MERGED)
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        assert rows_containing("110101199003074477") == []
        assert rows_containing("小明的小号") == []
        assert LiveSession.objects.filter(pk=session.pk).exists()


class TestViewerPersonalDataErase:
    def test_a_second_delivery_changes_nothing(
        self, room: dict[str, Any], django_capture_on_commit_callbacks: Any
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=room["erased"].one_id, reason="用户申请注销")
        before = list(LiveComment.objects.values_list("pk", "text", "deleted_at", "deleted_by"))
        again = viewer_personal_data_erase(person_id=room["erased"].pk)
        assert again == {"comments": 0, "viewers": 0, "audit_records": 0}
        assert (
            list(LiveComment.objects.values_list("pk", "text", "deleted_at", "deleted_by"))
            == before
        )

    def test_it_never_touches_a_person_who_was_not_erased(self, room: dict[str, Any]) -> None:
        done = viewer_personal_data_erase(person_id=room["other"].pk)
        assert done == {"comments": 0, "viewers": 0, "audit_records": 0}
        assert LiveComment.objects.filter(text="牛奶真新鲜").exists()


class TestLiveExportSection:
    def test_the_pipl_export_lists_viewing_and_comments(self, room: dict[str, Any]) -> None:
        document = person_export(actor=CS, one_id=room["erased"].one_id)
        section = document["sections"]["live"]
        assert section["viewing"][0]["nickname"] == "王小明"
        assert section["viewing"][0]["session"] == room["session"].code
        assert {c["text"]: c["deleted"] for c in section["comments"]} == {
            "我住张江路 88 号": True,
            "电话 13800138000 联系我": False,
        }
