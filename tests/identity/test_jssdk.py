"""The WeChat JS-SDK signature (公众号开发文档 JS-SDK 附录1) for wx.config: the sample of the
docs reproduced, tickets fetched once and shared through the cache, and only this site's pages
signed. Signatures are checked with hashlib, independently of wechatpy."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator

import pytest
import requests
import responses
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from freshloop.identity.errors import WechatUnavailable
from freshloop.identity.providers import SandboxJsSdk, WechatpyJsSdk, jssdk_signature

TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/token"
TICKET_URL = "https://api.weixin.qq.com/cgi-bin/ticket/getticket"
PAGE = "http://testserver/m/checkout?sku=1&qty=2"


def expected_signature(*, ticket: str, nonce_str: str, timestamp: int, url: str) -> str:
    """附录1, written out: the four fields sorted by name, joined as a query string, sha1."""
    text = f"jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 — the protocol is sha1


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


class TestSignature:
    def test_reproduces_the_sample_of_the_docs(self) -> None:
        # given the ticket, nonce, timestamp and url of the docs' worked example
        sample = {
            "ticket": "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
            "nonce_str": "Wm3WZYTPz0wzccnW",
            "timestamp": 1414587457,
            "url": "http://mp.weixin.qq.com?params=value",
        }
        # when signed / then it is the docs' signature
        assert jssdk_signature(**sample) == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"  # type: ignore[arg-type]
        assert expected_signature(**sample) == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"  # type: ignore[arg-type]


class TestWechatpyJsSdk:
    @responses.activate
    def test_ticket_is_fetched_once_and_shared(self) -> None:
        # given WeChat hands out an access token and a jsapi ticket
        responses.get(TOKEN_URL, json={"access_token": "ACCESS", "expires_in": 7200})
        responses.get(
            TICKET_URL,
            json={"errcode": 0, "errmsg": "ok", "ticket": "TICKET-1", "expires_in": 7200},
        )
        provider = WechatpyJsSdk(app_id="wx520c15f417810387", app_secret="secret")

        # when two pages are signed, by two provider objects (two requests, two processes)
        first = provider.config_for(url=PAGE)
        second = WechatpyJsSdk(app_id="wx520c15f417810387", app_secret="secret").config_for(
            url=PAGE + "&again=1"
        )

        # then both signatures check with that ticket, fetched once
        for config, url in ((first, PAGE), (second, PAGE + "&again=1")):
            assert config.app_id == "wx520c15f417810387"
            assert config.signature == expected_signature(
                ticket="TICKET-1", nonce_str=config.nonce_str, timestamp=config.timestamp, url=url
            )
        assert [str(call.request.url).split("?")[0] for call in responses.calls] == [
            TOKEN_URL,
            TICKET_URL,
        ]
        ticket_call = str(responses.calls[1].request.url)
        assert "type=jsapi" in ticket_call
        assert "access_token=ACCESS" in ticket_call

    @responses.activate
    def test_a_wechat_error_is_a_typed_unavailable(self) -> None:
        # given WeChat refuses the app secret
        responses.get(TOKEN_URL, json={"errcode": 40125, "errmsg": "invalid appsecret"})
        provider = WechatpyJsSdk(app_id="wx520c15f417810387", app_secret="wrong")
        # when / then
        with pytest.raises(WechatUnavailable):
            provider.config_for(url=PAGE)


class TestJsConfigEndpoint:
    def test_signs_this_sites_page_without_its_fragment(self, client: Client) -> None:
        # given a page inside WeChat asking for its wx.config
        # when
        response = client.get("/api/v1/auth/wechat/js-config", {"url": PAGE + "#wechat_redirect"})
        # then the sandbox signed the page's address without the fragment
        assert response.status_code == 200
        body = response.json()
        assert body["app_id"] == settings.FRESHLOOP.wechat_app_id
        assert body["signature"] == expected_signature(
            ticket=SandboxJsSdk.ticket,
            nonce_str=body["nonce_str"],
            timestamp=body["timestamp"],
            url=PAGE,
        )

    @pytest.mark.parametrize(
        "url",
        [
            "https://evil.example/m/checkout",
            "javascript:alert(1)//testserver",
            "ftp://testserver/m/x",
        ],
    )
    def test_other_sites_are_refused(self, client: Client, url: str) -> None:
        response = client.get("/api/v1/auth/wechat/js-config", {"url": url})
        assert response.status_code == 400
        assert response.json()["code"] == "jssdk_url_invalid"

    def test_missing_url_names_the_field(self, client: Client) -> None:
        response = client.get("/api/v1/auth/wechat/js-config")
        assert response.status_code == 422
        assert response.json()["message"] == "请填写页面地址"

    @responses.activate
    def test_wechat_down_is_a_503_with_a_chinese_message(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the official account is configured but WeChat does not answer
        monkeypatch.setattr(
            settings,
            "FRESHLOOP",
            dataclasses.replace(
                settings.FRESHLOOP,
                wechat_oauth_provider="wechat",
                wechat_app_id="wx520c15f417810387",
                wechat_app_secret="secret",
            ),
        )
        responses.get(TOKEN_URL, body=requests.ConnectionError("unreachable"))
        # when
        response = client.get("/api/v1/auth/wechat/js-config", {"url": PAGE})
        # then
        assert response.status_code == 503
        assert response.json()["code"] == "wechat_unavailable"
        assert "微信" in response.json()["message"]
