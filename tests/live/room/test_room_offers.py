"""The room's offer hook: modules above live (web, composing groupbuy's presales) add product
cards to a room without live importing them."""

from __future__ import annotations

from typing import Any

import pytest

from freshloop.live.room import selectors
from freshloop.live.room.selectors import register_room_offer_source, room_offers, room_state
from tests.live.helpers import make_session

pytestmark = pytest.mark.django_db


def _offer(code: str) -> list[dict[str, Any]]:
    return [{"key": f"test:{code}", "name": "测试卡片", "href": f"/m/x/{code}"}]


def _broken(code: str) -> list[dict[str, Any]]:
    raise RuntimeError("a bug in another module")


class TestRoomOffers:
    def test_each_source_is_asked_with_the_rooms_code_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(selectors, "_room_offer_sources", [])
        register_room_offer_source(_offer)
        register_room_offer_source(_offer)
        assert room_offers(code="L_1") == [
            {"key": "test:L_1", "name": "测试卡片", "href": "/m/x/L_1"}
        ]

    def test_a_failing_source_is_left_out_and_logged(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setattr(selectors, "_room_offer_sources", [_broken, _offer])
        assert [offer["key"] for offer in room_offers(code="L_2")] == ["test:L_2"]
        assert "room offer source" in caplog.text


class TestRoomStateOffers:
    def test_the_rooms_state_carries_the_offers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(selectors, "_room_offer_sources", [_offer])
        session = make_session()
        state = room_state(session=session, person=None)
        assert state["offers"] == _offer(session.code)
