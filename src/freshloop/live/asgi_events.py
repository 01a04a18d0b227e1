"""The room's event stream served as a bare ASGI app, ahead of Django's middleware chain.

Django runs its middleware hooks (sessions, CSRF, auth…) through a per-request thread under
ASGI, and that thread lives as long as the response — for an event stream, as long as the
viewer watches: 5,000 viewers would be 5,000 idle threads. This app looks the session up in a
pooled thread, then streams on the event loop with no thread at all. The stream is public (the
room's comments are public), so it needs nothing from the middleware. The Django view
(`live.views.room_events`) serves the same stream under WSGI and the test client.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async

from freshloop.live import realtime
from freshloop.live.views import _session_for_stream

PATH = re.compile(r"^/api/v1/live/(?P<code>[A-Za-z0-9_]{1,40})/events$")
Scope = dict[str, Any]


def match(scope: Scope) -> str | None:
    if scope.get("type") != "http" or scope.get("method") not in {"GET", "HEAD"}:
        return None
    found = PATH.match(scope.get("path", ""))
    return found.group("code") if found else None


def _last_event_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"last-event-id" and value:
            return str(value.decode("latin-1"))
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("last_event_id") or []
    return values[0] if values else None


async def _not_found(send: Any, code: str) -> None:
    body = json.dumps(
        {"code": "not_found", "message": "直播不存在", "detail": {"code": code}}, ensure_ascii=False
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def live_events(scope: Scope, receive: Any, send: Any, *, code: str) -> None:
    session = await sync_to_async(_session_for_stream, thread_sensitive=False)(code)
    if session is None:
        await _not_found(send, code)
        return
    subscription = realtime.subscribe(f"live:{session.code}", last_event_id=_last_event_id(scope))
    stream = realtime._sse_stream(subscription, realtime.HEARTBEAT_SECONDS)

    async def pump() -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.create_task(pump()), asyncio.create_task(disconnected())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stream.aclose()
