"""The viewer API of the room."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.live.models import LiveComment, LiveViewer
from freshloop.promotions.models import Coupon
from tests.factories import make_person, make_sku
from tests.live.helpers import make_session, realtime_broker_down
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


class TestRoomState:
    def test_public_state_with_products_and_no_personal_part(self) -> None:
        sku = make_sku(stock=7, name="牧场鲜牛奶")
        session = make_session(skus=[sku])
        body = Client().get(f"/api/v1/live/{session.code}").json()
        assert body["status"] == "live"
        assert body["products"][0]["name"] == "牧场鲜牛奶"
        assert body["products"][0]["available"] == 7
        assert body["me"] is None

    def test_unknown_room_is_404_in_chinese(self) -> None:
        response = Client().get("/api/v1/live/L_nope")
        assert response.status_code == 404
        assert response.json()["message"] == "直播不存在"


class TestJoin:
    def test_guest_joins_by_device_and_logged_in_viewer_by_token(self) -> None:
        session = make_session()
        guest = post(Client(), f"/api/v1/live/{session.code}/join", {"device_id": "dev-1"})
        assert guest.status_code == 200
        assert guest.json()["guest"] is True
        member = post(
            client_for(make_person()), f"/api/v1/live/{session.code}/join", {"nickname": "小王"}
        )
        assert member.json() == {**member.json(), "guest": False, "nickname": "小王"}
        assert LiveViewer.objects.count() == 2

    def test_anonymous_without_device_is_401(self) -> None:
        response = post(Client(), f"/api/v1/live/{make_session().code}/join", {})
        assert response.status_code == 401

    @pytest.mark.parametrize("device_id", ["../../x", "a" * 65, "<script>"])
    def test_bad_device_ids_are_422(self, device_id: str) -> None:
        response = post(
            Client(), f"/api/v1/live/{make_session().code}/join", {"device_id": device_id}
        )
        assert response.status_code == 422


class TestComments:
    def test_comment_needs_login_and_round_trips_as_text(self) -> None:
        session, person = make_session(), make_person()
        client = client_for(person)
        post(client, f"/api/v1/live/{session.code}/join", {"nickname": "<b>小王</b>"})
        assert (
            post(Client(), f"/api/v1/live/{session.code}/comments", {"text": "hi"}).status_code
            == 401
        )
        response = post(
            client,
            f"/api/v1/live/{session.code}/comments",
            {"text": "<img src=x onerror=alert(1)>"},
        )
        assert response.status_code == 201
        listed = Client().get(f"/api/v1/live/{session.code}/comments").json()
        assert listed[0]["text"] == "<img src=x onerror=alert(1)>"
        assert listed[0]["nickname"] == "<b>小王</b>"

    def test_too_long_is_422_with_code(self) -> None:
        session, person = make_session(), make_person()
        client = client_for(person)
        post(client, f"/api/v1/live/{session.code}/join", {})
        response = post(client, f"/api/v1/live/{session.code}/comments", {"text": "长" * 150})
        assert response.status_code == 422
        assert response.json()["code"] == "comment_refused"
        assert not LiveComment.objects.exists()


class TestLiveCoupons:
    def test_claim_a_live_coupon_of_this_session_only(self) -> None:
        session, person = make_session(), make_person()
        template = coupon_template(code="live-15", live_only=True)
        other = coupon_template(code="not-here", live_only=True)
        session.coupon_templates.add(template)
        client = client_for(person)
        ok = post(client, f"/api/v1/live/{session.code}/coupons/{template.pk}/claim", {})
        assert ok.status_code == 200
        assert Coupon.objects.get(person=person).source_ref == session.code
        assert (
            post(client, f"/api/v1/live/{session.code}/coupons/{other.pk}/claim", {}).status_code
            == 404
        )


@pytest.mark.django_db(transaction=True)
class TestRealtimeDown:
    """A push to the room is best effort: once the write has committed, a broker that does not
    answer is logged and the request answers as usual (the page reads the state again)."""

    def test_comment_and_like_are_saved_and_answered(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        session, person = make_session(), make_person()
        client = client_for(person)
        realtime_broker_down(monkeypatch)
        joined = post(client, f"/api/v1/live/{session.code}/join", {"nickname": "小王"})
        commented = post(client, f"/api/v1/live/{session.code}/comments", {"text": "还有货吗"})
        liked = post(client, f"/api/v1/live/{session.code}/likes", {"count": 3})
        assert [joined.status_code, commented.status_code, liked.status_code] == [200, 201, 200]
        assert LiveComment.objects.get().text == "还有货吗"
        assert liked.json() == {"likes": 3}
        pushes = [r.getMessage() for r in caplog.records if "not pushed" in r.getMessage()]
        assert [message.split(" ")[1] for message in pushes] == ["join", "comment", "like"]
