"""The JS-SDK permission of the chat-sidebar page: `wx.agentConfig`.

WeCom lets a page opened from the chat toolbar (聊天工具栏) call `getCurExternalChat` and
`sendChatMessage` only after `wx.agentConfig` succeeded with a signature of the page's URL
made from the *application's* jsapi ticket (企业微信开发者中心「JS-SDK 使用权限签名算法」):

    GET https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=<corp>&corpsecret=<app secret>
    GET https://qyapi.weixin.qq.com/cgi-bin/ticket/get?access_token=<token>&type=agent_config
    signature = sha1("jsapi_ticket=<ticket>&noncestr=<nonce>&timestamp=<ts>&url=<url>")

The url is the page's full address without the `#…` part. The token and the ticket live two
hours; both are cached (shared cache) until five minutes before they expire. The
application is the self-built app whose sidebar page this is: its AgentId and Secret come from
`FRESHLOOP_WECOM_AGENT_ID` / `FRESHLOOP_WECOM_AGENT_SECRET` (config/env.py's WeCom settings); the
corp from the WeCom settings. Without them the page runs in browser mode (copy / sandbox).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

from freshloop.community.errors import SidebarNotConfigured, WecomTicketFailed

TOKEN_URL = "https://qyapi.weixin.qq.com/cgi-bin/gettoken"  # noqa: S105 (a URL)
TICKET_URL = "https://qyapi.weixin.qq.com/cgi-bin/ticket/get"
EARLY_SECONDS = 300
TIMEOUT_SECONDS = 5.0
JS_API_LIST = ("getContext", "getCurExternalChat", "sendChatMessage")


def jsapi_signature(*, ticket: str, nonce: str, timestamp: int, url: str) -> str:
    page = url.split("#", 1)[0]
    plain = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324 (WeCom's algorithm)


@dataclass(frozen=True)
class SidebarApp:
    corp_id: str
    agent_id: str
    secret: str


def sidebar_app() -> SidebarApp | None:
    wecom = settings.FRESHLOOP.wecom
    if not (wecom.configured and wecom.agent_id and wecom.agent_secret):
        return None
    return SidebarApp(corp_id=wecom.corp_id, agent_id=wecom.agent_id, secret=wecom.agent_secret)


def _get(client: httpx.Client, url: str, params: dict[str, str]) -> dict[str, object]:
    try:
        response = client.get(url, params=params)
        answer = response.json()
    except (httpx.HTTPError, OSError, ValueError) as exc:
        raise WecomTicketFailed(detail={"reason": type(exc).__name__}) from exc
    if not isinstance(answer, dict) or answer.get("errcode", 0) != 0:
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        raise WecomTicketFailed(detail={"errcode": errcode})
    return answer


def agent_ticket(*, app: SidebarApp, transport: httpx.BaseTransport | None = None) -> str:
    """The application's jsapi ticket (type=agent_config), cached until shortly before expiry."""
    key = f"community:agent-ticket:{app.corp_id}:{app.agent_id}"
    cached = cache.get(key)
    if isinstance(cached, str) and cached:
        return cached
    with httpx.Client(transport=transport, timeout=TIMEOUT_SECONDS) as client:
        token = _get(client, TOKEN_URL, {"corpid": app.corp_id, "corpsecret": app.secret})
        answer = _get(
            client,
            TICKET_URL,
            {"access_token": str(token.get("access_token", "")), "type": "agent_config"},
        )
    ticket = str(answer.get("ticket", ""))
    if not ticket:
        raise WecomTicketFailed(detail={"reason": "no ticket"})
    expires = answer.get("expires_in", 7200)
    lifetime = int(expires) if isinstance(expires, int) else 7200
    cache.set(key, ticket, timeout=max(60, lifetime - EARLY_SECONDS))
    return ticket


def agent_config(*, url: str, transport: httpx.BaseTransport | None = None) -> dict[str, object]:
    """What the page passes to `wx.agentConfig` for `url`."""
    app = sidebar_app()
    if app is None:
        raise SidebarNotConfigured()
    ticket = agent_ticket(app=app, transport=transport)
    nonce = secrets.token_hex(8)
    timestamp = int(time.time())
    return {
        "corpid": app.corp_id,
        "agentid": app.agent_id,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": jsapi_signature(ticket=ticket, nonce=nonce, timestamp=timestamp, url=url),
        "jsApiList": list(JS_API_LIST),
    }
