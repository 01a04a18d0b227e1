"""DH-5: the host's live numbers (`live.host.selectors.session_stats`, from the transactional
tables) and the data hub's per-session chart (`dashboard_live_sessions`, from the event store)
tell the same story about one session driven through the real live, order and identity services.

The two differ by definition in three figures, which the test does not compare: the chart has
no "online" or "peak" (moments in the room, not history), and it counts all comments while the
host sees the comments of the last minute (here every comment falls in that minute, so the
two agree on this session). Conversion is a basis-point integer on one side and a ratio on the
other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.datahub.dashboards.schemas import DashboardFilter
from freshloop.datahub.dashboards.selectors import dashboard_live_sessions
from freshloop.datahub.eventstore.selectors import EventStore, business_day
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.live.host.selectors import SessionStats, session_stats
from freshloop.live.models import LiveAction, LiveComment, LiveSession, LiveViewer
from freshloop.live.room.services import (
    guest_for_device,
    product_action,
    viewer_device_link,
    viewer_heartbeat,
    viewer_join,
    viewer_leave,
)
from freshloop.orders.models import Order
from freshloop.orders.services import order_refund_request, refund_request_approve
from freshloop.payments.providers import payment_provider
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import payment_create, payment_notification_handle
from tests.factories import make_person, make_sku
from tests.live.host.helpers import HOST, join, make_room, say
from tests.orders.helpers import buy

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)  # 20:00 in Shanghai
Committed = Callable[[], AbstractContextManager[Any]]


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Callable[..., Any]) -> Committed:
    """Each step commits like a request of its own: subscribers (the recorder, the room's
    funnel, merge re-pointing) run when the step ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    with clock.frozen(T0):
        yield


def seconds(count: int) -> None:
    clock.advance(dt.timedelta(seconds=count))


def pay_in_sandbox(order: Order) -> None:
    """The customer pays through the sandbox gateway, which then notifies us."""
    payment = payment_create(
        order_no=order.order_no, person_id=order.person_id, provider="sandbox", client_kind="h5"
    )
    sandbox = payment_provider("sandbox")
    assert isinstance(sandbox, SandboxProvider)
    headers, body = sandbox.build_payment_notification(
        payment_no=payment.payment_no, amount_fen=payment.amount_fen, succeed=True
    )
    assert payment_notification_handle(provider="sandbox", headers=headers, body=body).code == (
        "paid"
    )


def chart_row(session: LiveSession, store: EventStore) -> dict[str, Any]:
    day = business_day(T0)
    chart = dashboard_live_sessions(
        DashboardFilter(start=day, end=day, channel="live", live_session=session.code),
        store=store,
    )
    assert len(chart["rows"]) == 1, chart
    row: dict[str, Any] = chart["rows"][0]
    return row


def a_session_in_the_room(
    committed: Committed, *, refund: bool = False
) -> tuple[LiveSession, SessionStats]:
    """
    Viewers A, B, C join at T0, and a guest on a phone (G). G heartbeats at +30 s and then logs
    in as A (G's viewing is merged into A's). A and B heartbeat at +30 s and +60 s, B leaves
    at +60 s; C never heartbeats. Comments: A 1, B 2 (all in the last minute). Clicks: A 2,
    B 1; add-to-cart: A, B, C. Orders in the room: A pays ¥100, B pays ¥120 (and, with
    `refund`, gets ¥25 back), C orders and does not pay; a shop order by C and a room order by
    D in another session do not count. Worked out by hand:

    viewers 3 (A with G, B, C); dwell A 30 + 30 + G 30 = 90, B 60, C 0 → 150 / 3 = 50 s
    comments 3, clicks 3, add-to-cart 3; orders 2, GMV 10000 + 12000 = 22000 fen (19500 after
    the refund), buyers 2 → conversion 2 / 3
    """
    # both above the free-shipping line, so what is paid is the price
    milk = make_sku(price_fen=10000, stock=50, name="鲜牛奶")
    yoghurt = make_sku(price_fen=12000, stock=50, name="酸奶礼盒")
    with committed():
        session = make_room(skus=[milk, yoghurt])
        other = make_room(skus=[milk])
    with committed():
        a, b, c = (join(session, name) for name in ("阿鲜", "小白", "菜菜"))
        guest = guest_for_device(device_id="phone-of-a")
        viewer_join(session=session, person=guest, nickname="游客")
    seconds(30)
    with committed():
        for person in (a.person, b.person, guest):
            viewer_heartbeat(session=session, person=person)
    with committed():
        customer = viewer_device_link(person=a.person, device_id="phone-of-a")
    assert customer.pk == a.person_id
    seconds(20)
    with committed():
        say(session, a)
        say(session, b)
        say(session, b, "有没有小瓶装？")
        for viewer, action, sku in [
            (a, LiveAction.CLICK_PRODUCT, milk),
            (a, LiveAction.CLICK_PRODUCT, yoghurt),
            (b, LiveAction.CLICK_PRODUCT, yoghurt),
            (a, LiveAction.ADD_TO_CART, milk),
            (b, LiveAction.ADD_TO_CART, yoghurt),
            (c, LiveAction.ADD_TO_CART, milk),
        ]:
            product_action(session=session, person=viewer.person, action=action, sku_id=sku.pk)
    seconds(10)
    with committed():
        viewer_heartbeat(session=session, person=a.person)
        viewer_heartbeat(session=session, person=b.person)
        viewer_leave(session=session, person=b.person)
    with committed():
        order_a = buy(a.person, (milk, 1), channel="live", source_ref=session.code)
        order_b = buy(b.person, (yoghurt, 1), channel="live", source_ref=session.code)
        buy(c.person, (milk, 1), channel="live", source_ref=session.code)
        order_c_shop = buy(c.person, (milk, 1), channel="shop")
        order_d = buy(make_person(), (milk, 1), channel="live", source_ref=other.code)
    for order in (order_a, order_b, order_c_shop, order_d):
        with committed():
            pay_in_sandbox(order)
    if refund:
        with committed():
            request = order_refund_request(
                order_no=order_b.order_no, reason="少了一盒", actor=HOST, amount_fen=2500
            )
        with committed():  # the approval starts the sandbox refund, which completes at once
            refund_request_approve(refund_no=request.refund_no, actor=HOST)
        order_b.refresh_from_db()
        assert order_b.refunded_fen == 2500
    session.refresh_from_db()
    return session, session_stats(session=session)


