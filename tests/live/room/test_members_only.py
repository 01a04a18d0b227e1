"""Members-only rooms (`LiveSession.members_only`): only logged-in members and the back office
get in — the room's state and stream address, joining and every viewer action, comments, the
event stream, the replay and the local HLS files; everyone else gets a 403 with a code and a
Chinese message, and the room page a 会员专享 notice instead of a player."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.identity.models import Person
from freshloop.live.models import LiveSession, LiveStatus, LiveViewer
from freshloop.live.room.errors import MembersOnly
from freshloop.live.room.selectors import room_admit
from freshloop.live.room.views import ROOM_EVENTS
from freshloop.live.streams.selectors import hls_root
from freshloop.membership.services import points_earn_for_order
from tests.factories import ADDRESS, make_person, make_staff_user
from tests.live.flash_sale.helpers import make_flash_sale
from tests.live.helpers import browser_for, make_host, make_member, make_session
from tests.live.room.test_api import client_for, post

pytestmark = pytest.mark.django_db

MESSAGE = "本场为会员专享直播，成为会员后即可观看"


def assert_members_only(response: Any, reason: str) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "live_members_only"
    assert body["detail"]["reason"] == reason
    assert "会员" in body["message"]


class TestRoomAdmit:
    def test_a_public_room_lets_everyone_in(self) -> None:
        session = make_session()
        room_admit(session=session, person=None, user=None)  # no error

    def test_a_guest_must_log_in_first(self) -> None:
        session = make_session(members_only=True)
        with pytest.raises(MembersOnly) as refused:
            room_admit(session=session, person=None, user=None)
        assert refused.value.text == "本场为会员专享直播，请先登录"
        assert refused.value.detail["reason"] == "login_required"

    def test_a_logged_in_non_member_is_refused_and_told_how_to_join(self) -> None:
        session = make_session(members_only=True)
        with pytest.raises(MembersOnly) as refused:
            room_admit(session=session, person=make_person(), user=None)
        assert refused.value.text == MESSAGE
        assert refused.value.detail == {
            "reason": "not_member",
            "how_to_join": "在鲜环商城完成任意一笔订单支付即自动成为会员",
        }

    def test_a_member_of_any_level_is_let_in(self) -> None:
        session = make_session(members_only=True)
        room_admit(session=session, person=make_member(make_person()), user=None)

    def test_joining_by_a_first_paid_order_counts(self) -> None:
        # given a buyer whose first order was just paid (the membership opens with it)
        buyer = make_person()
        points_earn_for_order(person_id=buyer.pk, order_ref="O_first", paid_amount_fen=1990)
        # then the members-only room lets them in
        room_admit(session=make_session(members_only=True), person=buyer, user=None)

    @pytest.mark.parametrize("role", [Role.LIVE_HOST, Role.MARKETER, Role.ADMIN])
    def test_the_back_office_that_runs_live_rooms_is_always_let_in(self, role: Role) -> None:
        session = make_session(members_only=True)
        room_admit(session=session, person=None, user=make_staff_user(f"op-{role}", role))

    def test_the_sessions_own_host_is_let_in_and_other_staff_are_not(self) -> None:
        host = make_host("host-own")
        host.groups.clear()  # even without the role: it is their session
        session = make_session(members_only=True, host=host)
        room_admit(session=session, person=None, user=host)
        with pytest.raises(MembersOnly):
            room_admit(
                session=session,
                person=None,
                user=make_staff_user("cs-1", Role.CUSTOMER_SERVICE),
            )


class TestViewerApi:
    def test_every_way_in_refuses_a_non_member_and_leaves_nothing_behind(self) -> None:
        # given a members-only room and a logged-in buyer who is not a member
        session = make_session(members_only=True)
        client = client_for(make_person())
        base = f"/api/v1/live/{session.code}"
        # when they try every viewer operation
        answers = {
            "state": client.get(base),
            "comments": client.get(f"{base}/comments"),
            "join": post(client, f"{base}/join", {"device_id": "dev-x"}),
            "heartbeat": post(client, f"{base}/heartbeat", {"device_id": "dev-x"}),
            "leave": post(client, f"{base}/leave", {"device_id": "dev-x"}),
            "likes": post(client, f"{base}/likes", {"count": 3}),
            "track": post(client, f"{base}/track", {"action": "click_product", "sku_id": 1}),
            "comment": post(client, f"{base}/comments", {"text": "你好"}),
            "reserve": post(client, f"{base}/reserve", {}),
        }
        # then each is a 403 naming members-only, and no viewer row or like was written
        for name, response in answers.items():
            assert response.status_code == 403, name
            assert response.json()["code"] == "live_members_only", name
            assert response.json()["message"] == MESSAGE, name
        assert not LiveViewer.objects.exists()
        assert LiveSession.objects.get(pk=session.pk).likes == 0

    def test_a_guest_by_device_is_refused_before_a_person_is_made_for_the_device(self) -> None:
        session = make_session(members_only=True)
        people_before = Person.objects.count()
        response = post(Client(), f"/api/v1/live/{session.code}/join", {"device_id": "dev-g"})
        assert_members_only(response, "login_required")
        assert response.json()["message"] == "本场为会员专享直播，请先登录"
        assert Person.objects.count() == people_before

    def test_a_member_watches_with_the_stream_address_and_can_comment(self) -> None:
        session = make_session(members_only=True)
        client = client_for(make_member(make_person()))
        base = f"/api/v1/live/{session.code}"
        state = client.get(base)
        assert state.status_code == 200
        assert state.json()["members_only"] is True
        assert post(client, f"{base}/join", {"nickname": "会员小王"}).status_code == 200
        assert post(client, f"{base}/comments", {"text": "好新鲜"}).status_code == 201
        assert client.get(f"{base}/comments").json()[0]["text"] == "好新鲜"

    def test_the_replay_address_is_given_to_members_only(self) -> None:
        session = make_session(members_only=True, status=LiveStatus.REPLAY)
        LiveSession.objects.filter(pk=session.pk).update(replay_url="https://v.example/r.m3u8")
        base = f"/api/v1/live/{session.code}"
        refused = client_for(make_person()).get(base)
        assert_members_only(refused, "not_member")
        assert "v.example" not in refused.content.decode()
        member = client_for(make_member(make_person())).get(base)
        assert member.json()["play_url"] == "https://v.example/r.m3u8"

    def test_a_public_room_is_unchanged(self) -> None:
        session = make_session()
        base = f"/api/v1/live/{session.code}"
        assert Client().get(base).status_code == 200
        assert post(Client(), f"{base}/join", {"device_id": "dev-pub"}).status_code == 200

    def test_a_flash_sale_of_a_members_only_room_is_for_members(self) -> None:
        sale = make_flash_sale()
        LiveSession.objects.filter(pk=sale.session_id).update(members_only=True)
        response = post(
            client_for(make_person()),
            f"/api/v1/live/flash-sales/{sale.pk}/buy",
            {"quantity": 1, "address": ADDRESS},
        )
        assert_members_only(response, "not_member")
        assert sale.claims.count() == 0


class TestRoomPage:
    def test_a_non_member_sees_the_members_only_notice_instead_of_the_player(self) -> None:
        session = make_session(members_only=True)
        browser, _ = browser_for(make_person())
        response = browser.get(f"/m/live/{session.code}")
        page = response.content.decode()
        assert response.status_code == 403
        assert "会员专享直播" in page
        assert "在鲜环商城完成任意一笔订单支付即自动成为会员" in page
        assert "liveRoom(" not in page
        assert "hls.min.js" not in page
        assert "登录后观看" not in page  # they are logged in already

    def test_a_guest_is_offered_the_login(self) -> None:
        session = make_session(members_only=True)
        page = Client().get(f"/m/live/{session.code}").content.decode()
        assert "登录后观看" in page
        assert f"/m/login?next=/m/live/{session.code}" in page

    def test_a_member_and_the_host_get_the_room(self) -> None:
        session = make_session(members_only=True)
        browser, _ = browser_for(make_member(make_person()))
        assert (
            f"liveRoom('{session.code}')" in browser.get(f"/m/live/{session.code}").content.decode()
        )
        host = Client()
        host.force_login(session.host)
        assert host.get(f"/m/live/{session.code}").status_code == 200

    def test_the_list_marks_members_only_sessions(self) -> None:
        make_session(members_only=True)
        assert "会员专享" in Client().get("/m/live/").content.decode()


def _serve(session: LiveSession, cookie: str = "") -> list[dict[str, Any]]:
    """The room's stream as uvicorn serves it (ahead of Django), for a browser sending
    `cookie`; the client hangs up at once."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"cookie", cookie.encode())] if cookie else []
    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/api/v1/live/{session.code}/events",
        "headers": headers,
    }
    async_to_sync(ROOM_EVENTS.serve)(scope, receive, send, {"code": session.code})
    return sent


