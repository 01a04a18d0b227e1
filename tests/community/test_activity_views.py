"""The console pages of the assistant and draws, the chat-sidebar page and /m/checkin."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from freshloop.community.assistant import message_handle
from freshloop.community.checkin import checkin_do
from freshloop.community.inbound import group_messages_store
from freshloop.community.models import AssistantRule, GroupDraw
from freshloop.community.schemas import InboundMessageIn
from freshloop.core.permissions import Role
from freshloop.identity.services import consumer_token_issue
from tests.community.helpers import CHAT, make_rule, message
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db


def operator(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


def prepared(text: str = "发货", chat_id: str = CHAT) -> None:
    (saved,) = group_messages_store(
        messages=[InboundMessageIn.model_validate(message(text, chat_id=chat_id))]
    ).stored
    assert message_handle(message=saved) is not None


class TestAssistantRules:
    def test_the_page_lists_rules_and_recent_replies(self) -> None:
        make_rule(name="发货咨询")
        prepared()
        page = operator(Role.COMMUNITY_MANAGER).get("/console/community/assistant/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "发货咨询" in html
        assert "下单后 24 小时内冷链发货～" in html
        assert "社群助手" in html  # the console nav link

    def test_the_form_creates_a_rule(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        response = client.post(
            "/console/community/assistant/",
            {
                "name": "签到",
                "match": "regex",
                "pattern": "^签到$",
                "reply_kind": "checkin",
                "reply_text": "",
                "cooldown_seconds": "0",
                "enabled": "on",
            },
        )
        assert response.status_code == 302
        rule = AssistantRule.objects.get()
        assert (rule.name, rule.reply_kind, rule.enabled) == ("签到", "checkin", True)

    def test_a_dangerous_regex_is_shown_back_with_its_reason(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        response = client.post(
            "/console/community/assistant/",
            {
                "name": "x",
                "match": "regex",
                "pattern": "(a+)+",
                "reply_kind": "text",
                "reply_text": "y",
                "cooldown_seconds": "60",
            },
        )
        assert response.status_code == 422
        assert "嵌套的重复" in response.content.decode()
        assert not AssistantRule.objects.exists()

    def test_the_editor_changes_a_rule(self) -> None:
        rule = make_rule()
        client = operator(Role.COMMUNITY_MANAGER)
        assert client.get(f"/console/community/assistant/rules/{rule.pk}").status_code == 200
        client.post(
            f"/console/community/assistant/rules/{rule.pk}",
            {
                "name": "发货咨询",
                "match": "contains",
                "pattern": "快递",
                "reply_kind": "text",
                "reply_text": "顺丰冷链",
                "cooldown_seconds": "60",
            },
        )
        rule.refresh_from_db()
        assert (rule.pattern, rule.enabled) == ("快递", False)
        assert client.get("/console/community/assistant/rules/999").status_code == 404

    def test_customer_service_cannot_edit_rules(self) -> None:
        response = operator(Role.CUSTOMER_SERVICE).get("/console/community/assistant/")
        assert response.status_code == 403


class TestSidebar:
    def test_it_lists_the_prepared_replies_of_the_chosen_group(self) -> None:
        make_rule(cooldown_seconds=0)
        prepared(chat_id=CHAT)
        prepared(chat_id="other-group")
        client = operator(Role.CUSTOMER_SERVICE)
        html = client.get(f"/console/community/sidebar/?chat_id={CHAT}").content.decode()
        found = re.search(
            r'<script id="sidebar-replies" type="application/json">(.*?)</script>', html
        )
        assert found is not None
        replies = json.loads(found.group(1))
        assert [(r["chat_id"], r["content"]) for r in replies] == [
            (CHAT, "下单后 24 小时内冷链发货～")
        ]
        assert "sendChatMessage" not in html  # the JS-SDK call lives in the static script
        assert "other-group" in html  # offered in the group picker


class TestDraws:
    def test_the_form_runs_a_draw(self) -> None:
        person = make_person()
        checkin_do(person_id=person.pk, chat_id=CHAT)
        client = operator(Role.COMMUNITY_MANAGER)
        response = client.post(
            "/console/community/draws/",
            {
                "chat_id": CHAT,
                "title": "周五福利",
                "prize": "鲜牛奶",
                "pool": "checkin",
                "window_hours": "24",
                "winners_count": "1",
            },
        )
        assert response.status_code == 302
        assert GroupDraw.objects.get().winners == [person.pk]
        page = client.get("/console/community/draws/").content.decode()
        assert "周五福利" in page
        assert "一致" in page

    def test_an_empty_group_is_explained(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        response = client.post(
            "/console/community/draws/",
            {
                "chat_id": "empty",
                "title": "t",
                "prize": "p",
                "pool": "both",
                "window_hours": "24",
                "winners_count": "1",
            },
        )
        assert response.status_code == 409
        assert "没有可参与抽奖的群成员" in response.content.decode()


class TestH5Checkin:
    def test_a_buyer_sees_the_button_then_the_calendar(self) -> None:
        person = make_person()
        token, _ = consumer_token_issue(person=person, method="otp")
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        client = Client()
        first = client.get("/m/checkin", **auth).content.decode()
        assert 'data-testid="checkin-button"' in first
        checkin_do(person_id=person.pk)
        after = client.get("/m/checkin", **auth).content.decode()
        assert 'data-testid="checkin-done"' in after
        assert "已连续签到 1 天" in after
        assert after.count('data-checked="1"') == 1


class TestRobotAdmin:
    def test_an_admin_adds_an_internal_groups_robot(self) -> None:
        from freshloop.community.models import GroupRobot

        client = Client()
        client.force_login(make_staff_user("boss", superuser=True))
        response = client.post(
            "/admin/community/grouprobot/add/",
            {"name": "值班群", "chat_id": "internal-1", "webhook_key": "KEY-1"},
        )
        assert response.status_code == 302, response.content.decode()[:500]
        robot = GroupRobot.objects.get()
        assert (robot.chat_id, robot.webhook_key) == ("internal-1", "KEY-1")
        assert robot.created_at is not None
