"""The host's services: session states, pinning, coupon drops, lucky draws and moderation."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.events import DomainEvent, subscribe, unsubscribe
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.live.events import LiveSessionEnded, LiveSessionStarted
from freshloop.live.flash_sale.services import flash_sale_start
from freshloop.live.host import errors as host_errors
from freshloop.live.host import selectors as host_selectors
from freshloop.live.host import services as host
from freshloop.live.host.errors import LiveStateInvalid
from freshloop.live.models import (
    FlashSale,
    FlashSaleStatus,
    LiveComment,
    LiveProduct,
    LiveSession,
    LiveStatus,
    LiveViewer,
    LuckyDraw,
)
from freshloop.live.room.errors import LiveSessionNotLive, ViewerBanned, ViewerMuted
from freshloop.live.room.services import comment_post, viewer_join
from tests.factories import make_person, make_sku, make_staff_user
from tests.live.helpers import make_host
from tests.live.host.helpers import HOST, join, live_coupon, make_room, record_room_events, say

pytestmark = pytest.mark.django_db

CaptureCommits = Callable[..., Any]


@pytest.fixture
def domain_events() -> Any:
    seen: list[DomainEvent] = []
    subscribe(DomainEvent)(seen.append)
    yield seen
    unsubscribe(DomainEvent, seen.append)


def names(sent: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [event for _, event, _ in sent]


class TestHostSessionRequire:
    def test_the_host_and_admins_pass_another_host_is_refused(self) -> None:
        session = make_room(start=False)
        host_selectors.host_session_require(make_host(), session)
        host_selectors.host_session_require(make_staff_user("boss", Role.ADMIN), session)
        with pytest.raises(host_errors.NotSessionHost) as refused:
            host_selectors.host_session_require(make_host("other-host"), session)
        assert refused.value.status == 403


class TestLiveSessionStart:
    def test_scheduled_goes_live_audited_announced(
        self,
        monkeypatch: pytest.MonkeyPatch,
        django_capture_on_commit_callbacks: CaptureCommits,
        domain_events: list[DomainEvent],
    ) -> None:
        session = make_room(start=False)
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            host.live_session_start(session=session, actor=HOST)

        session.refresh_from_db()
        assert session.status == LiveStatus.LIVE
        assert session.started_at is not None
        assert AuditLog.objects.filter(
            action="live.session_start", target_id=str(session.pk)
        ).exists()
        assert (
            next(e for e in domain_events if isinstance(e, LiveSessionStarted)).session_code
            == session.code
        )
        assert sent == [(f"live:{session.code}", "status", sent[0][2])]
        assert sent[0][2]["status"] == "live"

    @pytest.mark.parametrize("status", [LiveStatus.LIVE, LiveStatus.ENDED, LiveStatus.REPLAY])
    def test_only_from_scheduled(self, status: str) -> None:
        session = make_room(start=False)
        LiveSession.objects.filter(pk=session.pk).update(status=status)

        with pytest.raises(LiveStateInvalid):
            host.live_session_start(session=session, actor=HOST)

        assert LiveSession.objects.get(pk=session.pk).status == status
        assert not AuditLog.objects.filter(action="live.session_start").exists()


class TestLiveSessionEnd:
    def test_live_ends_and_its_running_flash_sales_end_with_it(
        self,
        monkeypatch: pytest.MonkeyPatch,
        django_capture_on_commit_callbacks: CaptureCommits,
        domain_events: list[DomainEvent],
    ) -> None:
        milk = make_sku(price_fen=3000, stock=20)
        session = make_room(skus=[milk])
        sale = flash_sale_start(
            session=session, sku=milk, price_fen=990, quantity=5, duration_seconds=600, actor=HOST
        )
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            ended = host.live_session_end(session=session, actor=HOST)

        assert ended.status == LiveStatus.ENDED
        assert ended.ended_at is not None
        assert FlashSale.objects.get(pk=sale.pk).status != FlashSaleStatus.RUNNING
        assert any(isinstance(e, LiveSessionEnded) for e in domain_events)
        assert ("status", "ended") in [(event, data.get("status")) for _, event, data in sent]

    @pytest.mark.parametrize("status", [LiveStatus.SCHEDULED, LiveStatus.ENDED, LiveStatus.REPLAY])
    def test_only_from_live(self, status: str) -> None:
        session = make_room(start=False)
        LiveSession.objects.filter(pk=session.pk).update(status=status)

        with pytest.raises(LiveStateInvalid):
            host.live_session_end(session=session, actor=HOST)

        assert LiveSession.objects.get(pk=session.pk).status == status


class TestLiveSessionReplay:
    def test_ended_opens_the_replay(self) -> None:
        session = make_room()
        host.live_session_end(session=session, actor=HOST)

        host.live_session_replay(
            session=session, replay_url="https://cdn.example.com/r.m3u8", actor=HOST
        )

        session.refresh_from_db()
        assert session.status == LiveStatus.REPLAY
        assert session.replay_url == "https://cdn.example.com/r.m3u8"

    def test_a_live_session_has_no_replay_yet(self) -> None:
        session = make_room()
        with pytest.raises(LiveStateInvalid):
            host.live_session_replay(session=session, replay_url="/media/r.m3u8", actor=HOST)

    @pytest.mark.parametrize("url", ["", "javascript:alert(1)", "ftp://x/y", "/" + "a" * 300])
    def test_bad_urls_are_refused(self, url: str) -> None:
        session = make_room()
        host.live_session_end(session=session, actor=HOST)
        with pytest.raises(InvalidInput):
            host.live_session_replay(session=session, replay_url=url, actor=HOST)
        assert LiveSession.objects.get(pk=session.pk).status == LiveStatus.ENDED


class TestProductPin:
    def test_one_pinned_at_a_time_and_the_room_gets_the_card(
        self, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureCommits
    ) -> None:
        milk, yogurt = make_sku(price_fen=2990, stock=8), make_sku(name="酸奶", stock=3)
        session = make_room(skus=[milk, yogurt])
        host.product_pin(session=session, sku_id=milk.pk, actor=HOST)
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            host.product_pin(session=session, sku_id=yogurt.pk, actor=HOST)

        pinned = LiveProduct.objects.filter(session=session, pinned_at__isnull=False)
        assert [p.sku_id for p in pinned] == [yogurt.pk]
        [(_, event, card)] = sent
        assert event == "pin"
        assert card["sku_id"] == yogurt.pk
        assert card["name"] == "酸奶"
        assert card["spec"] == "950ml"
        assert card["price_fen"] == yogurt.price_fen
        assert card["storage"] == "chilled"
        assert "image" in card
        assert card["available"] == 3

    def test_a_product_of_another_session_is_not_found(self) -> None:
        session = make_room()
        with pytest.raises(host_errors.ProductNotInSession):
            host.product_pin(session=session, sku_id=make_sku().pk, actor=HOST)

    def test_an_ended_session_cannot_pin(self) -> None:
        milk = make_sku(stock=1)
        session = make_room(skus=[milk])
        host.live_session_end(session=session, actor=HOST)
        with pytest.raises(LiveStateInvalid):
            host.product_pin(session=session, sku_id=milk.pk, actor=HOST)


class TestProductUnpin:
    def test_unpins_and_tells_the_room(
        self, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureCommits
    ) -> None:
        milk = make_sku(stock=1)
        session = make_room(skus=[milk])
        host.product_pin(session=session, sku_id=milk.pk, actor=HOST)
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            unpinned = host.product_unpin(session=session, actor=HOST)

        assert unpinned is not None
        assert unpinned.sku_id == milk.pk
        assert not LiveProduct.objects.filter(session=session, pinned_at__isnull=False).exists()
        assert [(e, d["sku_id"], d["pinned"]) for _, e, d in sent] == [("unpin", milk.pk, False)]

    def test_nothing_pinned_is_a_quiet_no_op(
        self, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureCommits
    ) -> None:
        session = make_room()
        sent = record_room_events(monkeypatch)
        with django_capture_on_commit_callbacks(execute=True):
            assert host.product_unpin(session=session, actor=HOST) is None
        assert sent == []


class TestCouponDrop:
    def test_drops_a_live_coupon_of_the_session(
        self, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureCommits
    ) -> None:
        coupon = live_coupon()
        session = make_room(coupons=[coupon])
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            host.coupon_drop(session=session, template=coupon, actor=HOST)

        assert sent == [
            (
                f"live:{session.code}",
                "coupon_drop",
                {"template_id": coupon.pk, "name": "直播专享立减10元", "value": "¥10.00"},
            )
        ]
        assert AuditLog.objects.filter(action="live.coupon_drop").count() == 1

    def test_a_coupon_not_attached_to_the_session_is_refused(self) -> None:
        session = make_room(coupons=[live_coupon()])
        with pytest.raises(host_errors.CouponNotInSession):
            host.coupon_drop(session=session, template=live_coupon("other"), actor=HOST)

    def test_a_coupon_bound_to_another_session_is_refused(self) -> None:
        coupon = live_coupon(live_session_id="L_someone_else")
        session = make_room(coupons=[coupon])
        with pytest.raises(host_errors.CouponNotInSession):
            host.coupon_drop(session=session, template=coupon, actor=HOST)

    def test_only_while_live(self) -> None:
        coupon = live_coupon()
        session = make_room(coupons=[coupon], start=False)
        with pytest.raises(LiveSessionNotLive):
            host.coupon_drop(session=session, template=coupon, actor=HOST)


class TestLuckyDraw:
    def test_only_commenters_who_are_not_banned_and_still_shown_can_win(self) -> None:
        session = make_room()
        talkers = [join(session, f"鲜友{n}") for n in range(6)]
        for viewer in talkers:
            say(session, viewer)
        join(session, "只看不说")
        banned = talkers[0]
        host.viewer_ban(session=session, person_id=banned.person_id, actor=HOST)
        deleted_only = talkers[1]
        host.comment_delete(comment=deleted_only.comments.get(), actor=HOST)

        draw = host.lucky_draw(session=session, prize="牧场鲜奶一箱", winners_count=10, actor=HOST)

        expected = sorted(v.pk for v in talkers[2:])
        assert draw.candidates == expected
        assert sorted(draw.winners) == expected  # fewer candidates than prizes: all of them win
        assert draw.winners_count == 4

    def test_reproducible_from_the_recorded_seed(
        self, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureCommits
    ) -> None:
        session = make_room()
        viewers = [join(session, f"鲜友{n}") for n in range(12)]
        for viewer in viewers:
            say(session, viewer)
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            draw = host.lucky_draw(session=session, prize="鸡蛋一盒", winners_count=3, actor=HOST)

        stored = LuckyDraw.objects.get(pk=draw.pk)
        assert len(stored.seed) == 32
        assert len(set(stored.winners)) == 3
        assert stored.winners == random.Random(stored.seed).sample(stored.candidates, 3)
        assert host_selectors.lucky_draw_verify(draw=stored)
        nicknames = {v.pk: v.nickname for v in viewers}
        [(_, event, data)] = sent
        assert event == "draw"
        assert data["winners"] == [nicknames[w] for w in stored.winners]
        audit = AuditLog.objects.get(action="live.lucky_draw")
        assert audit.after is not None
        assert audit.after["seed"] == stored.seed

    def test_a_tampered_result_does_not_verify(self) -> None:
        session = make_room()
        for n in range(5):
            say(session, join(session, f"鲜友{n}"))
        draw = host.lucky_draw(session=session, prize="鸡蛋一盒", winners_count=2, actor=HOST)
        loser = next(c for c in draw.candidates if c not in draw.winners)

        draw.winners = [draw.winners[0], loser]

        assert not host_selectors.lucky_draw_verify(draw=draw)

    def test_two_draws_use_fresh_seeds(self) -> None:
        session = make_room()
        for n in range(3):
            say(session, join(session, f"鲜友{n}"))
        first = host.lucky_draw(session=session, prize="A", winners_count=1, actor=HOST)
        second = host.lucky_draw(session=session, prize="B", winners_count=1, actor=HOST)
        assert first.seed != second.seed

    def test_nobody_commented_yet(self) -> None:
        session = make_room()
        join(session, "只看不说")
        with pytest.raises(host_errors.NoDrawCandidates):
            host.lucky_draw(session=session, prize="鸡蛋一盒", winners_count=1, actor=HOST)
        assert not LuckyDraw.objects.exists()

    @pytest.mark.parametrize(
        ("prize", "count"), [("", 1), ("  ", 1), ("奖" * 65, 1), ("鸡蛋", 0), ("鸡蛋", 101)]
    )
    def test_bad_input(self, prize: str, count: int) -> None:
        session = make_room()
        say(session, join(session, "鲜友"))
        with pytest.raises(InvalidInput):
            host.lucky_draw(session=session, prize=prize, winners_count=count, actor=HOST)

    def test_not_before_the_session_starts(self) -> None:
        session = make_room(start=False)
        with pytest.raises(LiveStateInvalid):
            host.lucky_draw(session=session, prize="鸡蛋", winners_count=1, actor=HOST)


class TestViewerMute:
    def test_a_muted_viewer_cannot_comment_until_unmuted(self) -> None:
        session = make_room()
        viewer = join(session, "话多的")

        host.viewer_mute(session=session, person_id=viewer.person_id, minutes=10, actor=HOST)

        with pytest.raises(ViewerMuted):
            say(session, viewer)
        host.viewer_unmute(session=session, person_id=viewer.person_id, actor=HOST)
        assert say(session, viewer).pk
        assert (
            AuditLog.objects.filter(action__in=["live.viewer_mute", "live.viewer_unmute"]).count()
            == 2
        )

    @pytest.mark.parametrize("minutes", [0, -5, 1441, True])
    def test_bad_durations(self, minutes: Any) -> None:
        session = make_room()
        viewer = join(session, "话多的")
        with pytest.raises(InvalidInput):
            host.viewer_mute(
                session=session, person_id=viewer.person_id, minutes=minutes, actor=HOST
            )
        assert LiveViewer.objects.get(pk=viewer.pk).muted_until is None

    def test_someone_who_never_joined(self) -> None:
        session = make_room()
        with pytest.raises(NotFound):
            host.viewer_mute(session=session, person_id=make_person().pk, minutes=5, actor=HOST)


class TestViewerBan:
    def test_banned_viewers_cannot_comment_or_join_and_their_page_is_told(
        self, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureCommits
    ) -> None:
        session = make_room()
        viewer = join(session, "捣乱的")
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            host.viewer_ban(session=session, person_id=viewer.person_id, actor=HOST)

        with pytest.raises(ViewerBanned):
            comment_post(session=session, person=viewer.person, text="我又来了")
        with pytest.raises(ViewerBanned):
            viewer_join(session=session, person=viewer.person)
        assert sent == [
            (
                f"live:{session.code}",
                "viewer_banned",
                {"viewer_id": viewer.pk, "one_id": viewer.person.one_id, "nickname": "捣乱的"},
            )
        ]

    def test_banning_twice_is_one_change(self) -> None:
        session = make_room()
        viewer = join(session, "捣乱的")
        host.viewer_ban(session=session, person_id=viewer.person_id, actor=HOST)
        host.viewer_ban(session=session, person_id=viewer.person_id, actor=HOST)
        assert AuditLog.objects.filter(action="live.viewer_ban").count() == 1


class TestCommentDelete:
    def test_soft_deleted_and_announced(
        self, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureCommits
    ) -> None:
        session = make_room()
        comment = say(session, join(session, "鲜友"), "这价格太贵了吧")
        sent = record_room_events(monkeypatch)

        with django_capture_on_commit_callbacks(execute=True):
            host.comment_delete(comment=comment, actor=HOST)
            host.comment_delete(comment=comment, actor=HOST)

        stored = LiveComment.objects.get(pk=comment.pk)
        assert stored.deleted_at is not None
        assert stored.deleted_by == "主播小鲜"
        assert stored.text == "这价格太贵了吧"  # kept for the record
        assert names(sent) == ["comment_deleted"]
        assert sent[0][2] == {"id": comment.pk}
        assert AuditLog.objects.filter(action="live.comment_delete").count() == 1
