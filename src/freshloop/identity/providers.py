"""External edge of the official account: WeChat web authorisation (OAuth 2.0) for login and
the JS-SDK signature for pages opened inside WeChat.

A Protocol with a sandbox that works offline and an adapter on wechatpy. Settings pick the
implementation; tests replace only the HTTP edge. (SMS delivery is messaging's.)
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing

from freshloop.core.wechat_session import DjangoCacheSessionStorage
from freshloop.identity.errors import OAuthFailed, WechatUnavailable

logger = logging.getLogger(__name__)


# --- WeChat OAuth ------------------------------------------------------------------------


@dataclass(frozen=True)
class WechatProfile:
    app_id: str
    openid: str
    unionid: str | None
    nickname: str


class WechatOAuthProvider(Protocol):
    name: str
    app_id: str

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """Where to send the browser to ask the user for consent."""
        ...

    def exchange_code(self, *, code: str, redirect_uri: str) -> WechatProfile:
        """Turn the code WeChat sent back into the user's profile; raise OAuthFailed."""
        ...


class WechatpyOAuthProvider:
    """Official Accounts web authorisation (snsapi_userinfo) through wechatpy."""

    name = "wechat"

    def __init__(self, *, app_id: str, app_secret: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret

    def _client(self, redirect_uri: str, state: str = "") -> object:
        from wechatpy.oauth import WeChatOAuth

        return WeChatOAuth(
            self.app_id, self.app_secret, redirect_uri, scope="snsapi_userinfo", state=state
        )

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        return str(self._client(redirect_uri, state).authorize_url)  # type: ignore[attr-defined]

    def exchange_code(self, *, code: str, redirect_uri: str) -> WechatProfile:
        from requests import RequestException
        from wechatpy.exceptions import WeChatClientException, WeChatOAuthException

        client = self._client(redirect_uri)
        try:
            token = client.fetch_access_token(code)  # type: ignore[attr-defined]
            info = client.get_user_info(token["openid"], token["access_token"])  # type: ignore[attr-defined]
        except (WeChatOAuthException, WeChatClientException, RequestException, KeyError) as exc:
            raise OAuthFailed(detail={"provider_error": str(exc)[:200]}) from exc
        return WechatProfile(
            app_id=self.app_id,
            openid=str(token["openid"]),
            unionid=(info.get("unionid") or token.get("unionid")) or None,
            nickname=str(info.get("nickname", ""))[:64],
        )


class SandboxWechatOAuthProvider:
    """Stands in for WeChat offline: a local consent page mints a signed code for a fake user.

    The code is a signed, short-lived token, so no server state is needed and forged codes fail.
    """

    name = "sandbox"
    code_max_age_seconds = 300
    _salt = "freshloop.wechat.sandbox"

    def __init__(self, *, app_id: str) -> None:
        self.app_id = app_id

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        return "/m/auth/wechat/sandbox?" + urlencode({"redirect_uri": redirect_uri, "state": state})

    def mint_code(self, *, openid: str, nickname: str, unionid: str | None = None) -> str:
        return signing.dumps(
            {
                "openid": openid,
                "nickname": nickname,
                "unionid": unionid,
                "nonce": secrets.token_hex(4),
            },
            salt=self._salt,
        )

    def exchange_code(self, *, code: str, redirect_uri: str) -> WechatProfile:
        try:
            data = signing.loads(code, salt=self._salt, max_age=self.code_max_age_seconds)
        except signing.BadSignature as exc:
            raise OAuthFailed(detail={"provider_error": "invalid sandbox code"}) from exc
        return WechatProfile(
            app_id=self.app_id,
            openid=str(data["openid"]),
            unionid=data.get("unionid") or None,
            nickname=str(data.get("nickname", ""))[:64],
        )


def wechat_oauth_provider() -> WechatOAuthProvider:
    config = settings.FRESHLOOP
    if config.wechat_oauth_provider == "wechat":
        return WechatpyOAuthProvider(
            app_id=config.wechat_app_id, app_secret=config.wechat_app_secret
        )
    return SandboxWechatOAuthProvider(app_id=config.wechat_app_id)


# --- WeChat JS-SDK -----------------------------------------------------------------------
# A page inside WeChat may call wx.openAddress (and later share menus) only after wx.config
# with a signature over the page URL and the official account's jsapi_ticket. The ticket is
# fetched with the account's access token and cached for its lifetime (7,200 s) in the
# project's cache, which is Redis in production, so every process shares one ticket: WeChat
# limits how often both may be fetched.


@dataclass(frozen=True)
class JsSdkConfig:
    """What `wx.config` needs, besides the list of APIs the page will call."""

    app_id: str
    timestamp: int
    nonce_str: str
    signature: str


class WechatJsSdk(Protocol):
    name: str
    app_id: str

    def config_for(self, *, url: str) -> JsSdkConfig:
        """Sign `url` (the page's address without its #fragment); raise WechatUnavailable."""
        ...


def jssdk_signature(*, ticket: str, nonce_str: str, timestamp: int, url: str) -> str:
    """The JS-SDK signature (附录1: sha1 over the four fields sorted by name), by wechatpy."""
    from wechatpy.client.api.jsapi import WeChatJSAPI

    # get_jsapi_signature reads none of the API object's state.
    signer = WeChatJSAPI.__new__(WeChatJSAPI)
    return str(signer.get_jsapi_signature(nonce_str, ticket, timestamp, url))


def _signed(*, app_id: str, ticket: str, url: str) -> JsSdkConfig:
    from freshloop.core import clock

    nonce_str = secrets.token_hex(8)
    timestamp = int(clock.now().timestamp())
    return JsSdkConfig(
        app_id=app_id,
        timestamp=timestamp,
        nonce_str=nonce_str,
        signature=jssdk_signature(ticket=ticket, nonce_str=nonce_str, timestamp=timestamp, url=url),
    )


class WechatpyJsSdk:
    """The official account's jsapi_ticket through wechatpy's client, cached in Django's cache."""

    name = "wechat"

    def __init__(self, *, app_id: str, app_secret: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret

    def config_for(self, *, url: str) -> JsSdkConfig:
        from requests import RequestException
        from wechatpy import WeChatClient
        from wechatpy.exceptions import WeChatClientException

        client = WeChatClient(self.app_id, self.app_secret, session=DjangoCacheSessionStorage())
        try:
            ticket = str(client.jsapi.get_jsapi_ticket())
        except (WeChatClientException, RequestException, KeyError) as exc:
            logger.warning("jsapi_ticket unavailable: %s", str(exc)[:200])
            raise WechatUnavailable(detail={"provider_error": str(exc)[:200]}) from exc
        return _signed(app_id=self.app_id, ticket=ticket, url=url)


class SandboxJsSdk:
    """Offline stand-in: signs with a fixed, published ticket, so a test can check the
    signature the same way WeChat would."""

    name = "sandbox"
    ticket = "sandbox-jsapi-ticket"

    def __init__(self, *, app_id: str) -> None:
        self.app_id = app_id

    def config_for(self, *, url: str) -> JsSdkConfig:
        return _signed(app_id=self.app_id, ticket=self.ticket, url=url)


def jssdk_config(*, url: str) -> JsSdkConfig:
    """`wx.config` for one of this site's pages, from the configured official account (the
    one WeChat login uses) or the sandbox."""
    config = settings.FRESHLOOP
    if config.wechat_oauth_provider == "wechat":
        account = WechatpyJsSdk(app_id=config.wechat_app_id, app_secret=config.wechat_app_secret)
        return account.config_for(url=url)
    sandbox = SandboxJsSdk(app_id=config.wechat_app_id)
    return sandbox.config_for(url=url)
