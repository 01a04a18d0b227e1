"""The host's numbers against a scenario worked out by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.live.host.selectors import session_stats
from freshloop.live.models import LiveAction, LiveViewer
from freshloop.live.room.services import product_action, viewer_heartbeat, viewer_leave
from freshloop.orders.services import (
    order_refund_request,
    order_refund_succeeded,
    refund_request_approve,
)
from tests.factories import make_sku
from tests.live.host.helpers import HOST, join, make_room, say
from tests.orders.helpers import buy, pay

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)


class TestSessionStats:
    def test_a_hand_computed_session(
        self, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        """
        Four viewers A B C D join at T0. C comments at +5 s; A and B heartbeat at +30 s;
        A comments once and B twice at +40 s; A heartbeats again at +60 s. Stats at +70 s:

        online (seen since +25 s): A (+60), B (+30) = 2; peak 4 (all four at T0)
        dwell: A 60, B 30, C 0, D 0 -> 90 / 4 = 22 s (rounded down)
        comments in the minute (+10 s, +70 s]: A 1 + B 2 = 3 (C's at +5 s is older)
        clicks: A 2 + B 1 = 3; add-to-cart: A, B, C = 3
        orders: A pays ¥100, B pays ¥100 and gets ¥25 back, A's second order is unpaid,
        C's shop order and D's order in another session do not count:
        2 orders, GMV 10000 + 7500 = 17500 fen, 2 buyers of 4 viewers = 5000 bp
        funnel (persons): view 4 -> add to cart 3 -> pay 2
        """
        milk = make_sku(price_fen=10000, stock=50)
        with clock.frozen(T0):
            session = make_room(skus=[milk])
            other = make_room(skus=[milk])
            a, b, c, d = (join(session, name) for name in ("阿鲜", "小白", "菜菜", "豆豆"))
            clock.advance(dt.timedelta(seconds=5))
            say(session, c)
            clock.advance(dt.timedelta(seconds=25))
            viewer_heartbeat(session=session, person=a.person)
            viewer_heartbeat(session=session, person=b.person)
            clock.advance(dt.timedelta(seconds=10))
            say(session, a)
            say(session, b)
            say(session, b, "有没有小瓶装？")
            for viewer, action in [
                (a, LiveAction.CLICK_PRODUCT),
                (a, LiveAction.CLICK_PRODUCT),
                (b, LiveAction.CLICK_PRODUCT),
                (a, LiveAction.ADD_TO_CART),
                (b, LiveAction.ADD_TO_CART),
                (c, LiveAction.ADD_TO_CART),
            ]:
                product_action(session=session, person=viewer.person, action=action, sku_id=milk.pk)
            clock.advance(dt.timedelta(seconds=20))
            viewer_heartbeat(session=session, person=a.person)
            with django_capture_on_commit_callbacks(execute=True):  # the room hears OrderPaid
                paid_a = pay(buy(a.person, (milk, 1), channel="live", source_ref=session.code))
                paid_b = pay(buy(b.person, (milk, 1), channel="live", source_ref=session.code))
                buy(a.person, (milk, 1), channel="live", source_ref=session.code)
                pay(buy(c.person, (milk, 1), channel="shop"))
                pay(buy(d.person, (milk, 1), channel="live", source_ref=other.code))
            assert paid_a.paid_fen == paid_b.paid_fen == 10000  # no shipping on ¥100
            refund = order_refund_request(
                order_no=paid_b.order_no, reason="少了一瓶", actor=HOST, amount_fen=2500
            )
            refund_request_approve(refund_no=refund.refund_no, actor=HOST)
            order_refund_succeeded(
                order_no=paid_b.order_no,
                refund_no=refund.refund_no,
                amount_fen=2500,
                refunded_at=clock.now(),
            )
            session.refresh_from_db()

            stats = session_stats(session=session, now=T0 + dt.timedelta(seconds=70))

        assert (stats.online, stats.peak, stats.viewers) == (2, 4, 4)
        assert stats.average_dwell_seconds == 22
        assert stats.comments_last_minute == 3
        assert (stats.product_clicks, stats.add_to_cart) == (3, 3)
        assert (stats.orders, stats.gmv_fen, stats.buyers) == (2, 17500, 2)
        assert stats.conversion_bp == 5000
        assert [(s.action, s.persons) for s in stats.funnel] == [
            ("join", 4),
            ("add_to_cart", 3),
            ("pay", 2),
        ]

    def test_watching_time_counts_until_the_viewer_leaves(self) -> None:
        """A stays 20 s and leaves before any heartbeat; B beats at +30 s and leaves at +45 s:
        dwell A 20, B 45 -> 65 / 2 = 32 s, not 0."""
        with clock.frozen(T0):
            session = make_room()
            a, b = join(session, "阿鲜"), join(session, "小白")
            clock.advance(dt.timedelta(seconds=20))
            viewer_leave(session=session, person=a.person)
            clock.advance(dt.timedelta(seconds=10))
            viewer_heartbeat(session=session, person=b.person)
            clock.advance(dt.timedelta(seconds=15))
            viewer_leave(session=session, person=b.person)
            # a second leave (pagehide fired twice) adds nothing
            viewer_leave(session=session, person=b.person)
            stats = session_stats(session=session)
        assert sorted(
            LiveViewer.objects.filter(session=session).values_list("dwell_seconds", flat=True)
        ) == [20, 45]
        assert stats.average_dwell_seconds == 32

    def test_an_empty_room_is_all_zeros(self) -> None:
        session = make_room()
        stats = session_stats(session=session)
        assert (stats.online, stats.viewers, stats.orders, stats.gmv_fen) == (0, 0, 0, 0)
        assert stats.conversion_bp == 0
        assert stats.average_dwell_seconds == 0
        assert stats.as_dict()["funnel"][0] == {"action": "join", "label": "观看", "persons": 0}

    def test_banned_viewers_are_not_online(self) -> None:
        from freshloop.live.host.services import viewer_ban

        session = make_room()
        viewer = join(session, "捣乱的")
        join(session, "乖乖的")
        viewer_ban(session=session, person_id=viewer.person_id, actor=HOST)
        assert session_stats(session=session).online == 1
