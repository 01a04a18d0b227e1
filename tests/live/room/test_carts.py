"""Carts left in the live room (LV-5): 加购 without paying becomes an abandoned cart after the
configured minutes — announced once per viewer and room — and a later payment of the product,
in any channel, counts as recovered with its GMV."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish, subscribe, unsubscribe
from freshloop.identity.events import IdentityMerged
from freshloop.identity.privacy import person_erase, person_export
from freshloop.live import events
from freshloop.live.models import LiveAction, LiveCartIntent, LiveCartStatus
from freshloop.live.room.carts import cart_stats, carts_abandon_due
from freshloop.live.room.services import product_action
from tests.factories import make_person, make_sku
from tests.live.helpers import make_session
from tests.orders.helpers import buy, pay

pytestmark = pytest.mark.django_db

CS = Actor(type="user", id="9", label="客服小李")
START = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def announced() -> Iterator[list[Any]]:
    seen: list[Any] = []
    for event_type in (events.LiveCartAbandoned, events.LiveCartRecovered):
        subscribe(event_type)(seen.append)
    yield seen
    for event_type in (events.LiveCartAbandoned, events.LiveCartRecovered):
        unsubscribe(event_type, seen.append)


def at(minutes: float) -> Any:
    return clock.frozen(START + dt.timedelta(minutes=minutes))


def add_to_cart(session: Any, person: Any, sku: Any) -> None:
    product_action(session=session, person=person, action=LiveAction.ADD_TO_CART, sku_id=sku.pk)


class TestAbandon:
    def test_unpaid_after_ten_minutes_is_abandoned_once_per_viewer(
        self, announced: list[Any], django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        # given a viewer who added two products of the room at 12:00 and 12:03
        milk, yogurt = make_sku(stock=9, name="鲜牛奶"), make_sku(stock=9, name="酸奶")
        session = make_session(skus=[milk, yogurt])
        viewer = make_person()
        with at(0):
            add_to_cart(session, viewer, milk)
        with at(3):
            add_to_cart(session, viewer, yogurt)
        with django_capture_on_commit_callbacks(execute=True):
            # when the minute job runs at 12:12 (ten minutes after the first, not the second)
            with at(12):
                assert carts_abandon_due() == 1
            # and again at 12:14, and once more (a second worker)
            with at(14):
                assert carts_abandon_due() == 1
                assert carts_abandon_due() == 0
        # then the viewer's cart was announced twice: milk at 12:12, yogurt at 12:14, each once
        abandoned = [e for e in announced if isinstance(e, events.LiveCartAbandoned)]
        assert [e.sku_ids for e in abandoned] == [(milk.pk,), (yogurt.pk,)]
        assert {e.person_id for e in abandoned} == {viewer.pk}
        assert abandoned[0].session_code == session.code
        assert cart_stats(session=session).abandoned == 1

    def test_adding_again_restarts_the_clock(self, announced: list[Any]) -> None:
        milk = make_sku(stock=9)
        session = make_session(skus=[milk])
        viewer = make_person()
        with at(0):
            add_to_cart(session, viewer, milk)
        with at(8):
            add_to_cart(session, viewer, milk)
        with at(12):
            assert carts_abandon_due() == 0
        with at(18):
            assert carts_abandon_due() == 1

    def test_paid_in_time_is_never_abandoned(
        self, announced: list[Any], django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        # given a viewer who added the milk and paid for it five minutes later
        milk = make_sku(stock=9)
        session = make_session(skus=[milk])
        viewer = make_person()
        with at(0):
            add_to_cart(session, viewer, milk)
        with at(5), django_capture_on_commit_callbacks(execute=True):
            pay(buy(viewer, (milk, 1)))
        # when the job runs later / then nothing is abandoned
        with at(30):
            assert carts_abandon_due() == 0
        assert LiveCartIntent.objects.get().status == LiveCartStatus.PAID
        assert announced == []


class TestRecover:
    def test_a_payment_after_abandonment_is_a_recovery_with_its_gmv(
        self, announced: list[Any], django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        # given a viewer whose cart of milk (¥30) was abandoned
        milk = make_sku(stock=9, price_fen=3000)
        session = make_session(skus=[milk])
        viewer, other = make_person(), make_person()
        with at(0):
            add_to_cart(session, viewer, milk)
            add_to_cart(session, other, milk)
        with at(11), django_capture_on_commit_callbacks(execute=True):
            carts_abandon_due()
        # when they buy two bottles in the shop the next day
        with at(60 * 24), django_capture_on_commit_callbacks(execute=True):
            order = pay(buy(viewer, (milk, 2)))
        # then the cart is recovered, announced once, with what was paid for the product
        intent = LiveCartIntent.objects.get(person=viewer)
        assert intent.status == LiveCartStatus.RECOVERED
        assert intent.order_no == order.order_no
        recovered = [e for e in announced if isinstance(e, events.LiveCartRecovered)]
        assert [(e.person_id, e.order_no, e.amount_fen) for e in recovered] == [
            (viewer.pk, order.order_no, 6000)
        ]
        stats = cart_stats(session=session)
        assert (stats.abandoned, stats.recovered, stats.recovered_fen) == (2, 1, 6000)

    def test_a_payment_after_the_recovery_window_does_not_count(
        self, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        milk = make_sku(stock=9)
        session = make_session(skus=[milk])
        viewer = make_person()
        with at(0):
            add_to_cart(session, viewer, milk)
        with at(11), django_capture_on_commit_callbacks(execute=True):
            carts_abandon_due()
        with at(60 * 24 * 8), django_capture_on_commit_callbacks(execute=True):
            pay(buy(viewer, (milk, 1)))
        assert LiveCartIntent.objects.get().status == LiveCartStatus.ABANDONED
        assert cart_stats(session=session).recovered == 0


class TestMerge:
    def test_a_guests_cart_follows_them_into_their_account(
        self, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        # given a guest and an account that both added the milk, and the guest the yogurt
        milk, yogurt = make_sku(stock=9), make_sku(stock=9)
        session = make_session(skus=[milk, yogurt])
        guest, account = make_person(), make_person()
        with at(0):
            add_to_cart(session, guest, milk)
            add_to_cart(session, guest, yogurt)
            add_to_cart(session, account, milk)
        # when the guest logs in and OneID merges them into the account
        with django_capture_on_commit_callbacks(execute=True):
            publish(
                IdentityMerged(
                    from_person_id=guest.pk,
                    into_person_id=account.pk,
                    from_one_id=guest.one_id,
                    into_one_id=account.one_id,
                    reason="login",
                )
            )
        # then the account holds one intent per product, none is left on the guest
        assert sorted(
            LiveCartIntent.objects.filter(person=account).values_list("sku_id", flat=True)
        ) == sorted([milk.pk, yogurt.pk])
        assert not LiveCartIntent.objects.filter(person=guest).exists()


class TestPrivacy:
    def test_export_lists_the_carts_and_erase_removes_them(
        self, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        # given a viewer with a cart in a room
        milk = make_sku(stock=9)
        session = make_session(skus=[milk])
        viewer = make_person()
        with at(0):
            add_to_cart(session, viewer, milk)
        # when they ask for their data / then the cart is in it
        carts = person_export(actor=CS, one_id=viewer.one_id)["sections"]["live"]["carts"]
        assert [(c["session"], c["sku_id"], c["status"]) for c in carts] == [
            (session.code, milk.pk, "待支付")
        ]
        # when they are erased / then the cart is gone and never announced for win-back
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=viewer.one_id, reason="用户申请注销")
        assert not LiveCartIntent.objects.exists()
        with at(30):
            assert carts_abandon_due() == 0