@pytest.mark.usefixtures("frozen_clock")
class TestDashboardLiveSessions:
    def test_the_chart_agrees_with_the_hosts_live_numbers(
        self, store: EventStore, committed: Committed
    ) -> None:
        # given one session driven through the real services, and the host's numbers of it
        session, stats = a_session_in_the_room(committed)
        # when the recorded events are flushed into the store and the chart reads them
        buffer_flush_all(store=store)
        row = chart_row(session, store)
        # then both sides count the same viewers, room activity and sales …
        assert (row["viewers"], stats.viewers) == (3, 3)
        assert (row["comments"], stats.comments_last_minute) == (3, 3)
        assert (row["product_clicks"], stats.product_clicks) == (3, 3)
        assert (row["add_to_cart"], stats.add_to_cart) == (3, 3)
        assert (row["orders"], stats.orders) == (2, 2)
        assert (row["gmv_fen"], stats.gmv_fen) == (22000, 22000)
        assert (row["buyers"], stats.buyers) == (2, 2)
        # … the same average dwell (the live module's heartbeats report the seconds added
        # since the previous beat, and a merged guest's viewing counts for the survivor) …
        assert (row["average_dwell_seconds"], stats.average_dwell_seconds) == (50, 50)
        # … and the same conversion, each in its own unit
        assert row["conversion"] == pytest.approx(2 / 3)
        assert stats.conversion_bp == 6666
        # and the transactional side agrees with itself about who watched and what was said
        assert LiveViewer.objects.filter(session=session).count() == 3
        assert LiveComment.objects.filter(session=session).count() == 3

    def test_a_refund_lowers_both_gmvs_alike(self, store: EventStore, committed: Committed) -> None:
        # given the session, where B got ¥25 of her ¥120 back
        session, stats = a_session_in_the_room(committed, refund=True)
        # when the store has the events
        buffer_flush_all(store=store)
        row = chart_row(session, store)
        # then both GMVs are paid − refunded, and the paid orders still count
        assert (row["gmv_fen"], stats.gmv_fen) == (19500, 19500)
        assert (row["orders"], stats.orders) == (2, 2)
        assert (row["buyers"], stats.buyers) == (2, 2)

    def test_a_second_flush_changes_nothing(self, store: EventStore, committed: Committed) -> None:
        # given the session's events in the store
        session, _ = a_session_in_the_room(committed)
        buffer_flush_all(store=store)
        first = chart_row(session, store)
        # when the flush runs again (the background job after the in-process flusher)
        buffer_flush_all(store=store)
        # then the chart reads the same figures: nothing is counted twice
        assert chart_row(session, store) == first

    def test_a_session_nobody_visited_has_no_row(
        self, store: EventStore, committed: Committed
    ) -> None:
        # given a started session with no viewers, beside the busy one
        session, _ = a_session_in_the_room(committed)
        with committed():
            empty = make_room()
        buffer_flush_all(store=store)
        # when the chart is read for the period
        day = business_day(T0)
        chart = dashboard_live_sessions(DashboardFilter(start=day, end=day), store=store)
        # then the busy session and the one D bought in have rows, the empty one has none,
        # and its host numbers are zeros
        codes = [row["live_session"] for row in chart["rows"]]
        assert session.code in codes
        assert len(codes) == 2
        assert empty.code not in codes
        stats = session_stats(session=empty)
        assert (stats.viewers, stats.orders, stats.gmv_fen) == (0, 0, 0)
