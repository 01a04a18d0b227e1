"""The viewer side of the room: reservations and reminders, joining bound to a OneID, dwell,
comments with moderation, likes, tracking, and the guest-to-phone merge."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from freshloop.core import clock, crypto
from freshloop.core.errors import InvalidInput, NotFound, RateLimited
from freshloop.core.models import OutboxMessage
from freshloop.live.models import LiveAction, LiveActivity, LiveComment, LiveStatus, LiveViewer
from freshloop.live.room.errors import CommentRefused, LiveSessionNotLive, ViewerBanned, ViewerMuted
from freshloop.live.room.services import (
    MAX_COMMENT_CHARS,
    comment_post,
    comment_text_check,
    guest_for_device,
    like,
    live_reminders_send,
    live_reserve,
    product_action,
    viewer_device_link,
    viewer_heartbeat,
    viewer_join,
)
from freshloop.orders.models import Order
from tests.factories import make_person, make_sku
from tests.live.helpers import make_session
from tests.orders.helpers import buy, pay

pytestmark = pytest.mark.django_db


class TestLiveReserve:
    def test_reservation_is_reminded_once_before_the_start(self) -> None:
        session = make_session(status=LiveStatus.SCHEDULED)  # starts in 5 minutes
        person = make_person(phone="13800138000")
        live_reserve(session=session, person=person)
        live_reserve(session=session, person=person)  # twice is still one reservation
        assert live_reminders_send() == 1
        assert live_reminders_send() == 0
        message = OutboxMessage.objects.get(channel="sms", payload__template="live_reminder")
        assert message.destination == "+8613800138000"
        params = json.loads(crypto.decrypt(message.payload["params_sealed"]))
        assert params["url"] == f"/m/live/{session.code}"

    def test_nothing_to_remind_an_hour_before(self) -> None:
        session = make_session(status=LiveStatus.SCHEDULED)
        session.scheduled_at = clock.now() + dt.timedelta(hours=1)
        session.save()
        live_reserve(session=session, person=make_person())
        assert live_reminders_send() == 0

    def test_a_running_session_needs_no_reservation(self) -> None:
        with pytest.raises(LiveSessionNotLive):
            live_reserve(session=make_session(), person=make_person())


class TestViewerJoin:
    def test_join_records_the_viewer_and_the_peak(self) -> None:
        session = make_session()
        viewer = viewer_join(session=session, person=make_person(), nickname="  爱喝奶的小王  ")
        assert viewer.nickname == "爱喝奶的小王"
        viewer_join(session=session, person=make_person())
        session.refresh_from_db()
        assert session.peak_viewers == 2
        assert LiveActivity.objects.filter(action=LiveAction.JOIN).count() == 2

    def test_banned_viewer_cannot_come_back(self) -> None:
        session, person = make_session(), make_person()
        viewer = viewer_join(session=session, person=person)
        LiveViewer.objects.filter(pk=viewer.pk).update(banned=True)
        with pytest.raises(ViewerBanned):
            viewer_join(session=session, person=person)

    def test_heartbeats_add_dwell_but_not_long_gaps(self) -> None:
        session, person = make_session(), make_person()
        start = clock.now()
        with clock.frozen(start):
            viewer_join(session=session, person=person)
        with clock.frozen(start + dt.timedelta(seconds=30)):
            assert viewer_heartbeat(session=session, person=person) == 30
        with clock.frozen(start + dt.timedelta(hours=2)):  # came back after closing the app
            assert viewer_heartbeat(session=session, person=person) == 90


class TestCommentPost:
    def test_comment_is_stored_and_counted(self) -> None:
        session, person = make_session(), make_person()
        viewer_join(session=session, person=person)
        comment = comment_post(session=session, person=person, text="  这个奶是当天的吗？ ")
        assert comment.text == "这个奶是当天的吗？"
        assert LiveActivity.objects.filter(action=LiveAction.COMMENT).count() == 1

    def test_script_is_kept_as_text_never_interpreted(self) -> None:
        session, person = make_session(), make_person()
        viewer_join(session=session, person=person, nickname="<img src=x onerror=alert(1)>")
        comment = comment_post(session=session, person=person, text="<script>alert('x')</script>")
        assert comment.text == "<script>alert('x')</script>"  # rendered with textContent

    @pytest.mark.parametrize("text", ["", "   ", "长" * 101])
    def test_empty_or_too_long_refused(self, text: str) -> None:
        session, person = make_session(), make_person()
        viewer_join(session=session, person=person)
        with pytest.raises(CommentRefused):
            comment_post(session=session, person=person, text=text)

    def test_sensitive_words_refused(self) -> None:
        session, person = make_session(), make_person()
        viewer_join(session=session, person=person)
        with pytest.raises(CommentRefused, match="不当内容"):
            comment_post(session=session, person=person, text="想要的加微信 abc123")
        assert not LiveComment.objects.exists()

    def test_muted_and_banned_viewers_refused(self) -> None:
        session, person = make_session(), make_person()
        viewer = viewer_join(session=session, person=person)
        LiveViewer.objects.filter(pk=viewer.pk).update(
            muted_until=clock.now() + dt.timedelta(minutes=5)
        )
        with pytest.raises(ViewerMuted):
            comment_post(session=session, person=person, text="你好")
        LiveViewer.objects.filter(pk=viewer.pk).update(muted_until=None, banned=True)
        with pytest.raises(ViewerBanned):
            comment_post(session=session, person=person, text="你好")

    def test_flooding_is_rate_limited(self) -> None:
        session, person = make_session(), make_person()
        viewer_join(session=session, person=person)
        for number in range(10):
            comment_post(session=session, person=person, text=f"第{number}条")
        with pytest.raises(RateLimited) as refused:
            comment_post(session=session, person=person, text="再来一条")
        assert refused.value.text == f"发言太快了，请 {refused.value.retry_after} 秒后再发"

    def test_no_comments_before_the_session_starts(self) -> None:
        session, person = make_session(status=LiveStatus.SCHEDULED), make_person()
        viewer_join(session=session, person=person)
        with pytest.raises(LiveSessionNotLive):
            comment_post(session=session, person=person, text="开始了吗")

    def test_must_join_first(self) -> None:
        with pytest.raises(NotFound):
            comment_post(session=make_session(), person=make_person(), text="hi")


class TestLike:
    def test_likes_add_up(self) -> None:
        session, person = make_session(), make_person()
        assert like(session=session, person=person, count=3) == 3
        assert like(session=session, person=person, count=2) == 5

    @pytest.mark.parametrize("count", [0, 51, True])
    def test_bad_counts_refused(self, count: int) -> None:
        with pytest.raises(InvalidInput):
            like(session=make_session(), person=make_person(), count=count)


class TestProductAction:
    def test_only_products_of_the_session_are_tracked(self) -> None:
        sku = make_sku(stock=5)
        session, person = make_session(skus=[sku]), make_person()
        product_action(session=session, person=person, action=LiveAction.ADD_TO_CART, sku_id=sku.pk)
        assert (
            LiveActivity.objects.filter(action=LiveAction.ADD_TO_CART, sku_id=sku.pk).count() == 1
        )
        with pytest.raises(NotFound):
            product_action(
                session=session,
                person=person,
                action=LiveAction.CLICK_PRODUCT,
                sku_id=make_sku().pk,
            )


class TestOrdersInTheRoom:
    def test_orders_and_payments_in_the_room_are_counted(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        sku = make_sku(stock=5)
        session, person = make_session(skus=[sku]), make_person()
        with django_capture_on_commit_callbacks(execute=True):
            order = buy(person, (sku, 1), channel="live", source_ref=session.code)
        with django_capture_on_commit_callbacks(execute=True):
            pay(order)
        actions = list(
            LiveActivity.objects.filter(session=session).values_list("action", flat=True)
        )
        assert actions.count(LiveAction.ORDER) == 1
        assert actions.count(LiveAction.PAY) == 1


class TestGuestBecomesCustomer:
    def test_a_guests_viewing_follows_them_when_they_log_in(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        session = make_session()
        guest = guest_for_device(device_id="dev-123")
        viewer_join(session=session, person=guest, nickname="游客")
        customer = make_person(phone="13900139000")
        viewer_join(session=session, person=customer, nickname="小王")
        with django_capture_on_commit_callbacks(execute=True):
            survivor = viewer_device_link(person=customer, device_id="dev-123")
        viewers = LiveViewer.objects.filter(session=session)
        assert list(viewers.values_list("person_id", flat=True)) == [survivor.pk]
        assert (
            LiveActivity.objects.filter(session=session).exclude(person_id=survivor.pk).count() == 0
        )
        assert Order.objects.count() == 0


class TestCommentTextCheck:
    def test_trims_and_drops_control_characters(self) -> None:
        assert comment_text_check("  好喝\x07吗？ \n") == "好喝吗？"

    @pytest.mark.parametrize("text", ["", "   ", "\x00\x01"])
    def test_an_empty_comment_is_refused(self, text: str) -> None:
        with pytest.raises(CommentRefused, match="不能为空"):
            comment_text_check(text)

    def test_a_comment_over_the_limit_is_refused_with_the_limit(self) -> None:
        with pytest.raises(CommentRefused) as refused:
            comment_text_check("奶" * (MAX_COMMENT_CHARS + 1))
        assert refused.value.detail == {"max_chars": MAX_COMMENT_CHARS}
