"""Subscriptions: the customer's actions and the ordering job (idempotent across a crash)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection  # noqa: F401 (read by skipif)

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.food import subscription_ordering
from freshloop.food.errors import (
    SubscriptionInvalid,
    SubscriptionNotFound,
    SubscriptionStateInvalid,
)
from freshloop.food.models import (
    Subscription,
    SubscriptionDelivery,
    SubscriptionDeliveryStatus,
    SubscriptionStatus,
)
from freshloop.food.selectors import cadence_suggestion_for
from freshloop.food.services import (
    SubscriptionLineIn,
    subscription_cancel,
    subscription_create,
    subscription_discount_set,
    subscription_pause,
    subscription_resume,
    subscription_skip_next,
    subscriptions_run,
)
from freshloop.inventory.models import StockLevel
from freshloop.inventory.services import stock_receive
from freshloop.messaging.models import MarketingDispatch
from freshloop.orders.errors import OrderStateInvalid
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import order_allocate, order_payment_succeeded, orders_expire_unpaid
from tests.concurrency import errors_of, run_at_once, values_of
from tests.factories import ADDRESS, make_order, make_person, make_sku, make_warehouse

pytestmark = pytest.mark.django_db

# 2026-12-07 01:00 UTC is 09:00 on Monday 7 December in Shanghai.
MONDAY = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)
D = dt.date


def _subscribe(person: Any, sku: Any, every: int = 7, quantity: int = 1) -> Subscription:
    return subscription_create(
        person=person,
        items=[SubscriptionLineIn(sku_id=sku.pk, quantity=quantity)],
        cadence_kind="every_days",
        cadence_value=every,
        address=dict(ADDRESS),
    )


def _pay(order_no: str) -> None:
    order = Order.objects.get(order_no=order_no)
    order_payment_succeeded(
        order_no=order_no,
        amount_fen=order.total_fen,
        provider="sandbox",
        transaction_id=f"T-{order_no}",
        paid_at=clock.now(),
    )


class TestSubscriptionCreate:
    def test_first_delivery_is_after_the_lead_time(self) -> None:
        with clock.frozen(MONDAY):
            subscription = _subscribe(make_person(), make_sku(stock=10))
        assert subscription.next_delivery_date == D(2026, 12, 9)
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert AuditLog.objects.filter(action="food.subscription.create").count() == 1

    @pytest.mark.parametrize(
        ("items", "kind", "value", "address"),
        [
            ([], "every_days", 7, ADDRESS),
            ([(None, 0)], "every_days", 7, ADDRESS),
            ([(None, 1)], "every_days", 0, ADDRESS),
            ([(None, 1)], "fortnightly", 1, ADDRESS),
            ([(None, 1)], "every_days", 7, {"name": "王"}),
        ],
    )
    def test_bad_input_is_refused_and_nothing_written(
        self, items: list[tuple[None, int]], kind: str, value: int, address: dict[str, str]
    ) -> None:
        sku = make_sku(stock=10)
        with pytest.raises(SubscriptionInvalid):
            subscription_create(
                person=make_person(),
                items=[SubscriptionLineIn(sku_id=sku.pk, quantity=q) for _, q in items],
                cadence_kind=kind,
                cadence_value=value,
                address=address,
            )
        assert not Subscription.objects.exists()


class TestCustomerActions:
    def test_skip_next_moves_one_cadence_and_records_the_skip(self) -> None:
        person = make_person()
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, make_sku(stock=10), every=9)
            skipped = subscription_skip_next(
                person=person, subscription_no=subscription.subscription_no
            )
        assert skipped.next_delivery_date == D(2026, 12, 18)
        assert SubscriptionDelivery.objects.get().status == SubscriptionDeliveryStatus.SKIPPED

    def test_skip_again_after_cadence_change_lands_on_a_skipped_date(self) -> None:
        person = make_person()
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, make_sku(stock=10), every=7)  # 9 Dec
            number = subscription.subscription_no
            subscription_skip_next(person=person, subscription_no=number)  # → 16 Dec
            subscription.refresh_from_db()
            subscription.next_delivery_date = D(2026, 12, 9)  # as a cadence change could
            subscription.save()
            again = subscription_skip_next(person=person, subscription_no=number)
        assert again.next_delivery_date == D(2026, 12, 16)
        assert SubscriptionDelivery.objects.count() == 1

    def test_pause_until_then_job_resumes(self) -> None:
        person = make_person()
        sku = make_sku(stock=10)
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, sku, every=7)
            paused = subscription_pause(
                person=person, subscription_no=subscription.subscription_no, until=D(2026, 12, 20)
            )
            assert paused.status == SubscriptionStatus.PAUSED
            assert paused.next_delivery_date == D(2026, 12, 23)
            assert subscriptions_run(today=D(2026, 12, 7)).placed == []
        outcome = subscriptions_run(today=D(2026, 12, 21))
        subscription.refresh_from_db()
        assert outcome.resumed == 1
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert len(outcome.placed) == 1  # the 23rd is two days ahead

    def test_pause_in_the_past_is_refused(self) -> None:
        person = make_person()
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, make_sku(stock=10))
            with pytest.raises(SubscriptionInvalid):
                subscription_pause(
                    person=person,
                    subscription_no=subscription.subscription_no,
                    until=D(2026, 12, 7),
                )

    def test_cancelled_subscription_is_never_ordered_and_cannot_skip(self) -> None:
        person = make_person()
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, make_sku(stock=10))
            subscription_cancel(person=person, subscription_no=subscription.subscription_no)
            with pytest.raises(SubscriptionStateInvalid):
                subscription_skip_next(person=person, subscription_no=subscription.subscription_no)
            with pytest.raises(SubscriptionStateInvalid):
                subscription_resume(person=person, subscription_no=subscription.subscription_no)
            assert subscriptions_run(today=D(2026, 12, 7)).placed == []

    def test_someone_elses_subscription_is_not_found(self) -> None:
        with clock.frozen(MONDAY):
            subscription = _subscribe(make_person(), make_sku(stock=10))
            with pytest.raises(SubscriptionNotFound):
                subscription_cancel(
                    person=make_person(), subscription_no=subscription.subscription_no
                )


class TestOrdering:
    def test_due_subscription_becomes_an_order_at_the_subscription_price(self) -> None:
        person = make_person()
        sku = make_sku(stock=10, price_fen=6000)
        subscription_discount_set(
            product_id=sku.product_id, percent_off=10, actor=Actor.system("t")
        )
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, sku, quantity=2)
            outcome = subscriptions_run(today=D(2026, 12, 7))
        order = Order.objects.get(order_no=outcome.placed[0])
        assert order.subtotal_fen == 2 * 6000
        assert order.total_fen - order.shipping_fen == 2 * 5400
        assert order.status == OrderStatus.PENDING_PAYMENT
        assert order.expires_at == MONDAY + dt.timedelta(hours=12)
        subscription.refresh_from_db()
        assert subscription.next_delivery_date == D(2026, 12, 16)
        pay = MarketingDispatch.objects.get(purpose="food_subscription_pay")
        assert pay.person_id == person.pk

    def test_unpaid_order_is_never_allocated(self) -> None:
        with clock.frozen(MONDAY):
            _subscribe(make_person(), make_sku(stock=10))
            order_no = subscriptions_run(today=D(2026, 12, 7)).placed[0]
        with pytest.raises(OrderStateInvalid):
            order_allocate(order_no=order_no, actor=Actor.system("t"))

    def test_running_twice_orders_once(self) -> None:
        with clock.frozen(MONDAY):
            for _ in range(3):
                _subscribe(make_person(), make_sku(stock=10))
            first = subscriptions_run(today=D(2026, 12, 7))
            second = subscriptions_run(today=D(2026, 12, 7))
        assert len(first.placed) == 3
        assert second.placed == []
        assert Order.objects.count() == 3

    def test_crash_midway_then_rerun_orders_each_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given five due subscriptions ordered two per batch, and a job that dies in the second
        # batch, after its orders are written, while it queues their pay-now messages
        with clock.frozen(MONDAY):
            subscriptions = [_subscribe(make_person(), make_sku(stock=10)) for _ in range(5)]
        monkeypatch.setattr(subscription_ordering, "BATCH_SIZE", 2)
        real_send = subscription_ordering.transactional_send_many
        calls = {"n": 0}

        def dying_send(**kwargs: Any) -> Any:
            if any(send.purpose == "food_subscription_pay" for send in kwargs["sends"]):
                calls["n"] += 1
                if calls["n"] == 2:
                    raise RuntimeError("worker killed")
            return real_send(**kwargs)

        monkeypatch.setattr(subscription_ordering, "transactional_send_many", dying_send)
        with clock.frozen(MONDAY), pytest.raises(RuntimeError):
            subscriptions_run(today=D(2026, 12, 7))
        # the first batch's two orders stand; the second's rolled back with its bookkeeping
        assert Order.objects.count() == 2
        assert SubscriptionDelivery.objects.count() == 2
        # when the job runs again (twice)
        monkeypatch.setattr(subscription_ordering, "transactional_send_many", real_send)
        with clock.frozen(MONDAY):
            subscriptions_run(today=D(2026, 12, 7))
            subscriptions_run(today=D(2026, 12, 7))
        # then every subscription has exactly one order for its date, and one pay-now message
        assert Order.objects.count() == 5
        for subscription in subscriptions:
            assert subscription.deliveries.get().status == SubscriptionDeliveryStatus.PLACED
        assert len(set(SubscriptionDelivery.objects.values_list("order_no", flat=True))) == 5
        pay_messages = MarketingDispatch.objects.filter(purpose="food_subscription_pay")
        assert pay_messages.count() == 5

    def test_expired_unpaid_order_is_retried_then_subscription_paused(self, settings: Any) -> None:
        settings.FOOD_SUBSCRIPTION_CHARGE_ATTEMPTS = 2
        person = make_person()
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, make_sku(stock=10))
            first = subscriptions_run(today=D(2026, 12, 7)).placed[0]
        with clock.frozen(MONDAY + dt.timedelta(hours=13)):
            orders_expire_unpaid()
            second = subscriptions_run(today=D(2026, 12, 7)).placed
        assert len(second) == 1
        assert second[0] != first
        with clock.frozen(MONDAY + dt.timedelta(hours=26)):
            orders_expire_unpaid()
            outcome = subscriptions_run(today=D(2026, 12, 8))
        subscription.refresh_from_db()
        assert outcome.gave_up == 1
        assert subscription.status == SubscriptionStatus.PAUSED
        assert Order.objects.filter(status=OrderStatus.PENDING_PAYMENT).count() == 0
        assert MarketingDispatch.objects.filter(purpose="food_subscription_paused").count() == 1

    def test_paid_order_is_not_retried(self) -> None:
        with clock.frozen(MONDAY):
            _subscribe(make_person(), make_sku(stock=10))
            order_no = subscriptions_run(today=D(2026, 12, 7)).placed[0]
            _pay(order_no)
        with clock.frozen(MONDAY + dt.timedelta(hours=13)):
            orders_expire_unpaid()
            assert subscriptions_run(today=D(2026, 12, 7)).placed == []
        assert Order.objects.count() == 1

    def test_out_of_stock_fails_then_retries_when_stock_arrives(self) -> None:
        with clock.frozen(MONDAY):
            sku = make_sku(stock=0)
            _subscribe(make_person(), sku)
            outcome = subscriptions_run(today=D(2026, 12, 7))
        assert outcome.failed == 1
        assert outcome.placed == []
        delivery = SubscriptionDelivery.objects.get()
        assert delivery.status == SubscriptionDeliveryStatus.FAILED
        assert delivery.last_error
        # when stock arrives and the job runs again
        stock_receive(sku=sku, warehouse=make_warehouse(), quantity=5, actor=Actor.system("t"))
        with clock.frozen(MONDAY + dt.timedelta(hours=1)):
            again = subscriptions_run(today=D(2026, 12, 7))
        delivery.refresh_from_db()
        assert len(again.placed) == 1
        assert delivery.attempts == 2
        assert delivery.status == SubscriptionDeliveryStatus.PLACED


class TestReminder:
    def test_reminder_goes_out_on_the_shanghai_day_before_ordering(self) -> None:
        person = make_person()
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, make_sku(stock=10), every=7)  # delivers 9 Dec
        subscription.next_delivery_date = D(2026, 12, 11)
        subscription.save()
        # 2026-12-07 17:30 UTC is already 8 December 01:30 in Shanghai: 11 − 2 − 1 = 8
        late_utc_evening = dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.UTC)
        from freshloop.food.services import local_today

        with clock.frozen(late_utc_evening):
            today = local_today()
            assert today == D(2026, 12, 8)
            assert subscriptions_run(today=today).reminded == 1
            assert subscriptions_run(today=today).reminded == 1  # deduplicated below
        assert MarketingDispatch.objects.filter(purpose="food_subscription_reminder").count() == 1
        with clock.frozen(MONDAY):
            assert subscriptions_run(today=D(2026, 12, 7)).reminded == 0


class TestSuggestionFromHistory:
    def test_suggestion_reads_the_households_paid_orders(self) -> None:
        person = make_person()
        sku = make_sku(stock=50)
        for day in (1, 10, 19):
            with clock.frozen(dt.datetime(2026, 11, day, 2, tzinfo=dt.UTC)):
                order = make_order(person, (sku, 9))
                _pay(order.order_no)
        suggestion = cadence_suggestion_for(person=person, sku_id=sku.pk)
        assert suggestion is not None
        assert suggestion.every_days == 1
        assert cadence_suggestion_for(person=make_person(), sku_id=sku.pk) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite has one writer at a time")
class TestTwoRunnersAtOnce:
    def test_each_subscription_is_ordered_once_and_stock_never_oversold(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given 12 due subscriptions on two SKUs with stock for 10 of them, in batches of 4,
        # and two workers running the job at the same instant
        monkeypatch.setattr(subscription_ordering, "BATCH_SIZE", 4)
        milk, yogurt = make_sku(stock=5), make_sku(stock=5)
        with clock.frozen(MONDAY):
            for index in range(12):
                _subscribe(make_person(), milk if index % 2 else yogurt)

        def run() -> int:
            return len(subscriptions_run(today=D(2026, 12, 7)).placed)

        with clock.frozen(MONDAY):  # the clock is global: frozen once, around both threads
            outcomes = run_at_once([run, run])
        # then neither failed, ten orders were placed between them and two were refused
        assert errors_of(outcomes) == []
        assert sum(values_of(outcomes)) == 10
        assert Order.objects.count() == 10
        assert SubscriptionDelivery.objects.count() == 12
        assert (
            SubscriptionDelivery.objects.filter(status=SubscriptionDeliveryStatus.FAILED).count()
            == 2
        )
        for level in StockLevel.objects.all():
            assert level.reserved == level.on_hand == 5
