"""A community manager sets up the 签到 keyword rule in the console; a 会话存档 relay posts the
customer's signed group message "签到"; the prepared reply appears on the WeCom chat-sidebar
page, and one tap (the sandbox's 模拟发送) marks it sent."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from freshloop.community.inbound import inbound_signature
from freshloop.community.models import AssistantReply, CheckIn, ReplyStatus
from freshloop.core import clock
from freshloop.core.permissions import Role
from tests.community.helpers import use_community
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "e2e-relay-secret"
CHAT = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA"


def relay_post(base: str, messages: list[dict[str, Any]]) -> httpx.Response:
    body = json.dumps({"messages": messages}, ensure_ascii=False).encode()
    stamp = str(int(clock.now().timestamp()))
    return httpx.post(
        f"{base}/api/v1/community/inbound/messages",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-FreshLoop-Timestamp": stamp,
            "X-FreshLoop-Signature": inbound_signature(secret=SECRET, timestamp=stamp, body=body),
        },
        timeout=10,
    )


class TestCommunityAssistant:
    def test_keyword_to_prepared_reply_to_sent_from_the_sidebar(
        self, page: Page, live_server: Any, settings: Any, console_errors: list[str]
    ) -> None:
        use_community(settings, inbound_secret=SECRET)
        make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER)
        base = live_server.url
        page.set_viewport_size({"width": 1280, "height": 900})

        page.goto(f"{base}/console/login/")
        page.fill("input[name=username]", "xiaozhou")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        expect(page).not_to_have_url(f"{base}/console/login/")

        # The console's 社群 link, then the 关键词助手 tab, lead to the rules; a 签到 rule is
        # written in the form.
        page.click("[data-testid=nav-community]")
        page.click("nav[aria-label=社群运营] >> text=关键词助手")
        expect(page).to_have_url(f"{base}/console/community/assistant/")
        form = page.locator("[data-testid=rule-editor]")
        form.locator("input[name=name]").fill("每日签到")
        form.locator("select[name=match]").select_option("regex")
        form.locator("input[name=pattern]").fill("^签到$")
        form.locator("select[name=reply_kind]").select_option("checkin")
        form.locator("input[name=cooldown_seconds]").fill("0")
        page.click("[data-testid=rule-save]")
        expect(page.locator("[data-testid=flash]")).to_contain_text("已保存规则「每日签到」")
        expect(page.locator("[data-testid=rule-row]")).to_contain_text("^签到$")

        # The relay posts the customer's "签到" (signed); a wrongly signed copy is refused.
        answer = relay_post(
            base,
            [
                {
                    "msgid": "e2e-1",
                    "chat_id": CHAT,
                    "sender": "wmE2eCustomer",
                    "sender_type": "customer",
                    "sent_at": int(clock.now().timestamp() * 1000),
                    "msgtype": "text",
                    "text": "签到",
                }
            ],
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["replies_prepared"] == 1
        forged = httpx.post(
            f"{base}/api/v1/community/inbound/messages",
            content=b'{"messages": []}',
            headers={"X-FreshLoop-Timestamp": "1", "X-FreshLoop-Signature": "sha256=00"},
            timeout=10,
        )
        assert forged.status_code == 401
        assert CheckIn.objects.get().streak == 1

        # The group owner's sidebar shows the prepared reply for this group …
        page.goto(f"{base}/console/community/sidebar/?chat_id={CHAT}")
        card = page.locator("[data-testid=sidebar-reply]")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("签到成功！已连续签到 1 天，本次获得 5 积分。")
        expect(card.locator("[data-testid=reply-status]")).to_have_text("待发送")
        expect(page.locator("[data-testid=sidebar-env]")).to_have_text("浏览器 · 沙箱")

        # … and one tap sends it (the sandbox stands in for WeCom's sendChatMessage).
        card.locator("[data-testid=sandbox-send]").click()
        expect(card.locator("[data-testid=reply-status]")).to_have_text("已发送")
        reply = AssistantReply.objects.get()
        assert reply.status == ReplyStatus.SENT
        assert reply.delivery_ref == "sandbox"
        assert reply.sent_by == "xiaozhou"

        # Reloaded, the group has nothing left to send.
        page.reload()
        expect(page.locator("[data-testid=sidebar-reply]")).to_have_count(0)
        expect(page.locator("#empty")).to_be_visible()
        assert console_errors == []


WECOM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh"
)
# WeCom's JS-SDK as the sidebar sees it inside WeCom: agentConfig succeeds, the current group
# is CHAT, sendChatMessage answers ok; every call is recorded for the test to read.
WX_STUB = """
window.__wx = [];
window.wx = {
  agentConfig: function (c) { window.__wx.push(['agentConfig', c]); setTimeout(function () { c.success({}); }, 0); },
  invoke: function (name, args, cb) {
    window.__wx.push([name, args]);
    if (name === 'getCurExternalChat') { cb({err_msg: 'getCurExternalChat:ok', chatId: '%s'}); }
    if (name === 'sendChatMessage') { cb({err_msg: 'sendChatMessage:ok'}); }
  }
};
"""


class TestSidebarInsideWecom:
    def test_agent_config_then_the_current_group_then_send_chat_message(
        self, browser: Any, live_server: Any, settings: Any
    ) -> None:
        import dataclasses

        from django.core.cache import cache

        from config.env import WecomSettings
        from freshloop.community.assistant import reply_prepare

        # given a real corp with the sidebar app, its ticket already cached (no network here)
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP,
            wecom=WecomSettings(
                corp_id="ww-corp",
                contact_secret="c",
                agent_id="1000002",
                agent_secret="app-secret",
            ),
        )
        cache.set("community:agent-ticket:ww-corp:1000002", "TICKET", 600)
        make_staff_user("qunzhu", Role.CUSTOMER_SERVICE)
        reply = reply_prepare(chat_id=CHAT, content="下单后 24 小时内冷链发货～", source="rule")
        reply_prepare(chat_id="another-group", content="别的群", source="rule")
        base = live_server.url

        context = browser.new_context(
            user_agent=WECOM_UA, viewport={"width": 390, "height": 844}, locale="zh-CN"
        )
        page = context.new_page()
        page.route(
            "https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js",
            lambda route: route.fulfill(
                status=200, content_type="application/javascript", body=WX_STUB % CHAT
            ),
        )
        page.goto(f"{base}/console/login/")
        page.fill("input[name=username]", "qunzhu")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        expect(page).not_to_have_url(f"{base}/console/login/")
        page.wait_for_load_state("load")

        # when the owner opens the sidebar from the group's chat toolbar (no chat_id in the URL)
        page.goto(f"{base}/console/community/sidebar/")
        # then agentConfig runs, the page moves to the current group and offers 发送到群
        expect(page).to_have_url(f"{base}/console/community/sidebar/?chat_id={CHAT}")
        expect(page.locator("[data-testid=sidebar-env]")).to_have_text("企业微信")
        card = page.locator("[data-testid=sidebar-reply]")
        expect(card).to_have_count(1)
        card.locator("[data-testid=send-wecom]").click()
        expect(card.locator("[data-testid=reply-status]")).to_have_text("已发送")
        calls = page.evaluate("window.__wx")
        config = next(args for name, args in calls if name == "agentConfig")
        assert config["corpid"] == "ww-corp"
        assert config["agentid"] == "1000002"
        sent = [args for name, args in calls if name == "sendChatMessage"]
        assert sent == [
            {
                "msgtype": "text",
                "enterChat": False,
                "text": {"content": "下单后 24 小时内冷链发货～"},
            }
        ]
        reply.refresh_from_db()
        assert (reply.status, reply.delivery_ref) == (ReplyStatus.SENT, "wecom")
        context.close()
