"""The room's pages and its event stream (routed ahead of Django under ASGI)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from freshloop.live.models import LiveStatus
from freshloop.live.room.views import ROOM_EVENTS
from tests.live.helpers import make_session


class TestRoomEventsRoute:
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
        params = ROOM_EVENTS.match({"type": "http", "method": method, "path": path})
        assert params == (None if code is None else {"code": code})

    def test_websockets_and_lifespan_are_not_matched(self) -> None:
        assert ROOM_EVENTS.match({"type": "lifespan"}) is None


@pytest.mark.django_db(transaction=True)
class TestRoomEventsServe:
    def test_unknown_session_is_a_json_404(self) -> None:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async_to_sync(ROOM_EVENTS.serve)(
            {"type": "http", "headers": []}, receive, send, {"code": "L_nope"}
        )
        assert sent[0]["status"] == 404
        assert json.loads(sent[1]["body"])["message"] == "直播不存在"

    def test_the_asgi_application_serves_it_ahead_of_django(self) -> None:
        from config.asgi import application

        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/api/v1/live/L_nope/events"}
        async_to_sync(application)({**scope, "headers": []}, receive, send)
        # then the route answered (Django's 404 would be its own JSON, without this detail)
        assert json.loads(sent[1]["body"]) == {
            "code": "not_found",
            "message": "直播不存在",
            "detail": {"code": "L_nope"},
        }


@pytest.mark.django_db
class TestRoomPage:
    def test_room_page_renders_with_the_player_and_escapes_the_title(self) -> None:
        session = make_session(status=LiveStatus.LIVE)
        page = Client().get(f"/m/live/{session.code}").content.decode()
        assert "hls.min.js" in page
        assert f"liveRoom('{session.code}')" in page
        assert Client().get("/m/live/L_nope").status_code == 404
