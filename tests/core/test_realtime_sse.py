"""sse_response: through Django's AsyncClient, and end to end under a real uvicorn process.

This module doubles as the URLconf of both (a tiny events / publish / count surface), so the
tests do not depend on the live API's routes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import AsyncClient
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from freshloop.core import realtime
from freshloop.core.realtime import sse
from freshloop.core.realtime import subscription as realtime_subscription

ROOT = Path(__file__).resolve().parents[2]
URLCONF = "tests.core.test_realtime_sse"


def events_view(request: HttpRequest, channel: str) -> StreamingHttpResponse:
    return sse.sse_response(
        request, channel, heartbeat_seconds=float(request.GET.get("heartbeat", "15"))
    )


@csrf_exempt
def publish_view(request: HttpRequest, channel: str) -> HttpResponse:
    event_id = realtime.publish(channel, "comment", json.loads(request.body))
    return JsonResponse({"id": event_id})


def count_view(request: HttpRequest, channel: str) -> HttpResponse:
    return JsonResponse({"count": realtime.local_subscriber_count(channel)})


urlpatterns = [
    path("events/<str:channel>", events_view),
    path("publish/<str:channel>", publish_view),
    path("count/<str:channel>", count_view),
]


def parse_frames(text: str) -> list[dict[str, str]]:
    """SSE frames as dicts of their fields; comments (heartbeats) as {"comment": ...}."""
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                fields["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
        frames.append(fields)
    return frames


class Reader:
    """Reads whole frames off an async byte stream."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = ""

    async def frames(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        async with asyncio.timeout(timeout):
            while self._pending.count("\n\n") < count:
                self._pending += (await anext(self._chunks)).decode()
        blocks = self._pending.split("\n\n")
        taken, rest = blocks[:count], blocks[count:]
        self._pending = "\n\n".join(rest)
        return parse_frames("\n\n".join(taken) + "\n\n")


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> realtime.InProcessBroker:
    broker = realtime.InProcessBroker()
    monkeypatch.setattr(realtime, "get_broker", lambda: broker)
    return broker


@pytest.fixture
def test_urls(settings: object) -> None:
    settings.ROOT_URLCONF = URLCONF  # type: ignore[attr-defined]


async def _open(client: AsyncClient, url: str, **headers: str) -> tuple[HttpResponse, Reader]:
    response = await client.get(url, headers=headers)
    return response, Reader(aiter(response.streaming_content))  # type: ignore[attr-defined]


@pytest.mark.usefixtures("test_urls")
class TestSseResponse:
    def test_headers_and_first_retry_line(self, in_process: realtime.InProcessBroker) -> None:
        async def scenario() -> tuple[HttpResponse, list[dict[str, str]]]:
            response, reader = await _open(AsyncClient(), "/events/live:h")
            frames = await reader.frames(1)
            await response.streaming_content.aclose()  # type: ignore[attr-defined]
            return response, frames

        response, frames = asyncio.run(scenario())
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        assert response["Cache-Control"] == "no-cache"
        assert response["X-Accel-Buffering"] == "no"
        assert frames == [{"retry": "3000"}]

    def test_streams_published_events_as_utf8_json(
        self, in_process: realtime.InProcessBroker
    ) -> None:
        async def scenario() -> list[dict[str, str]]:
            response, reader = await _open(AsyncClient(), "/events/live:e")
            await reader.frames(1)  # subscribed once the retry line is out
            in_process.publish("live:e", "comment", {"text": "<b>鲜</b>"})
            in_process.publish("live:e", "like", {"count": 3})
            frames = await reader.frames(2)
            await response.streaming_content.aclose()  # type: ignore[attr-defined]
            return frames

        assert asyncio.run(scenario()) == [
            {"id": "1", "event": "comment", "data": '{"text":"<b>鲜</b>"}'},
            {"id": "2", "event": "like", "data": '{"count":3}'},
        ]

    @pytest.mark.parametrize(
        ("url", "headers"),
        [
            ("/events/live:r", {"Last-Event-ID": "2"}),
            ("/events/live:r?last_event_id=2", {}),
            # the header (a real reconnect) wins over a stale id in the page's URL
            ("/events/live:r?last_event_id=0", {"Last-Event-ID": "2"}),
        ],
    )
    def test_resumes_after_last_event_id(
        self, in_process: realtime.InProcessBroker, url: str, headers: dict[str, str]
    ) -> None:
        for n in range(4):
            in_process.publish("live:r", "comment", {"n": n})

        async def scenario() -> list[str]:
            response, reader = await _open(AsyncClient(), url, **headers)
            frames = await reader.frames(3)
            await response.streaming_content.aclose()  # type: ignore[attr-defined]
            return [frame.get("id", "") for frame in frames]

        assert asyncio.run(scenario()) == ["", "3", "4"]

    def test_sends_heartbeat_comments_when_idle(self, in_process: realtime.InProcessBroker) -> None:
        async def scenario() -> list[dict[str, str]]:
            response, reader = await _open(AsyncClient(), "/events/live:hb?heartbeat=0.05")
            frames = await reader.frames(3)
            await response.streaming_content.aclose()  # type: ignore[attr-defined]
            return frames

        assert asyncio.run(scenario())[1:] == [{"comment": "keep-alive"}] * 2

    def test_client_disconnect_unregisters_the_subscriber(
        self, in_process: realtime.InProcessBroker
    ) -> None:
        # Django's ASGI handler cancels the response task on http.disconnect; do the same.
        async def scenario() -> tuple[int, int, int]:
            _response, reader = await _open(AsyncClient(), "/events/live:d")
            await reader.frames(1)
            during = in_process.local_subscriber_count("live:d")
            reading = asyncio.create_task(reader.frames(1, timeout=60))
            await asyncio.sleep(0.05)
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading
            after = in_process.local_subscriber_count("live:d")
            tasks = len(asyncio.all_tasks()) - 1  # minus this one
            return during, after, tasks

        assert asyncio.run(scenario()) == (1, 0, 0)

    def test_dropped_subscriber_stream_ends_for_the_browser_to_reconnect(
        self, in_process: realtime.InProcessBroker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(realtime_subscription, "SUBSCRIBER_QUEUE_SIZE", 3)

        async def scenario() -> tuple[list[dict[str, str]], int]:
            response, reader = await _open(AsyncClient(), "/events/live:drop")
            await reader.frames(1)
            for n in range(10):
                in_process.publish("live:drop", "comment", {"n": n})
            await asyncio.sleep(0.1)
            rest = b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[attr-defined]
            return parse_frames(rest.decode()), in_process.local_subscriber_count("live:drop")

        frames, remaining = asyncio.run(scenario())
        # then the stream ended without delivering a partial, gappy sequence
        assert frames == []
        assert remaining == 0


class _AsgiCall:
    """One ASGI request: what the app sent, and a disconnect the test triggers."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def body(self) -> str:
        return b"".join(m.get("body", b"") for m in self.sent[1:]).decode()


def _known_channel(key: str) -> str | None:
    return realtime.channel_name("things", key) if key != "missing" else None


THINGS = sse.EventStreamRoute(
    path=re.compile(r"/things/(?P<key>[a-z]+)/events"),
    channel_for=_known_channel,
    not_found_message="没有这个东西",
)


def _scope(path: str, headers: list[tuple[bytes, bytes]] | None = None, query: bytes = b"") -> Any:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": headers or [],
        "query_string": query,
    }


@pytest.fixture
def things_routed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "_routes", [])
    sse.event_stream_register(THINGS)
    sse.event_stream_register(THINGS)  # twice is once


class TestEventStreamRoutes:
    def test_other_requests_go_on_to_the_application(self, things_routed: None) -> None:
        seen: list[str] = []

        async def django_app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["path"])

        app = sse.with_event_streams(django_app)
        for other in ["/things/a", "/things/a/events/x", "/api/v1/shop"]:
            asyncio.run(app(_scope(other), None, None))
        assert seen == ["/things/a", "/things/a/events/x", "/api/v1/shop"]
        assert sse._routes == [THINGS]

    def test_unknown_key_is_a_json_404_with_the_route_message(self, things_routed: None) -> None:
        call = _AsgiCall()
        app = sse.with_event_streams(lambda *args: pytest.fail("reached the application"))
        asyncio.run(app(_scope("/things/missing/events"), call.receive, call.send))
        assert call.sent[0]["status"] == 404
        assert json.loads(call.sent[1]["body"]) == {
            "code": "not_found",
            "message": "没有这个东西",
            "detail": {"key": "missing"},
        }

    @pytest.mark.parametrize(
        ("headers", "query"),
        [([(b"last-event-id", b"1")], b""), ([], b"last_event_id=1")],
    )
    def test_streams_the_channel_after_the_last_event_id(
        self,
        things_routed: None,
        in_process: realtime.InProcessBroker,
        headers: list[tuple[bytes, bytes]],
        query: bytes,
    ) -> None:
        channel = realtime.channel_name("things", "apple")
        in_process.publish(channel, "comment", {"n": 1})
        in_process.publish(channel, "comment", {"n": 2})

        async def scenario() -> tuple[_AsgiCall, int]:
            call = _AsgiCall()
            app = sse.with_event_streams(lambda *args: pytest.fail("reached the application"))
            serving = asyncio.create_task(
                app(_scope("/things/apple/events", headers, query), call.receive, call.send)
            )
            while call.body().count("\n\n") < 2:  # the retry line, then event 2
                await asyncio.sleep(0.01)
            call.gone.set()
            await serving
            return call, in_process.local_subscriber_count(channel)

        call, left = asyncio.run(scenario())
        assert call.sent[0]["status"] == 200
        assert (b"content-type", b"text/event-stream; charset=utf-8") in call.sent[0]["headers"]
        assert parse_frames(call.body()) == [
            {"retry": "3000"},
            {"id": "2", "event": "comment", "data": '{"n":2}'},
        ]
        assert left == 0  # the disconnect let go of the subscriber


# --- end to end under uvicorn ------------------------------------------------------------------

_SERVER = """
import django, uvicorn
django.setup()
from django.conf import settings
settings.ROOT_URLCONF = {urlconf!r}
from django.core.asgi import get_asgi_application
uvicorn.run(get_asgi_application(), host="127.0.0.1", port={port}, log_level="warning",
            timeout_graceful_shutdown=1)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["memory", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
        "REDIS_URL": request.getfixturevalue("redis_url") if request.param == "redis" else "",
    }
    process = subprocess.Popen(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", _SERVER.format(urlconf=URLCONF, port=port)], cwd=ROOT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/count/x", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("uvicorn did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _stream_lines(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> AsyncIterator[bytes]:
    async with client.stream("GET", url, headers=headers) as response:
        assert response.headers["content-type"] == "text/event-stream"
        async for chunk in response.aiter_raw():
            yield chunk


async def _subscriber_count(client: httpx.AsyncClient, channel: str) -> int:
    return int((await client.get(f"/count/{channel}")).json()["count"])


class TestSseUnderUvicorn:
    def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(self, server: str) -> None:
        async def scenario() -> tuple[list[str], list[str], int]:
            async with httpx.AsyncClient(base_url=server, timeout=10) as client:
                # given a viewer that read three comments
                stream = _stream_lines(client, "/events/live:e2e", {})
                reader = Reader(stream)
                await reader.frames(1)
                for n in range(3):
                    await client.post("/publish/live:e2e", json={"n": n})
                first = [frame["id"] for frame in await reader.frames(3)]
                # when it disconnects and two comments are posted meanwhile
                await stream.aclose()  # type: ignore[attr-defined]
                for _ in range(100):
                    if await _subscriber_count(client, "live:e2e") == 0:
                        break
                    await asyncio.sleep(0.05)
                left = await _subscriber_count(client, "live:e2e")
                for n in range(3, 5):
                    await client.post("/publish/live:e2e", json={"n": n})
                # then reconnecting with Last-Event-ID replays exactly those, then goes live
                stream = _stream_lines(client, "/events/live:e2e", {"Last-Event-ID": first[-1]})
                reader = Reader(stream)
                await client.post("/publish/live:e2e", json={"n": 5})
                frames = await reader.frames(4)
                await stream.aclose()  # type: ignore[attr-defined]
                return first, [frame.get("id", "") for frame in frames], left

        first, resumed, left = asyncio.run(scenario())
        assert first == ["1", "2", "3"]
        assert left == 0  # the server let go of the disconnected subscriber
        assert resumed == ["", "4", "5", "6"]
