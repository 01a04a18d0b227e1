"""The viewer API of the room."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.identity.models import Person
from freshloop.identity.services import IdentifierInput, consumer_token_issue, identify
from freshloop.live.models import LiveComment, LiveSession, LiveViewer
from freshloop.promotions.models import Coupon
from tests.factories import make_person, make_sku
from tests.live.helpers import browser_for, make_session, realtime_broker_down
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


class TestJoinWithSomeoneElsesDevice:
    """Probe finding: an anonymous join with another person's device id answered with their
    OneID and nickname (and let the caller like, beat and click in their name). A device that
    belongs to an account now takes that account's login; anonymously it is refused."""

    def _owned_device(self, session_code: str) -> Person:
        # given a buyer who logged in on their phone and watched: the device is now theirs
        owner = make_person()
        joined = post(
            client_for(owner),
            f"/api/v1/live/{session_code}/join",
            {"device_id": "dev-owned", "nickname": "王小明"},
        )
        assert joined.status_code == 200
        return owner

    def test_anonymous_join_with_it_reveals_nothing_and_is_refused(self) -> None:
        session = make_session()
        owner = self._owned_device(session.code)
        # when someone else, not logged in, joins presenting that device id
        response = post(Client(), f"/api/v1/live/{session.code}/join", {"device_id": "dev-owned"})
        # then they are told to log in, and learn neither the OneID nor the nickname
        assert response.status_code == 401
        assert response.json()["code"] == "live_device_login_required"
        assert response.json()["message"] == "该设备已关联账号，请登录后继续"
        assert owner.one_id not in response.content.decode()
        assert "王小明" not in response.content.decode()

    def test_nothing_can_be_done_in_the_owners_name(self) -> None:
        session = make_session()
        owner = self._owned_device(session.code)
        base = f"/api/v1/live/{session.code}"
        anonymous = Client()
        answers = [
            post(anonymous, f"{base}/heartbeat", {"device_id": "dev-owned"}),
            post(anonymous, f"{base}/likes", {"count": 5, "device_id": "dev-owned"}),
            post(
                anonymous,
                f"{base}/track",
                {"action": "add_to_cart", "sku_id": 1, "device_id": "dev-owned"},
            ),
            post(anonymous, f"{base}/leave", {"device_id": "dev-owned"}),
        ]
        assert [a.json()["code"] for a in answers] == ["live_device_login_required"] * 4
        assert LiveSession.objects.get(pk=session.pk).likes == 0
        assert LiveViewer.objects.get(person=owner).dwell_seconds == 0

    def test_a_device_tied_to_a_phone_elsewhere_is_refused_too(self) -> None:
        # given a device the data hub or a shop login tied to a phone number
        phone_person = identify(
            identifiers=[
                IdentifierInput(type="phone", value="13900139000", verified=True),
                IdentifierInput(type="device_id", value="dev-shop"),
            ],
            source="shop",
        ).person
        response = post(
            Client(), f"/api/v1/live/{make_session().code}/join", {"device_id": "dev-shop"}
        )
        assert response.status_code == 401
        assert phone_person.one_id not in response.content.decode()

    def test_a_new_device_watches_as_a_new_guest(self) -> None:
        session = make_session()
        owner = self._owned_device(session.code)
        response = post(Client(), f"/api/v1/live/{session.code}/join", {"device_id": "dev-new"})
        assert response.status_code == 200
        assert response.json()["guest"] is True
        assert response.json()["one_id"] != owner.one_id

    def test_a_guests_own_device_keeps_working(self) -> None:
        session = make_session()
        first = post(Client(), f"/api/v1/live/{session.code}/join", {"device_id": "dev-guest"})
        again = post(Client(), f"/api/v1/live/{session.code}/join", {"device_id": "dev-guest"})
        assert again.json()["one_id"] == first.json()["one_id"]


class TestCsrfOnCookieWrites:
    """Probe finding: likes, join and heartbeat authenticated by the H5 session cookie skipped
    CSRF. A cookie write of the room now needs the CSRF token, like the rest of the cookie API;
    bearer-token clients and guests (no cookie identity) are unaffected."""

    @pytest.mark.parametrize(
        ("action", "body"),
        [
            ("join", {"device_id": "dev-c"}),
            ("heartbeat", {"device_id": "dev-c"}),
            ("likes", {"count": 2, "device_id": "dev-c"}),
            ("track", {"action": "click_product", "sku_id": 1, "device_id": "dev-c"}),
            ("leave", {"device_id": "dev-c"}),
        ],
    )
    def test_without_the_token_it_is_refused_and_nothing_is_written(
        self, action: str, body: dict[str, Any]
    ) -> None:
        session = make_session()
        browser, _ = browser_for(make_person())
        people_before = Person.objects.count()
        response = post(browser, f"/api/v1/live/{session.code}/{action}", body)
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert response.json()["message"] == "CSRF 校验失败，请刷新页面后重试"
        assert not LiveViewer.objects.exists()
        assert LiveSession.objects.get(pk=session.pk).likes == 0
        assert Person.objects.count() == people_before  # not quietly served as a guest either

    def test_with_the_token_the_room_works_as_before(self) -> None:
        sku = make_sku(stock=3)
        session = make_session(skus=[sku])
        person = make_person()
        browser, token = browser_for(person)
        base = f"/api/v1/live/{session.code}"

        def write(action: str, body: dict[str, Any]) -> int:
            return int(
                browser.post(
                    f"{base}/{action}",
                    json.dumps(body),
                    content_type="application/json",
                    HTTP_X_CSRFTOKEN=token,
                ).status_code
            )

        statuses = [
            write("join", {"device_id": "dev-c"}),
            write("heartbeat", {"device_id": "dev-c"}),
            write("likes", {"count": 2, "device_id": "dev-c"}),
            write("track", {"action": "click_product", "sku_id": sku.pk, "device_id": "dev-c"}),
            write("leave", {"device_id": "dev-c"}),
        ]
        assert statuses == [200, 200, 200, 204, 204]
        assert LiveViewer.objects.get().person == person
        assert LiveSession.objects.get(pk=session.pk).likes == 2

    def test_bearer_clients_and_guests_need_no_token(self) -> None:
        session = make_session()
        token, _ = consumer_token_issue(person=make_person(), method="test")
        app = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert post(app, f"/api/v1/live/{session.code}/likes", {"count": 1}).status_code == 200
        guest = Client(enforce_csrf_checks=True)
        joined = post(guest, f"/api/v1/live/{session.code}/join", {"device_id": "dev-anon"})
        assert joined.status_code == 200


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
