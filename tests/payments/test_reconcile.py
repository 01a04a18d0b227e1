"""查单 and 关单 through the real services: money is booked from the provider's verified answer
(never from the page's word), open payments of dead orders are closed at the provider, and
the scheduled sweep finds payments whose callback was lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.outbox import outbox_relay
from freshloop.orders.models import OrderStatus
from freshloop.orders.services import order_cancel
from freshloop.payments.errors import PaymentNotFound
from freshloop.payments.models import (
    NotificationKind,
    Payment,
    PaymentNotificationLog,
    PaymentStatus,
    Refund,
    RefundOrigin,
)
from freshloop.payments.providers import ProviderUnavailable, payment_provider
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import (
    payment_create,
    payment_sync,
    payments_reconcile,
)
from tests.factories import make_person
from tests.payments.helpers import make_order

pytestmark = pytest.mark.django_db
Committed = Callable[[], AbstractContextManager[Any]]
BUYER = Actor(type="consumer", id="buyer", label="买家")


def _sandbox() -> SandboxProvider:
    sandbox = payment_provider("sandbox")
    assert isinstance(sandbox, SandboxProvider)
    return sandbox


def _open_payment(client_kind: str = "h5") -> Payment:
    order = make_order()
    return payment_create(
        order_no=order.order_no,
        person_id=order.person_id,
        provider="sandbox",
        client_kind=client_kind,
    )


def _paid_but_callback_lost(payment: Payment) -> None:
    """The platform took the money; its callback never reached us."""
    _sandbox().record_paid(payment_no=payment.payment_no, amount_fen=payment.amount_fen)


class TestPaymentSync:
    def test_money_the_callback_never_reported_is_booked_by_query(self) -> None:
        # given a buyer who paid, and a callback that was lost
        payment = _open_payment()
        _paid_but_callback_lost(payment)
        # when the page asks on the buyer's return
        synced = payment_sync(payment_no=payment.payment_no, person_id=payment.order.person_id)
        # then the provider's answer books it, and the order is paid
        assert synced.status == PaymentStatus.SUCCEEDED
        assert synced.transaction_id == SandboxProvider.transaction_id_for(payment.payment_no)
        payment.order.refresh_from_db()
        assert payment.order.status == OrderStatus.PAID
        log = PaymentNotificationLog.objects.get(kind=NotificationKind.QUERY)
        assert (log.outcome, log.out_trade_no) == ("paid", payment.payment_no)

    def test_an_unpaid_payment_stays_open_and_the_query_is_remembered(self) -> None:
        payment = _open_payment()
        synced = payment_sync(payment_no=payment.payment_no, person_id=payment.order.person_id)
        assert synced.status == PaymentStatus.CREATED
        assert synced.last_queried_at is not None
        payment.order.refresh_from_db()
        assert payment.order.status == OrderStatus.PENDING_PAYMENT
        assert not PaymentNotificationLog.objects.exists()  # pending answers are not logged

    def test_a_query_after_the_callback_books_nothing_twice(self) -> None:
        payment = _open_payment()
        _paid_but_callback_lost(payment)
        payment_sync(payment_no=payment.payment_no)
        again = payment_sync(payment_no=payment.payment_no)
        assert again.status == PaymentStatus.SUCCEEDED
        assert PaymentNotificationLog.objects.filter(kind=NotificationKind.QUERY).count() == 1

    def test_asking_faster_than_once_a_second_does_not_reach_the_provider(self) -> None:
        # given a payment just asked about (still unpaid then)
        payment = _open_payment()
        start = clock.now()
        with clock.frozen(start):
            payment_sync(payment_no=payment.payment_no)
        _paid_but_callback_lost(payment)
        # when a client asks again within the second, it gets what we know (not the provider)
        with clock.frozen(start + dt.timedelta(milliseconds=500)):
            assert payment_sync(payment_no=payment.payment_no).status == PaymentStatus.CREATED
        # and a second later the provider is asked, and the money booked
        with clock.frozen(start + dt.timedelta(seconds=2)):
            assert payment_sync(payment_no=payment.payment_no).status == PaymentStatus.SUCCEEDED

    def test_another_persons_payment_is_not_found(self) -> None:
        payment = _open_payment()
        stranger = make_person()
        with pytest.raises(PaymentNotFound):
            payment_sync(payment_no=payment.payment_no, person_id=stranger.pk)


class TestCloseAtProvider:
    def test_a_cancelled_orders_payment_is_closed_at_the_provider(
        self, committed: Committed
    ) -> None:
        # given an open payment
        payment = _open_payment()
        # when its order is cancelled (and the cancellation commits)
        with committed():
            order_cancel(order_no=payment.order.order_no, reason="买家取消", actor=BUYER)
        outbox_relay()
        # then the provider was told to close it, and so is our record
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.CLOSED
        with pytest.raises(ProviderUnavailable, match="closed"):
            _paid_but_callback_lost(payment)  # the platform refuses money for it now

    def test_money_taken_before_the_close_is_booked_and_sent_back(
        self, committed: Committed
    ) -> None:
        # given a buyer who paid at the provider just before the order was cancelled
        payment = _open_payment()
        _paid_but_callback_lost(payment)
        with committed():
            order_cancel(order_no=payment.order.order_no, reason="超时未支付", actor=BUYER)
        outbox_relay()
        # then the query before closing found the money: booked, and refunded automatically
        payment.refresh_from_db()
        assert payment.status in {PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED}
        refund = Refund.objects.get(payment=payment)
        assert refund.origin == RefundOrigin.LATE_PAYMENT
        assert refund.amount_fen == payment.amount_fen

    def test_a_replaced_payment_is_closed_at_the_provider(self, committed: Committed) -> None:
        # given an open H5 payment
        first = _open_payment("h5")
        # when the buyer switches to the QR code on a desktop
        with committed():
            second = payment_create(
                order_no=first.order.order_no,
                person_id=first.order.person_id,
                provider="sandbox",
                client_kind="native",
            )
        outbox_relay()
        # then the old one cannot be paid any more, the new one can
        with pytest.raises(ProviderUnavailable):
            _paid_but_callback_lost(first)
        assert second.status == PaymentStatus.CREATED
        assert second.prompt["kind"] == "qr"


class TestReconcileSweep:
    def test_the_sweep_books_a_lost_callback_once_the_payment_is_a_minute_old(self) -> None:
        payment = _open_payment()
        _paid_but_callback_lost(payment)
        # a fresh payment is left to its callback
        assert payments_reconcile(now=payment.created_at + dt.timedelta(seconds=30))["paid"] == 0
        # a minute later the sweep asks, and books it
        counts = payments_reconcile(now=payment.created_at + dt.timedelta(minutes=2))
        assert counts["paid"] == 1
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED

    def test_an_unpaid_payment_is_asked_again_only_after_the_back_off(self) -> None:
        payment = _open_payment()
        start = payment.created_at + dt.timedelta(minutes=2)
        with clock.frozen(start):
            assert payments_reconcile(now=start)["queried"] == 1
        # a minute later it is not due yet; three minutes later it is
        assert payments_reconcile(now=start + dt.timedelta(minutes=1))["queried"] == 0
        assert payments_reconcile(now=start + dt.timedelta(minutes=3))["queried"] == 1

    def test_the_sweep_closes_payments_of_cancelled_orders(self) -> None:
        # given a cancelled order whose payment was never closed (the effect was lost)
        payment = _open_payment()
        order_cancel(order_no=payment.order.order_no, reason="买家取消", actor=BUYER)
        # when the sweep runs
        counts = payments_reconcile(now=clock.now() + dt.timedelta(minutes=5))
        # then it is closed at the provider and here
        assert counts["closed"] == 1
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.CLOSED
