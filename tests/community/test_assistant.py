"""The keyword assistant: rules (regex shapes refused), which message a rule answers, the
cooldown per group (also under real concurrency), prepared replies and the sidebar's send,
robot posts into internal groups, and the rule API."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from django.test import Client

from freshloop.community.assistant import (
    REPLY_TTL,
    message_handle,
    messages_sweep,
    pattern_problems,
    replies_expire,
    reply_mark_sent,
)
from freshloop.community.errors import ReplyNotPending, RuleInvalid
from freshloop.community.inbound import group_messages_store
from freshloop.community.models import (
    AssistantReply,
    GroupMessage,
    GroupRobot,
    ReplyChannel,
    ReplyStatus,
    RobotPost,
)
from freshloop.community.robot import (
    TEXT_MAX_BYTES,
    WEBHOOK_URL,
    HttpRobotProvider,
    robot_payload,
    robot_post,
)
from freshloop.community.schemas import InboundMessageIn
from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.promotions.services import redeem_code_create
from tests.community.helpers import CHAT, OPERATOR, make_rule, message
from tests.concurrency import errors_of, run_at_once
from tests.factories import make_sku, make_staff_user
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db


def stored(*items: dict[str, Any]) -> list[GroupMessage]:
    return group_messages_store(
        messages=[InboundMessageIn.model_validate(item) for item in items]
    ).stored


def say(text: str, **fields: Any) -> AssistantReply | None:
    (saved,) = stored(message(text, **fields))
    return message_handle(message=saved)


class TestPatternProblems:
    @pytest.mark.parametrize(
        "pattern",
        [
            r"发货|快递",
            r"^签到$",
            r"\d{6}",
            r"(?:鲜奶|牛奶).*多少钱",
            r"[a-z]+\s*优惠",
            r"x{2,100}",
        ],
    )
    def test_ordinary_patterns_pass(self, pattern: str) -> None:
        assert pattern_problems(match="regex", pattern=pattern) == []

    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [
            (r"(a+)+b", "嵌套的重复"),
            (r"(x*)*", "嵌套的重复"),
            (r"(\w+\s?)*$", "嵌套的重复"),
            (r"(a|ab)*c", "重复的分支"),
            (r"(a)\1", "反向引用"),
            (r"(?=a)a", "断言"),
            (r"(?<!a)b", "断言"),
            (r"a{1,1000}", "重复次数"),
            (r"(unclosed", "写法有误"),
            ("a" * 101, "100 个字符"),
        ],
    )
    def test_dangerous_or_broken_patterns_are_refused(self, pattern: str, reason: str) -> None:
        ((field, text),) = pattern_problems(match="regex", pattern=pattern)
        assert field == "pattern"
        assert reason in text

    def test_a_keyword_is_never_parsed_as_regex(self) -> None:
        assert pattern_problems(match="contains", pattern="(a+)+") == []
        assert pattern_problems(match="contains", pattern="  ") == [("pattern", "请填写关键词")]


class TestRuleSave:
    def test_a_bad_regex_is_refused_naming_the_field(self) -> None:
        with pytest.raises(RuleInvalid) as caught:
            make_rule(match="regex", pattern="(a+)+")
        assert caught.value.detail[0]["field"] == "pattern"

    def test_reply_kinds_need_what_they_send(self) -> None:
        with pytest.raises(RuleInvalid) as caught:
            make_rule(reply_kind="text", reply_text=" ")
        assert caught.value.detail[0]["field"] == "reply_text"
        with pytest.raises(RuleInvalid) as caught:
            make_rule(reply_kind="coupon", redeem_code="NOPE")
        assert caught.value.detail[0]["field"] == "redeem_code"
        with pytest.raises(RuleInvalid) as caught:
            make_rule(reply_kind="product", product_id=999_999)
        assert caught.value.detail[0]["field"] == "product_id"


class TestMessageHandle:
    def test_a_customer_keyword_prepares_a_reply_for_the_sidebar(self) -> None:
        rule = make_rule()
        reply = say("请问今天下单什么时候发货？")
        assert reply is not None
        assert reply.rule == rule
        assert reply.channel == ReplyChannel.SIDEBAR
        assert reply.status == ReplyStatus.PREPARED
        assert reply.content == "下单后 24 小时内冷链发货～"
        assert reply.expires_at == reply.created_at + REPLY_TTL

    def test_staff_messages_and_other_text_are_ignored(self) -> None:
        make_rule()
        assert say("发货了", sender="zhangsan", sender_type="staff") is None
        assert say("在吗") is None
        assert say("", msgtype="image") is None

    def test_scope_limits_a_rule_to_its_groups(self) -> None:
        make_rule(chat_ids=["group-a"])
        assert say("发货", chat_id="group-b") is None
        assert say("发货", chat_id="group-a") is not None

    def test_regex_rules_match_case_insensitively(self) -> None:
        make_rule(match="regex", pattern=r"^milk\s*\d+$", reply_text="鲜奶到货")
        assert say("MILK 3") is not None

    def test_the_first_enabled_rule_wins(self) -> None:
        make_rule(name="停用", reply_text="旧回复", enabled=False)
        make_rule(name="一", reply_text="回复一")
        make_rule(name="二", reply_text="回复二")
        reply = say("发货")
        assert reply is not None
        assert reply.content == "回复一"

    def test_cooldown_lets_one_reply_per_group_per_window(self) -> None:
        make_rule(cooldown_seconds=60)
        start = clock.now()
        with clock.frozen(start):
            assert say("发货?") is not None
            assert say("发货!!") is None  # cooling in this group
            assert say("发货", chat_id="another") is not None  # other groups are separate
        with clock.frozen(start + dt.timedelta(seconds=61)):
            assert say("还没发货") is not None

    def test_coupon_and_product_replies_carry_their_links(self, settings: Any) -> None:
        template = coupon_template()
        redeem_code_create(actor=OPERATOR, template=template, code="FRESH20")
        sku = make_sku(name="有机鲜牛奶")
        make_rule(reply_kind="coupon", pattern="优惠", reply_text="送您券", redeem_code="fresh20")
        make_rule(reply_kind="product", pattern="牛奶", product_id=sku.product_id, reply_text="")
        coupon = say("有优惠吗")
        product = say("牛奶还有吗")
        assert coupon is not None
        assert "FRESH20" in coupon.content
        assert "/m/coupons" in coupon.content
        assert product is not None
        assert "【有机鲜牛奶】" in product.content
        assert f"/m/products/{sku.product_id}" in product.content

    def test_a_message_is_handled_once(self) -> None:
        make_rule(cooldown_seconds=0)
        (saved,) = stored(message("发货"))
        assert message_handle(message=saved) is not None
        assert message_handle(message=saved) is None
        assert AssistantReply.objects.count() == 1


@pytest.mark.django_db(transaction=True)
class TestCooldownConcurrency:
    def test_two_messages_at_the_same_instant_get_one_reply(self) -> None:
        for round_number in range(4):
            # given a rule with a cooldown and two customers asking at the same moment
            make_rule(name=f"规则{round_number}", pattern=f"发货{round_number}")
            saved = stored(
                message(f"发货{round_number}?", sender="wmA"),
                message(f"发货{round_number}!", sender="wmB"),
            )
            # when both are handled on their own threads and connections
            outcomes = run_at_once([lambda m=m: message_handle(message=m) for m in saved])
            # then exactly one reply is prepared
            assert errors_of(outcomes) == []
            replies = AssistantReply.objects.filter(rule__name=f"规则{round_number}")
            assert replies.count() == 1


class TestReplyMarkSent:
    def test_the_owner_marks_a_prepared_reply_sent_once(self) -> None:
        make_rule()
        reply = say("发货")
        assert reply is not None
        sent = reply_mark_sent(reply_id=reply.pk, via="wecom", actor=OPERATOR)
        assert sent.status == ReplyStatus.SENT
        assert sent.sent_by == "社群运营"
        assert sent.delivery_ref == "wecom"
        with pytest.raises(ReplyNotPending):
            reply_mark_sent(reply_id=reply.pk, via="wecom", actor=OPERATOR)

    def test_an_expired_reply_cannot_be_sent(self) -> None:
        make_rule()
        reply = say("发货")
        assert reply is not None
        later = clock.now() + REPLY_TTL + dt.timedelta(seconds=1)
        with clock.frozen(later):
            with pytest.raises(ReplyNotPending):
                reply_mark_sent(reply_id=reply.pk, via="copy", actor=OPERATOR)
            assert replies_expire() == 1
        reply.refresh_from_db()
        assert reply.status == ReplyStatus.EXPIRED


class TestMessagesSweep:
    def test_a_message_left_unhandled_is_picked_up_later(self) -> None:
        make_rule()
        stored(message("发货"))  # stored, then the process stopped before the assistant ran
        assert messages_sweep() == 0  # too fresh: the request may still be handling it
        with clock.frozen(clock.now() + dt.timedelta(minutes=2)):
            assert messages_sweep() == 1
        assert AssistantReply.objects.count() == 1


class TestRobot:
    def test_the_webhook_request_has_wecoms_shape(self) -> None:
        seen: list[httpx.Request] = []

        def handle(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

        provider = HttpRobotProvider(transport=httpx.MockTransport(handle))
        answer = robot_post(
            chat_id="internal", webhook_key="KEY-1", content="今日签到 12 人", provider=provider
        )
        assert answer.ok
        (request,) = seen
        assert str(request.url) == f"{WEBHOOK_URL}?key=KEY-1"
        assert request.method == "POST"
        assert request.headers["content-type"].startswith("application/json")
        assert json.loads(request.content) == {
            "msgtype": "text",
            "text": {"content": "今日签到 12 人"},
        }
        assert RobotPost.objects.get().provider == "wecom"

    @pytest.mark.parametrize(
        ("status", "answer", "detail"),
        [
            (200, {"errcode": 93000, "errmsg": "invalid webhook url"}, "errcode 93000"),
            (502, {}, "HTTP 502"),
        ],
    )
    def test_a_refusal_is_recorded_not_raised(
        self, status: int, answer: dict[str, Any], detail: str
    ) -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(status, json=answer))
        result = robot_post(
            chat_id="internal",
            webhook_key="KEY",
            content="x",
            provider=HttpRobotProvider(transport=transport),
        )
        assert not result.ok
        assert detail in result.detail
        assert RobotPost.objects.get().ok is False

    def test_text_is_cut_to_wecoms_byte_limit_on_a_character_boundary(self) -> None:
        payload = robot_payload(msgtype="text", content="鲜" * 1000)
        content = payload["text"]["content"]  # type: ignore[index]
        assert len(content.encode()) <= TEXT_MAX_BYTES
        assert content == "鲜" * (TEXT_MAX_BYTES // 3)

    def test_an_internal_group_with_a_robot_gets_the_reply_posted(self) -> None:
        # given an internal group whose robot key is known (sandbox: no real corp)
        GroupRobot.objects.create(
            chat_id="internal", name="值班群", webhook_key="K", created_at=clock.now()
        )
        make_rule()
        reply = say("发货", chat_id="internal")
        assert reply is not None
        assert reply.channel == ReplyChannel.ROBOT
        assert reply.status == ReplyStatus.SENT
        post = RobotPost.objects.get()
        assert (post.chat_id, post.provider, post.ok) == ("internal", "sandbox", True)


def operator(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


class TestRuleApi:
    BASE = "/api/v1/community/assistant"

    def test_a_manager_creates_and_lists_rules(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        body = {
            "name": "签到",
            "match": "regex",
            "pattern": "^签到$",
            "reply_kind": "checkin",
            "cooldown_seconds": 0,
        }
        created = client.post(f"{self.BASE}/rules", body, content_type="application/json")
        assert created.status_code == 201, created.content
        listed = client.get(f"{self.BASE}/rules").json()["items"]
        assert [rule["name"] for rule in listed] == ["签到"]

    def test_a_bad_regex_is_a_422_naming_the_field(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        body = {"name": "x", "match": "regex", "pattern": "(a+)+", "reply_kind": "text"}
        response = client.post(f"{self.BASE}/rules", body, content_type="application/json")
        assert response.status_code == 422
        assert response.json()["code"] == "community_rule_invalid"
        assert response.json()["detail"][0]["field"] == "pattern"

    def test_updating_a_missing_rule_is_a_404(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        body = {
            "name": "x",
            "match": "contains",
            "pattern": "x",
            "reply_kind": "text",
            "reply_text": "y",
        }
        response = client.put(f"{self.BASE}/rules/9999", body, content_type="application/json")
        assert response.status_code == 404
        assert response.json()["code"] == "community_rule_not_found"

    def test_customer_service_may_not_edit_rules_but_may_send_replies(self) -> None:
        make_rule()
        reply = say("发货")
        assert reply is not None
        client = operator(Role.CUSTOMER_SERVICE)
        assert client.get(f"{self.BASE}/rules").status_code == 403
        listed = client.get(f"{self.BASE}/replies", {"chat_id": CHAT}).json()["items"]
        assert [item["id"] for item in listed] == [reply.pk]
        sent = client.post(
            f"{self.BASE}/replies/{reply.pk}/sent",
            {"via": "sandbox"},
            content_type="application/json",
        )
        assert sent.status_code == 200
        assert sent.json()["status"] == "sent"
        again = client.post(
            f"{self.BASE}/replies/{reply.pk}/sent",
            {"via": "sandbox"},
            content_type="application/json",
        )
        assert again.status_code == 409
        assert again.json()["code"] == "community_reply_not_pending"

    def test_anonymous_callers_get_401(self) -> None:
        assert Client().get(f"{self.BASE}/replies").status_code == 401
