"""The event-stream dispatcher in front of Django."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from freshloop.live.asgi_events import live_events, match


class TestMatch:
    @pytest.mark.parametrize(
        ("path", "method", "code"),
        [
            ("/api/v1/live/L_01ABC/events", "GET", "L_01ABC"),
            ("/api/v1/live/L_01ABC/events", "POST", None),
            ("/api/v1/live/L_01ABC/events/x", "GET", None),
            ("/api/v1/live/../events", "GET", None),
            ("/api/v1/live/L_01ABC", "GET", None),
        ],
    )
    def test_only_the_event_stream_is_taken_out_of_django(
        self, path: str, method: str, code: str | None
    ) -> None:
        assert match({"type": "http", "method": method, "path": path}) == code

    def test_websockets_and_lifespan_are_not_matched(self) -> None:
        assert match({"type": "lifespan"}) is None


@pytest.mark.django_db(transaction=True)
class TestLiveEvents:
    def test_unknown_session_is_a_json_404(self) -> None:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async_to_sync(live_events)({"type": "http", "headers": []}, receive, send, code="L_nope")
        assert sent[0]["status"] == 404
        assert json.loads(sent[1]["body"])["message"] == "直播不存在"
