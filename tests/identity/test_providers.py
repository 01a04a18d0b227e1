"""The WeChat OAuth adapter against payloads shaped per WeChat's web-authorisation docs
(sns/oauth2/access_token and sns/userinfo); only the HTTP edge is replaced."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from freshloop.identity.errors import OAuthFailed
from freshloop.identity.providers import SandboxWechatOAuthProvider, WechatpyOAuthProvider

TOKEN_URL = "https://api.weixin.qq.com/sns/oauth2/access_token"
USERINFO_URL = "https://api.weixin.qq.com/sns/userinfo"


@pytest.fixture
def provider() -> WechatpyOAuthProvider:
    return WechatpyOAuthProvider(app_id="wx520c15f417810387", app_secret="app-secret")


class TestWechatpyOAuthProvider:
    def test_authorize_url_asks_for_userinfo_with_our_state(
        self, provider: WechatpyOAuthProvider
    ) -> None:
        url = provider.authorize_url(
            redirect_uri="https://shop.example.com/m/auth/wechat/callback", state="s123"
        )
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        assert parsed.netloc == "open.weixin.qq.com"
        assert query["appid"] == ["wx520c15f417810387"]
        assert query["scope"] == ["snsapi_userinfo"]
        assert query["state"] == ["s123"]
        assert query["redirect_uri"] == ["https://shop.example.com/m/auth/wechat/callback"]
        assert url.endswith("#wechat_redirect")

    @responses.activate
    def test_exchanges_code_for_profile(self, provider: WechatpyOAuthProvider) -> None:
        responses.get(
            TOKEN_URL,
            json={
                "access_token": "ACCESS_TOKEN",
                "expires_in": 7200,
                "refresh_token": "REFRESH_TOKEN",
                "openid": "oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
                "scope": "snsapi_userinfo",
                "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
            },
        )
        responses.get(
            USERINFO_URL,
            body=json.dumps(
                {
                    "openid": "oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
                    "nickname": "爱喝牛奶的小王",
                    "sex": 1,
                    "province": "广东",
                    "city": "广州",
                    "country": "中国",
                    "headimgurl": "https://thirdwx.qlogo.cn/mmopen/x/132",
                    "privilege": [],
                    "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
                },
                ensure_ascii=False,
            ),
            content_type="application/json; encoding=utf-8",
        )
        profile = provider.exchange_code(code="061xYz", redirect_uri="https://shop.example.com/cb")
        assert profile.openid == "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
        assert profile.unionid == "o6_bmasdasdsad6_2sgVt7hMZOPfL"
        assert profile.nickname == "爱喝牛奶的小王"
        assert profile.app_id == "wx520c15f417810387"
        sent = parse_qs(urlparse(responses.calls[0].request.url).query)
        assert sent["code"] == ["061xYz"]
        assert sent["grant_type"] == ["authorization_code"]

    @responses.activate
    def test_wechat_error_codes_become_oauth_failed(self, provider: WechatpyOAuthProvider) -> None:
        responses.get(TOKEN_URL, json={"errcode": 40029, "errmsg": "invalid code"})
        with pytest.raises(OAuthFailed) as failed:
            provider.exchange_code(code="used-code", redirect_uri="https://shop.example.com/cb")
        assert failed.value.status == 400

    @responses.activate
    def test_network_failure_becomes_oauth_failed(self, provider: WechatpyOAuthProvider) -> None:
        responses.get(TOKEN_URL, body=requests.ConnectionError("connection reset"))
        with pytest.raises(OAuthFailed):
            provider.exchange_code(code="c", redirect_uri="https://shop.example.com/cb")


@pytest.mark.django_db
class TestSandboxWechatOAuthProvider:
    def test_minted_code_round_trips(self) -> None:
        sandbox = SandboxWechatOAuthProvider(app_id="wx_sandbox_app")
        code = sandbox.mint_code(openid="o-1", nickname="小李", unionid="u-1")
        profile = sandbox.exchange_code(code=code, redirect_uri="/cb")
        assert (profile.openid, profile.unionid, profile.nickname) == ("o-1", "u-1", "小李")

    def test_forged_code_is_refused(self) -> None:
        sandbox = SandboxWechatOAuthProvider(app_id="wx_sandbox_app")
        code = sandbox.mint_code(openid="o-1", nickname="小李")
        with pytest.raises(OAuthFailed):
            sandbox.exchange_code(code=code.replace("o-1", "o-2") + "x", redirect_uri="/cb")
        with pytest.raises(OAuthFailed):
            sandbox.exchange_code(code="made-up", redirect_uri="/cb")
