"""Welcome templates registered with WeCom; topics become group mass messages the owner
confirms, tracked as pending until WeCom says they were sent."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.community.errors import CommunityInvalid
from freshloop.community.models import TopicSend, TopicSendStatus
from freshloop.community.services import (
    WelcomeSpec,
    group_welcome_set,
    topic_create,
    topic_results_check,
    topics_run_due,
    welcome_template_create,
)
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.messaging.models import WecomSandboxMessage, WecomSandboxMessageKind
from tests.community.helpers import OWNER, make_group

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


class TestWelcomeTemplateCreate:
    def test_the_template_is_registered_with_wecom_and_chosen_for_a_group(self) -> None:
        group = make_group("wr_a")
        template = welcome_template_create(
            spec=WelcomeSpec(
                name="新人欢迎", text="欢迎入群～", link_title="新人礼", link_url="https://x.cn/g"
            ),
            actor=OPERATOR,
        )
        sent = WecomSandboxMessage.objects.get(kind=WecomSandboxMessageKind.GROUP_WELCOME_TEMPLATE)
        assert template.wecom_template_id == sent.wecom_id
        assert sent.attachments[0]["link"]["url"] == "https://x.cn/g"
        group_welcome_set(group=group, template=template)
        group.refresh_from_db()
        assert group.welcome_template_id == template.pk

    def test_two_attachments_or_nothing_are_refused(self) -> None:
        with pytest.raises(CommunityInvalid):
            welcome_template_create(spec=WelcomeSpec(name="空"), actor=OPERATOR)
        with pytest.raises(CommunityInvalid):
            welcome_template_create(
                spec=WelcomeSpec(
                    name="两个",
                    image_url="https://x.cn/a.png",
                    link_title="t",
                    link_url="https://x.cn",
                ),
                actor=OPERATOR,
            )
        assert not WecomSandboxMessage.objects.exists()


class TestTopicsRunDue:
    def test_a_due_topic_creates_one_pending_group_message_from_the_owner(self) -> None:
        with clock.frozen(MORNING):
            group = make_group("wr_a", customers=1)
            topic = topic_create(
                group=group,
                text="今天聊聊：冬天怎么炖汤？",
                repeat="weekly",
                first_at=MORNING + dt.timedelta(hours=1),
                actor=OPERATOR,
            )
        assert topics_run_due(now=MORNING + dt.timedelta(minutes=30)) == 0

        due = MORNING + dt.timedelta(hours=1, minutes=1)
        assert topics_run_due(now=due) == 1
        assert topics_run_due(now=due) == 0  # the occurrence is taken once

        send = TopicSend.objects.get(topic=topic)
        assert send.status == TopicSendStatus.PENDING
        assert send.sender == OWNER
        message = WecomSandboxMessage.objects.get(kind=WecomSandboxMessageKind.GROUP)
        assert (message.chat_id, message.staff_userid, message.wecom_id) == (
            "wr_a",
            OWNER,
            send.msgid,
        )
        topic.refresh_from_db()
        assert topic.next_run_at == MORNING + dt.timedelta(days=7, hours=1)

    def test_the_owner_confirming_settles_the_send(self) -> None:
        with clock.frozen(MORNING):
            group = make_group("wr_a")
            topic_create(
                group=group,
                text="话题",
                repeat="once",
                first_at=MORNING + dt.timedelta(hours=1),
                actor=OPERATOR,
            )
        topics_run_due(now=MORNING + dt.timedelta(hours=2))

        assert topic_results_check() == 1  # the sandbox counts a group message as sent

        send = TopicSend.objects.get()
        assert send.status == TopicSendStatus.SENT
        assert send.sent_at is not None

    @pytest.mark.parametrize(("earlier", "status"), [(30, "pending"), (31, "skipped")])
    def test_wecoms_monthly_limit_per_group_is_kept(self, earlier: int, status: str) -> None:
        # given a group that got `earlier` topic messages this December (31 days)
        with clock.frozen(MORNING):
            group = make_group("wr_a")
            topic = topic_create(
                group=group,
                text="话题",
                repeat="once",
                first_at=MORNING + dt.timedelta(hours=1),
                actor=OPERATOR,
            )
        for day in range(earlier):
            TopicSend.objects.create(
                topic=topic,
                group=group,
                due_at=MORNING.replace(day=1) + dt.timedelta(hours=day),
                status=TopicSendStatus.SENT,
                created_at=MORNING,
            )

        topics_run_due(now=MORNING + dt.timedelta(hours=2))

        send = TopicSend.objects.get(due_at=MORNING + dt.timedelta(hours=1))
        assert send.status == status
        sent = WecomSandboxMessage.objects.filter(kind=WecomSandboxMessageKind.GROUP).count()
        assert sent == (1 if status == "pending" else 0)


class TestTopicResultsCheck:
    def test_an_occurrence_interrupted_before_wecom_answered_is_marked_failed(self) -> None:
        with clock.frozen(MORNING):
            group = make_group("wr_a")
            topic = topic_create(
                group=group,
                text="话题",
                repeat="once",
                first_at=MORNING + dt.timedelta(hours=1),
                actor=OPERATOR,
            )
        TopicSend.objects.create(
            topic=topic, group=group, due_at=MORNING + dt.timedelta(hours=1), created_at=MORNING
        )

        assert topic_results_check(now=MORNING + dt.timedelta(minutes=5)) == 0
        assert topic_results_check(now=MORNING + dt.timedelta(minutes=11)) == 1

        assert TopicSend.objects.get().status == TopicSendStatus.FAILED


class TestTopicCreate:
    @pytest.mark.parametrize(
        ("text", "hour", "field"),
        [("", 3, "text"), ("x" * 1001, 3, "text"), ("话题", 15, "first_at")],  # 15 UTC = 23:00
    )
    def test_bad_topics_are_refused(self, text: str, hour: int, field: str) -> None:
        with clock.frozen(MORNING):
            group = make_group("wr_a")
            with pytest.raises(CommunityInvalid) as refused:
                topic_create(
                    group=group,
                    text=text,
                    repeat="once",
                    first_at=MORNING.replace(hour=hour) + dt.timedelta(days=1),
                    actor=OPERATOR,
                )
        assert refused.value.detail[0]["field"] == field
