"""The host API: who may call it, every action end to end, and bad input as typed 4xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.identity.services import consumer_token_issue
from freshloop.live.models import (
    FlashSaleStatus,
    LiveComment,
    LiveProduct,
    LiveSession,
    LiveStatus,
    LiveViewer,
    LuckyDraw,
)
from tests.factories import make_person, make_sku, make_staff_user
from tests.live.helpers import make_host, realtime_broker_down
from tests.live.host.helpers import host_client, join, live_coupon, make_room, say

pytestmark = pytest.mark.django_db


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(
        url, data=json.dumps(body if body is not None else {}), content_type="application/json"
    )


def base(session: LiveSession) -> str:
    return f"/api/v1/live/host/{session.code}"


class TestWhoMayCall:
    def test_the_host_may_an_other_host_gets_403(self) -> None:
        session = make_room(start=False)

        refused = post(host_client(make_host("other-host")), f"{base(session)}/start")
        allowed = post(host_client(make_host()), f"{base(session)}/start")

        assert refused.status_code == 403
        assert refused.json()["code"] == "live_not_host"
        assert refused.json()["message"]
        assert allowed.status_code == 200
        assert allowed.json()["status"] == "live"

    def test_an_admin_may_act_on_any_session(self) -> None:
        session = make_room(start=False)
        admin = make_staff_user("boss", superuser=True)
        assert post(host_client(admin), f"{base(session)}/start").status_code == 200

    def test_an_operator_without_the_host_role_gets_403(self) -> None:
        session = make_room(start=False)
        response = post(host_client(make_staff_user("mk", Role.MARKETER)), f"{base(session)}/start")
        assert response.status_code == 403
        assert LiveSession.objects.get(pk=session.pk).status == LiveStatus.SCHEDULED

    def test_a_viewer_token_is_not_an_operator(self) -> None:
        session = make_room(start=False)
        token, _ = consumer_token_issue(person=make_person(), method="test")
        viewer = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

        response = post(viewer, f"{base(session)}/start")

        assert response.status_code == 401
        assert response.json()["code"]
        assert viewer.get(f"{base(session)}/stats").status_code == 401
        assert LiveSession.objects.get(pk=session.pk).status == LiveStatus.SCHEDULED

    def test_writes_need_the_csrf_token(self) -> None:
        session = make_room(start=False)
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_host())
        response = post(client, f"{base(session)}/start")
        assert response.status_code == 403
        assert LiveSession.objects.get(pk=session.pk).status == LiveStatus.SCHEDULED

    def test_an_unknown_session_is_404(self) -> None:
        response = post(host_client(make_host()), "/api/v1/live/host/L_nope/start")
        assert response.status_code == 404
        assert response.json()["message"]


class TestSessionState:
    def test_start_end_replay_and_a_refused_transition(self) -> None:
        session = make_room(start=False)
        client = host_client(make_host())
        assert post(client, f"{base(session)}/start").json()["status_label"] == "直播中"

        again = post(client, f"{base(session)}/start")
        assert again.status_code == 409
        assert again.json()["code"] == "live_state_invalid"

        assert post(client, f"{base(session)}/end").json()["status"] == "ended"
        replay = post(client, f"{base(session)}/replay", {"replay_url": "https://v.example/r.m3u8"})
        assert replay.json()["status"] == "replay"

    def test_bad_replay_url_is_422(self) -> None:
        session = make_room()
        client = host_client(make_host())
        post(client, f"{base(session)}/end")
        response = post(client, f"{base(session)}/replay", {"replay_url": "javascript:x"})
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"


class TestPin:
    def test_pin_and_unpin(self) -> None:
        milk = make_sku(stock=4)
        session = make_room(skus=[milk])
        client = host_client(make_host())

        card = post(client, f"{base(session)}/pin", {"sku_id": milk.pk}).json()
        assert card["sku_id"] == milk.pk
        assert card["pinned"] is True
        assert card["price_fen"] == 1000
        assert post(client, f"{base(session)}/unpin").json() == {"unpinned_sku_id": milk.pk}
        assert not LiveProduct.objects.filter(pinned_at__isnull=False).exists()

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({}, 422),
            ({"sku_id": "milk"}, 422),
            ({"sku_id": 0}, 422),
            ({"sku_id": 1, "extra": True}, 422),
            ({"sku_id": 999999}, 404),
        ],
    )
    def test_bad_input(self, body: dict[str, Any], status: int) -> None:
        session = make_room()
        response = post(host_client(make_host()), f"{base(session)}/pin", body)
        assert response.status_code == status
        assert response.json()["code"]
        assert response.json()["message"]

    def test_not_json_is_400(self) -> None:
        session = make_room()
        response = host_client(make_host()).post(
            f"{base(session)}/pin", data="{sku", content_type="application/json"
        )
        assert response.status_code in {400, 422}
        assert response.json()["code"]


class TestCouponDrop:
    def test_drop_and_a_foreign_template(self) -> None:
        coupon = live_coupon()
        session = make_room(coupons=[coupon])
        client = host_client(make_host())

        dropped = post(client, f"{base(session)}/coupons/drop", {"template_id": coupon.pk})
        foreign = post(
            client, f"{base(session)}/coupons/drop", {"template_id": live_coupon("x").pk}
        )
        missing = post(client, f"{base(session)}/coupons/drop", {"template_id": 999999})

        assert dropped.status_code == 200
        assert dropped.json()["name"] == "直播专享立减10元"
        assert foreign.status_code == 422
        assert foreign.json()["code"] == "live_coupon_not_in_session"
        assert missing.status_code == 422


class TestDraw:
    def test_draw_returns_verified_winners(self) -> None:
        session = make_room()
        for n in range(4):
            say(session, join(session, f"鲜友{n}"))

        response = post(
            host_client(make_host()),
            f"{base(session)}/draws",
            {"prize": "有机鲜牛奶一箱", "winners_count": 2},
        )

        body = response.json()
        assert response.status_code == 201
        assert body["verified"] is True
        assert body["candidates"] == 4
        assert len(body["winners"]) == 2
        assert all(w["nickname"] for w in body["winners"])

    @pytest.mark.parametrize(
        "body",
        [{"prize": "", "winners_count": 1}, {"prize": "蛋", "winners_count": 0}, {"prize": "蛋"}],
    )
    def test_bad_input_is_422(self, body: dict[str, Any]) -> None:
        session = make_room()
        response = post(host_client(make_host()), f"{base(session)}/draws", body)
        assert response.status_code == 422

    def test_no_commenters_is_409(self) -> None:
        session = make_room()
        response = post(
            host_client(make_host()), f"{base(session)}/draws", {"prize": "蛋", "winners_count": 1}
        )
        assert response.status_code == 409
        assert response.json()["code"] == "live_draw_no_candidates"


@pytest.mark.django_db(transaction=True)
class TestRealtimeDown:
    def test_a_lucky_draw_is_saved_and_answered_when_the_push_fails(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        session = make_room()
        for n in range(3):
            say(session, join(session, f"鲜友{n}"))
        realtime_broker_down(monkeypatch)
        response = post(
            host_client(make_host()), f"{base(session)}/draws", {"prize": "蛋", "winners_count": 1}
        )
        assert response.status_code == 201
        assert LuckyDraw.objects.get(session=session).pk == response.json()["id"]


class TestModeration:
    def test_comments_list_mute_ban_and_delete(self) -> None:
        session = make_room()
        noisy, calm = join(session, "话多的"), join(session, "<b>安静</b>")
        first = say(session, noisy, "第一条")
        say(session, calm, "<script>alert(1)</script>")
        client = host_client(make_host())

        listed = client.get(f"{base(session)}/comments").json()
        assert [(c["nickname"], c["text"], c["person_id"]) for c in listed] == [
            ("话多的", "第一条", noisy.person_id),
            ("<b>安静</b>", "<script>alert(1)</script>", calm.person_id),
        ]

        muted = post(client, f"{base(session)}/viewers/{noisy.person_id}/mute", {"minutes": 5})
        assert muted.status_code == 200
        assert muted.json()["muted_until"]
        unmuted = post(client, f"{base(session)}/viewers/{noisy.person_id}/unmute")
        assert unmuted.json()["muted_until"] is None
        banned = post(client, f"{base(session)}/viewers/{calm.person_id}/ban")
        assert banned.json()["banned"] is True
        deleted = post(client, f"{base(session)}/comments/{first.pk}/delete")
        assert deleted.json()["deleted"] is True

        remaining = client.get(f"{base(session)}/comments").json()
        assert [c["id"] for c in remaining] != [first.pk]
        assert first.pk not in [c["id"] for c in remaining]
        everything = client.get(f"{base(session)}/comments?include_deleted=true").json()
        assert first.pk in [c["id"] for c in everything]
        assert LiveViewer.objects.get(pk=calm.pk).banned

    def test_unknown_viewer_or_comment_is_404_bad_minutes_422(self) -> None:
        session, elsewhere = make_room(), make_room()
        foreign = say(elsewhere, join(elsewhere, "别处的"))
        client = host_client(make_host())

        assert post(client, f"{base(session)}/viewers/{make_person().pk}/ban").status_code == 404
        assert post(client, f"{base(session)}/comments/{foreign.pk}/delete").status_code == 404
        viewer = join(session, "鲜友")
        bad = post(client, f"{base(session)}/viewers/{viewer.person_id}/mute", {"minutes": 0})
        assert bad.status_code == 422
        assert LiveComment.objects.get(pk=foreign.pk).deleted_at is None

    @pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc"])
    def test_bad_comment_query_is_422(self, query: str) -> None:
        session = make_room()
        response = host_client(make_host()).get(f"{base(session)}/comments?{query}")
        assert response.status_code == 422


class TestFlashSales:
    def test_launch_list_and_end(self) -> None:
        milk = make_sku(price_fen=3000, stock=100)
        session = make_room(skus=[milk])
        client = host_client(make_host())

        started = post(
            client,
            f"{base(session)}/flash-sales",
            {
                "sku_id": milk.pk,
                "price_fen": 990,
                "quantity": 50,
                "per_user_limit": 2,
                "duration_seconds": 600,
            },
        )
        assert started.status_code == 201, started.json()
        sale = started.json()
        assert (sale["price_fen"], sale["quantity"], sale["per_user_limit"]) == (990, 50, 2)
        assert [s["id"] for s in client.get(f"{base(session)}/flash-sales").json()] == [sale["id"]]

        ended = post(client, f"{base(session)}/flash-sales/{sale['id']}/end")
        assert ended.status_code == 200
        assert ended.json()["status"] == FlashSaleStatus.ENDED

    @pytest.mark.parametrize(
        ("change", "status"),
        [
            ({"price_fen": 0}, 422),
            ({"quantity": -1}, 422),
            ({"per_user_limit": 0}, 422),
            ({"duration_seconds": "soon"}, 422),
            ({"price_fen": 5000}, 422),  # not below the list price (the flash-sale service)
            ({"sku_id": 999999}, 404),
        ],
    )
    def test_bad_input(self, change: dict[str, Any], status: int) -> None:
        milk = make_sku(price_fen=3000, stock=100)
        session = make_room(skus=[milk])
        body = {"sku_id": milk.pk, "price_fen": 990, "quantity": 5, "duration_seconds": 60}
        response = post(host_client(make_host()), f"{base(session)}/flash-sales", body | change)
        assert response.status_code == status
        assert response.json()["message"]

    def test_ending_a_sale_of_another_session_is_404(self) -> None:
        session = make_room()
        response = post(host_client(make_host()), f"{base(session)}/flash-sales/999999/end")
        assert response.status_code == 404


class TestStats:
    def test_numbers_for_the_console(self) -> None:
        session = make_room()
        join(session, "鲜友")
        response = host_client(make_host()).get(f"{base(session)}/stats")
        body = response.json()
        assert response.status_code == 200
        assert (body["online"], body["peak"], body["viewers"], body["orders"]) == (1, 1, 1, 0)
        assert [step["label"] for step in body["funnel"]] == ["观看", "加购", "支付"]


class TestBrokenFormBodies:
    """The session-authenticated routers share `core.api.OperatorAuth`, whose CSRF check parses
    form bodies: a broken one is the caller's malformed request, never a 500."""

    def test_a_broken_multipart_body_is_400(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_host())
        client.cookies["csrftoken"] = "t" * 32

        response = client.post(
            "/api/v1/live/host/L_any/start",
            data=b"--x\r\n",
            content_type="multipart/form-data",
            HTTP_X_CSRFTOKEN="t" * 32,
        )

        assert response.status_code == 400
        assert response.json()["code"] == "malformed_request"
