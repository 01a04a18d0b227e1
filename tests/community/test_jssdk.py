"""wx.agentConfig for the chat-sidebar page: the signature (WeCom's published example), the
token and ticket requests, the cache, and the API's refusals."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from django.core.cache import cache
from django.test import Client

from config.env import WecomSettings
from freshloop.community.errors import SidebarNotConfigured, WecomTicketFailed
from freshloop.community.jssdk import agent_config, jsapi_signature
from freshloop.core.permissions import Role
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_app(settings: Any) -> None:
    settings.FRESHLOOP = dataclasses.replace(
        settings.FRESHLOOP,
        wecom=WecomSettings(
            corp_id="ww-corp",
            contact_secret="contact",
            agent_id="1000002",
            agent_secret="app-secret",
        ),
    )
    cache.clear()


def wecom(seen: list[httpx.Request], ticket_answer: dict[str, Any] | None = None) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/cgi-bin/gettoken":
            return httpx.Response(
                200, json={"errcode": 0, "access_token": "TOKEN", "expires_in": 7200}
            )
        return httpx.Response(
            200, json=ticket_answer or {"errcode": 0, "ticket": "TICKET", "expires_in": 7200}
        )

    return httpx.MockTransport(handle)


class TestJsapiSignature:
    def test_the_published_example(self) -> None:
        # 「JS-SDK 使用权限签名算法」's worked example (the same in WeChat's and WeCom's docs)
        assert (
            jsapi_signature(
                ticket="sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
                nonce="Wm3WZYTPz0wzccnW",
                timestamp=1414587457,
                url="http://mp.weixin.qq.com?params=value",
            )
            == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        )

    def test_the_fragment_is_not_signed(self) -> None:
        plain = jsapi_signature(ticket="t", nonce="n", timestamp=1, url="https://a.cn/p?x=1")
        assert (
            jsapi_signature(ticket="t", nonce="n", timestamp=1, url="https://a.cn/p?x=1#top")
            == plain
        )


class TestAgentConfig:
    def test_token_then_agent_ticket_then_cached(self, real_app: None) -> None:
        seen: list[httpx.Request] = []
        config = agent_config(
            url="https://shop.cn/console/community/sidebar/", transport=wecom(seen)
        )
        token, ticket = seen
        assert token.url.params["corpid"] == "ww-corp"
        assert token.url.params["corpsecret"] == "app-secret"
        assert ticket.url.params["access_token"] == "TOKEN"
        assert ticket.url.params["type"] == "agent_config"
        assert config["corpid"] == "ww-corp"
        assert config["agentid"] == "1000002"
        assert config["jsApiList"] == ["getContext", "getCurExternalChat", "sendChatMessage"]
        assert config["signature"] == jsapi_signature(
            ticket="TICKET",
            nonce=str(config["nonceStr"]),
            timestamp=int(str(config["timestamp"])),
            url="https://shop.cn/console/community/sidebar/",
        )
        # a second page load within two hours asks WeCom nothing
        agent_config(url="https://shop.cn/console/community/sidebar/", transport=wecom(seen))
        assert len(seen) == 2

    def test_a_wecom_refusal_is_a_typed_error(self, real_app: None) -> None:
        with pytest.raises(WecomTicketFailed) as caught:
            agent_config(url="https://x.cn/", transport=wecom([], {"errcode": 40014}))
        assert caught.value.detail == {"errcode": 40014}

    def test_without_an_app_there_is_nothing_to_sign(self) -> None:
        with pytest.raises(SidebarNotConfigured):
            agent_config(url="https://x.cn/")


class TestAgentConfigApi:
    def test_without_an_app_the_api_answers_409(self) -> None:
        client = Client()
        client.force_login(make_staff_user("cs", Role.CUSTOMER_SERVICE))
        response = client.get("/api/v1/community/sidebar/agent-config", {"url": "https://x.cn/"})
        assert response.status_code == 409
        assert response.json()["code"] == "community_sidebar_not_configured"