def _session_cookie(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.django_db(transaction=True)
class TestEventStream:
    def test_served_ahead_of_django_it_refuses_a_non_member(self) -> None:
        session = make_session(members_only=True)
        browser, _ = browser_for(make_person())
        sent = _serve(session, _session_cookie(browser))
        assert sent[0]["status"] == 403
        assert json.loads(sent[1]["body"])["code"] == "live_members_only"
        assert _serve(session)[0]["status"] == 403  # no cookie at all

    def test_served_ahead_of_django_it_streams_to_a_member_and_an_operator(self) -> None:
        session = make_session(members_only=True)
        browser, _ = browser_for(make_member(make_person()))
        assert _serve(session, _session_cookie(browser))[0]["status"] == 200
        operator = Client()
        operator.force_login(make_staff_user("marketer-sse", Role.MARKETER))
        assert _serve(session, _session_cookie(operator))[0]["status"] == 200

    def test_the_django_view_refuses_a_non_member_too(self) -> None:
        session = make_session(members_only=True)
        response = client_for(make_person()).get(f"/api/v1/live/{session.code}/events")
        assert_members_only(response, "not_member")

    def test_a_public_rooms_stream_needs_no_login(self) -> None:
        assert _serve(make_session())[0]["status"] == 200


@pytest.fixture
def hls_dir() -> Iterator[list[Path]]:
    """Directories made under the local HLS root, removed afterwards."""
    made: list[Path] = []
    yield made
    for directory in made:
        shutil.rmtree(directory, ignore_errors=True)


def _playlist(directory: str, made: list[Path]) -> str:
    target = hls_root() / directory
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.m3u8").write_text("#EXTM3U\n")
    made.append(target)
    return f"/media/hls/{directory}/index.m3u8"


class TestLocalHlsFiles:
    def test_a_members_only_sessions_stream_files_are_for_members(
        self, hls_dir: list[Path]
    ) -> None:
        session = make_session(members_only=True)
        url = _playlist(session.stream_name, hls_dir)
        assert_members_only(Client().get(url), "login_required")
        assert_members_only(client_for(make_person()).get(url), "not_member")
        browser, _ = browser_for(make_member(make_person()))
        played = browser.get(url)
        assert played.status_code == 200
        assert played["Cache-Control"] == "private, no-cache"

    def test_a_local_replay_of_a_members_only_session_is_gated(self, hls_dir: list[Path]) -> None:
        session = make_session(members_only=True, status=LiveStatus.REPLAY)
        url = _playlist(f"replay-{session.stream_name}", hls_dir)
        LiveSession.objects.filter(pk=session.pk).update(replay_url=url)
        assert_members_only(Client().get(url), "login_required")
        operator = Client()
        operator.force_login(make_staff_user("host-hls", Role.LIVE_HOST))
        assert operator.get(url).status_code == 200

    def test_a_public_sessions_files_and_the_demo_stream_stay_public(
        self, hls_dir: list[Path]
    ) -> None:
        public = make_session()
        assert Client().get(_playlist(public.stream_name, hls_dir)).status_code == 200
        demo = hls_root() / "demo" / "index.m3u8"
        if demo.exists():  # generated by the demo seed when ffmpeg is installed
            make_session(members_only=True)
            assert Client().get("/media/hls/demo/index.m3u8").status_code == 200
