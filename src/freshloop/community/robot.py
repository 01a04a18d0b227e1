"""The group robot (群机器人) of internal groups: the one place WeCom lets a program post into
a group by itself.

    POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>
    {"msgtype": "text", "text": {"content": "..."}}          (content ≤ 2048 bytes, UTF-8)
    {"msgtype": "markdown", "markdown": {"content": "..."}}  (content ≤ 4096 bytes)
    → {"errcode": 0, "errmsg": "ok"}

(企业微信开发者中心「群机器人配置说明」, developer.work.weixin.qq.com/document/path/91770;
a robot takes at most 20 messages a minute.) Customer
groups have no such door, so their replies are prepared for the owner's sidebar instead.

Like every external call, the webhook sits behind a provider: `HttpRobotProvider` talks to
WeCom, `SandboxRobotProvider` (demo, tests, any install without a real corp) only records.
Both leave a `RobotPost` row, so the console shows what was posted either way. The key is in
the URL's query: the errors and rows written here never contain the URL (httpx's own INFO
line "HTTP Request: POST <url>" does, so keep the `httpx` logger at WARNING in production).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Protocol

import httpx
from django.conf import settings

from freshloop.community.models import RobotPost
from freshloop.core import clock

WEBHOOK_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class RobotAnswer:
    ok: bool
    ref: str
    detail: str


def robot_payload(*, msgtype: str, content: str) -> dict[str, object]:
    """The webhook's body; content cut on a character boundary to WeCom's byte limit."""
    limit = MARKDOWN_MAX_BYTES if msgtype == "markdown" else TEXT_MAX_BYTES
    raw = content.encode()
    if len(raw) > limit:
        content = raw[:limit].decode(errors="ignore")
    if msgtype == "markdown":
        return {"msgtype": "markdown", "markdown": {"content": content}}
    return {"msgtype": "text", "text": {"content": content}}


class RobotProvider(Protocol):
    name: str

    def post(self, *, webhook_key: str, payload: dict[str, object]) -> RobotAnswer: ...


class HttpRobotProvider:
    name = "wecom"

    def __init__(
        self, *, transport: httpx.BaseTransport | None = None, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self._transport = transport
        self._timeout = timeout

    def post(self, *, webhook_key: str, payload: dict[str, object]) -> RobotAnswer:
        try:
            with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
                response = client.post(
                    WEBHOOK_URL,
                    params={"key": webhook_key},
                    content=json.dumps(payload, ensure_ascii=False).encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
        except (httpx.HTTPError, OSError) as exc:
            return RobotAnswer(ok=False, ref="", detail=f"unreachable ({type(exc).__name__})")
        if not response.is_success:
            return RobotAnswer(ok=False, ref="", detail=f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            return RobotAnswer(ok=False, ref="", detail="answer is not JSON")
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if errcode != 0:
            errmsg = str(answer.get("errmsg", ""))[:120] if isinstance(answer, dict) else ""
            return RobotAnswer(ok=False, ref="", detail=f"errcode {errcode}: {errmsg}")
        return RobotAnswer(ok=True, ref=f"robot-{secrets.token_hex(6)}", detail="ok")


class SandboxRobotProvider:
    """Accepts what WeCom would (a key, a text or markdown body) and posts nowhere."""

    name = "sandbox"

    def post(self, *, webhook_key: str, payload: dict[str, object]) -> RobotAnswer:
        if not webhook_key or payload.get("msgtype") not in {"text", "markdown"}:
            return RobotAnswer(ok=False, ref="", detail="errcode 93000: invalid webhook")
        return RobotAnswer(ok=True, ref=f"sandbox-{secrets.token_hex(6)}", detail="ok")


def robot_provider() -> RobotProvider:
    """The real webhook once a real corp is configured, else the sandbox."""
    if settings.FRESHLOOP.wecom.configured:
        return HttpRobotProvider()
    return SandboxRobotProvider()


def robot_post(
    *,
    chat_id: str,
    webhook_key: str,
    content: str,
    msgtype: str = "text",
    provider: RobotProvider | None = None,
) -> RobotAnswer:
    """Post into an internal group through its robot and record the post."""
    chosen = provider or robot_provider()
    payload = robot_payload(msgtype=msgtype, content=content)
    answer = chosen.post(webhook_key=webhook_key, payload=payload)
    RobotPost.objects.create(
        chat_id=chat_id,
        provider=chosen.name,
        msgtype=msgtype,
        content=content,
        ok=answer.ok,
        answer=answer.detail[:200],
        posted_at=clock.now(),
    )
    return answer
