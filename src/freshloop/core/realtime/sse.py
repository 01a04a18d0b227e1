"""Server-sent events of a real-time channel: a Django streaming response, and event-stream
routes served straight from ASGI.

Why the ASGI routes: Django runs its middleware hooks (sessions, CSRF, auth…) through a
per-request thread under ASGI, and that thread lives as long as the response — for an event
stream, as long as the viewer watches: 5,000 viewers would be 5,000 idle threads. A registered
`EventStreamRoute` looks its channel up in a pooled thread, then streams on the event loop with
no thread at all; `with_event_streams` puts the registered routes in front of Django
(config/asgi.py). The same route's `response` serves the stream as a Django view, for WSGI and
the test client. The middleware (and so the login) is skipped: a stream that is not public
names an `authorize` gate, which gets the request with its session and user read from the
cookie as Django's middleware would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import auth
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.utils.functional import SimpleLazyObject

from freshloop.core.errors import DomainError
from freshloop.core.http import error_response
from freshloop.core.middleware import close_request_connections
from freshloop.core.realtime import subscribe
from freshloop.core.realtime.subscription import (
    RealtimeUnavailable,
    SubscriberDropped,
    Subscription,
)

RETRY_MILLISECONDS = 3000
HEARTBEAT_SECONDS = 15.0
MAX_FRAMES_PER_CHUNK = 64
"""Events already queued are written in one chunk (one socket write) up to this many."""
LAST_EVENT_ID_PARAM = "last_event_id"

Scope = dict[str, Any]
AsgiApp = Callable[[Scope, Any, Any], Awaitable[None]]


async def sse_stream(
    subscription: Subscription, heartbeat_seconds: float = HEARTBEAT_SECONDS
) -> AsyncGenerator[bytes, None]:
    """The body: never touches the ORM (it runs on the event loop, not in a sync thread)."""
    try:
        try:
            await subscription.start()
        except RealtimeUnavailable:
            yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
            return
        # Only once subscribed: a client that has read this line misses nothing after it.
        yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
        while True:
            try:
                event = await subscription.receive(timeout=heartbeat_seconds)
                if event is None:
                    yield b": keep-alive\n\n"
                    continue
                frames = [event.frame]
                while len(frames) < MAX_FRAMES_PER_CHUNK:
                    more = subscription.receive_nowait()
                    if more is None:
                        break
                    frames.append(more.frame)
            except SubscriberDropped:
                return  # the browser reconnects with Last-Event-ID and replays the gap
            yield b"".join(frames)
    finally:
        # Runs on client disconnect too: Django cancels the response task, and the
        # CancelledError unwinds through here.
        await subscription.aclose()


def _requested_last_event_id(request: HttpRequest, param: str) -> str | None:
    header = request.headers.get("Last-Event-ID")
    if header:
        return header
    return request.GET.get(param) or None


def sse_response(
    request: HttpRequest,
    channel: str,
    *,
    last_event_id_param: str = LAST_EVENT_ID_PARAM,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> StreamingHttpResponse:
    """An async text/event-stream of `channel`, resuming after the client's Last-Event-ID.

    EventSource sends Last-Event-ID only on reconnects; a page that already has an id (from
    its initial render) passes it as the `last_event_id_param` query parameter. Serve it
    under ASGI (uvicorn): the body is an async generator that holds no thread.
    """
    subscription = subscribe(
        channel, last_event_id=_requested_last_event_id(request, last_event_id_param)
    )
    response = StreamingHttpResponse(
        sse_stream(subscription, heartbeat_seconds), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- event-stream routes served ahead of Django ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class EventStreamRoute:
    """A public event-stream URL and how to find its channel.

    `path` matches the whole request path; its named groups are passed to `channel_for`, a
    sync function (it may read the database: it runs in a pooled thread whose connections are
    closed afterwards) that returns the channel, or None for a 404 with `not_found_message`.
    `authorize`, when given, runs next in the same thread with the request and the same
    parameters, and refuses by raising a `DomainError` (answered as its JSON and status).
    """

    path: re.Pattern[str]
    channel_for: Callable[..., str | None]
    not_found_message: str
    authorize: Callable[..., None] | None = None

    def match(self, scope: Scope) -> dict[str, str] | None:
        """The path's parameters if `scope` is a GET/HEAD of this route, else None."""
        if scope.get("type") != "http" or scope.get("method") not in {"GET", "HEAD"}:
            return None
        found = self.path.fullmatch(scope.get("path", ""))
        return found.groupdict() if found else None

    def _lookup(
        self, params: dict[str, str], request: Callable[[], HttpRequest] | None
    ) -> str | None:
        try:
            channel = self.channel_for(**params)
            if channel is not None and self.authorize is not None and request is not None:
                self.authorize(request(), **params)
            return channel
        finally:
            close_request_connections()

    async def channel(
        self, params: dict[str, str], request: Callable[[], HttpRequest] | None = None
    ) -> str | None:
        """The channel, or None (404); raises the `authorize` gate's DomainError. `request`
        builds the caller's request, only for a route with a gate."""
        # A pooled thread (not the request's own) so that the open stream holds no thread.
        return await sync_to_async(self._lookup, thread_sensitive=False)(params, request)

    def _not_found_detail(self, params: dict[str, str]) -> dict[str, str]:
        return {name: value[:40] for name, value in params.items()}

    async def response(self, request: HttpRequest, **params: str) -> HttpResponseBase:
        """The stream as a Django (async) view: under WSGI and the test client."""
        try:
            channel = await self.channel(params, lambda: request)
        except DomainError as error:
            return error_response(error.status, error.code, error.text, error.detail)
        if channel is None:
            return error_response(
                404, "not_found", self.not_found_message, self._not_found_detail(params)
            )
        return sse_response(request, channel)

    async def serve(self, scope: Scope, receive: Any, send: Any, params: dict[str, str]) -> None:
        """The stream as a bare ASGI app: no middleware, no thread while it streams."""
        try:
            channel = await self.channel(params, lambda: _request_from_scope(scope))
        except DomainError as error:
            await _send_error(send, error.status, error.code, error.text, error.detail)
            return
        if channel is None:
            await _send_error(
                send, 404, "not_found", self.not_found_message, self._not_found_detail(params)
            )
            return
        subscription = subscribe(channel, last_event_id=_scope_last_event_id(scope))
        await _stream_to(receive, send, sse_stream(subscription))


def _scope_last_event_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"last-event-id" and value:
            return str(value.decode("latin-1"))
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get(LAST_EVENT_ID_PARAM) or []
    return values[0] if values else None


def _request_from_scope(scope: Scope) -> HttpRequest:
    """The request of a route served ahead of Django, with what the middleware would have
    attached for an `authorize` gate: the session from its cookie and the (lazy) user. Called
    in the lookup's pooled thread, which may read the database."""
    request = ASGIRequest({"method": "GET", "path": "", **scope}, io.BytesIO())
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.user = SimpleLazyObject(lambda: auth.get_user(request))  # type: ignore[assignment]
    return request


async def _send_error(send: Any, status: int, code: str, message: str, detail: Any) -> None:
    body = json.dumps(
        {"code": code, "message": message, "detail": detail}, ensure_ascii=False
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _stream_to(receive: Any, send: Any, stream: AsyncGenerator[bytes, None]) -> None:
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


_routes: list[EventStreamRoute] = []


def event_stream_register(route: EventStreamRoute) -> None:
    """Serve `route` ahead of Django (from an app's `ready()`); registering twice is harmless."""
    if route not in _routes:
        _routes.append(route)


def with_event_streams(application: AsgiApp) -> AsgiApp:
    """`application` behind the registered event-stream routes: a request for one of them is
    streamed here, anything else goes on to `application`."""

    async def dispatch(scope: Scope, receive: Any, send: Any) -> None:
        for route in _routes:
            params = route.match(scope)
            if params is not None:
                await route.serve(scope, receive, send, params)
                return
        await application(scope, receive, send)

    return dispatch
