"""Presale windows driven by the periodic job: opening, balance reminders (each once), closing —
forfeited vs refunded deposits, units back to stock, a crash between closing and refunding."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import outbox_relay
from freshloop.groupbuy.presale import closing
from freshloop.groupbuy.presale.models import Presale, PresaleStatus, PurchaseStatus
from freshloop.groupbuy.presale.services import (
    REFUND_EFFECT,
    presale_cancel,
    presales_advance,
)
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.messaging.models import MarketingDispatch
from freshloop.orders.models import Order, OrderStatus, RefundRequest, RefundStatus
from tests.factories import make_person
from tests.groupbuy.presale.helpers import (
    AFTER_BALANCE,
    BALANCE_ENDS,
    BALANCE_STARTS,
    IN_BALANCE,
    IN_DEPOSIT,
    OPERATOR,
    T0,
    balance,
    deposit,
    fresh,
    make_presale,
    make_presale_sku,
    paid_deposit,
    pay,
)

pytestmark = pytest.mark.django_db


def _status(presale: Presale) -> str:
    return Presale.objects.get(pk=presale.pk).status


def _reminders(kind: str) -> list[MarketingDispatch]:
    return list(MarketingDispatch.objects.filter(purpose=f"groupbuy_presale_balance_{kind}"))


class TestPresalesAdvance:
    def test_opens_the_windows_in_turn(self) -> None:
        presale = make_presale()
        presales_advance(now=T0)
        assert _status(presale) == PresaleStatus.DRAFT
        result = presales_advance(now=IN_DEPOSIT)
        assert _status(presale) == PresaleStatus.DEPOSIT_OPEN
        assert result.opened == [presale.presale_no]
        result = presales_advance(now=IN_BALANCE)
        assert _status(presale) == PresaleStatus.BALANCE_OPEN
        assert result.balance_opened == [presale.presale_no]

    def test_reminds_each_unpaid_balance_once_when_the_window_opens(self) -> None:
        # given two paid deposits, one unpaid deposit, and one buyer who already paid it all
        presale = make_presale()
        waiting = [paid_deposit(presale, make_person()) for _ in range(2)]
        deposit(presale, make_person())
        done = paid_deposit(presale, make_person())
        with clock.frozen(IN_BALANCE):
            pay(balance(done).order_no, at=IN_BALANCE)
        # when the job runs three times in the balance window
        for minutes in (0, 1, 2):
            presales_advance(now=IN_BALANCE + dt.timedelta(minutes=minutes))
        # then each buyer with a paid deposit and no paid balance got one reminder
        sent = _reminders("open")
        assert sorted(d.person_id for d in sent) == sorted(p.person_id for p in waiting)
        assert "¥69" in sent[0].outbox_message.payload["body"]
        assert _reminders("due") == []

    def test_reminds_once_more_in_the_last_24_hours(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        presales_advance(now=IN_BALANCE)
        last_day = BALANCE_ENDS - dt.timedelta(hours=23)
        presales_advance(now=last_day)
        presales_advance(now=last_day + dt.timedelta(hours=1))
        due = _reminders("due")
        assert [d.person_id for d in due] == [purchase.person_id]
        assert "定金不退" in due[0].outbox_message.payload["body"]
        assert len(_reminders("open")) == 1

    def test_closing_forfeits_an_unpaid_balance_and_returns_its_units(self) -> None:
        # given 30 units, a presale of 10, one buyer who paid it all (2) and one who paid only
        # the deposit (3)
        sku = make_presale_sku(stock=30)
        presale = make_presale(sku, quantity=10, per_person_limit=3)
        complete = paid_deposit(presale, make_person(), 2)
        with clock.frozen(IN_BALANCE):
            pay(balance(complete).order_no, at=IN_BALANCE)
        lapsed = paid_deposit(presale, make_person(), 3)
        # when the balance window is over and the job runs (twice)
        result = presales_advance(now=AFTER_BALANCE)
        presales_advance(now=AFTER_BALANCE + dt.timedelta(minutes=1))
        # then the presale ended; the lapsed deposit is forfeited, not refunded
        assert result.closed == [presale.presale_no]
        assert _status(presale) == PresaleStatus.ENDED
        assert Presale.objects.get(pk=presale.pk).settled_at is not None
        assert fresh(lapsed).status == PurchaseStatus.FORFEITED
        assert fresh(complete).status == PurchaseStatus.BALANCE_PAID
        assert not RefundRequest.objects.exists()
        deposit_order = Order.objects.get(order_no=lapsed.deposit_order_no)
        assert deposit_order.status == OrderStatus.PAID
        # and every unit but the 2 paid for in full is back on the shelf
        assert stock_available_by_sku(sku_ids=[sku.pk])[sku.pk] == 28
        notices = MarketingDispatch.objects.filter(purpose="groupbuy_presale_settled")
        assert [n.person_id for n in notices] == [lapsed.person_id]

    def test_closing_cancels_an_unpaid_balance_order(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        pending = balance(purchase)
        presales_advance(now=AFTER_BALANCE)
        assert Order.objects.get(order_no=pending.order_no).status == OrderStatus.CANCELLED
        assert fresh(purchase).status == PurchaseStatus.FORFEITED

    def test_a_refundable_deposit_is_refunded_through_the_order(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a presale whose deposits are refundable, and a deposit of 2 (¥20 of goods)
        presale = make_presale(deposit_refundable=True)
        purchase = paid_deposit(presale, make_person(), 2)
        paid = Order.objects.get(order_no=purchase.deposit_order_no).paid_fen
        # when the balance window ends unpaid
        with clock.frozen(AFTER_BALANCE), django_capture_on_commit_callbacks(execute=True):
            presales_advance(now=AFTER_BALANCE)
        # then the deposit order has one approved refund of everything paid for it
        assert fresh(purchase).status == PurchaseStatus.REFUNDED
        refund = RefundRequest.objects.get(order__order_no=purchase.deposit_order_no)
        assert refund.status == RefundStatus.APPROVED
        assert refund.amount_fen == paid
        assert refund.decided_by == "groupbuy.presale"

    def test_a_crash_between_closing_and_refunding_loses_nothing(
        self, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a refundable presale with a lapsed deposit, and a refund step that dies
        presale = make_presale(deposit_refundable=True)
        purchase = paid_deposit(presale, make_person())
        real_approve = closing.refund_request_approve

        def dying_approve(**kwargs: Any) -> Any:
            raise RuntimeError("worker killed")

        monkeypatch.setattr(closing, "refund_request_approve", dying_approve)
        with clock.frozen(AFTER_BALANCE), django_capture_on_commit_callbacks(execute=True):
            presales_advance(now=AFTER_BALANCE)
        # then the decision stands, the refund request rolled back with the failed step, and
        # the effect waits in the outbox
        assert fresh(purchase).status == PurchaseStatus.REFUNDED
        assert not RefundRequest.objects.exists()
        effect = OutboxMessage.objects.get(dedupe_key=f"{REFUND_EFFECT}:{purchase.purchase_no}")
        assert effect.status == "pending"
        # when the worker is back and the relay runs (twice, later)
        monkeypatch.setattr(closing, "refund_request_approve", real_approve)
        for minutes in (5, 30):
            with clock.frozen(AFTER_BALANCE + dt.timedelta(minutes=minutes)):
                outbox_relay(batch_size=500)
        presales_advance(now=AFTER_BALANCE + dt.timedelta(minutes=31))
        # then exactly one refund, approved, and the effect is done
        refund = RefundRequest.objects.get(order__order_no=purchase.deposit_order_no)
        assert refund.status == RefundStatus.APPROVED
        assert OutboxMessage.objects.get(pk=effect.pk).status == "sent"

    def test_the_refund_step_repeated_refunds_once(self) -> None:
        presale = make_presale(deposit_refundable=True)
        purchase = paid_deposit(presale, make_person())
        presales_advance(now=AFTER_BALANCE)
        with clock.frozen(AFTER_BALANCE):
            first = closing.presale_deposit_refund(purchase_no=purchase.purchase_no)
            second = closing.presale_deposit_refund(purchase_no=purchase.purchase_no)
        assert first is not None
        assert first == second
        assert RefundRequest.objects.count() == 1

    def test_an_unpaid_deposit_at_closing_is_cancelled(self) -> None:
        presale = make_presale()
        purchase = deposit(presale, make_person(), at=BALANCE_STARTS - dt.timedelta(days=2))
        presales_advance(now=AFTER_BALANCE)
        assert fresh(purchase).status == PurchaseStatus.CANCELLED
        assert Order.objects.get(order_no=purchase.deposit_order_no).status == "cancelled"


class TestPresaleCancel:
    def test_refunds_paid_deposits_even_when_not_refundable(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a presale whose deposits are not refundable, one paid and one unpaid deposit
        sku = make_presale_sku(stock=30)
        presale = make_presale(sku, deposit_refundable=False)
        paid = paid_deposit(presale, make_person())
        unpaid = deposit(presale, make_person())
        # when the operator cancels it (the settlement runs right after the commit)
        with clock.frozen(IN_DEPOSIT), django_capture_on_commit_callbacks(execute=True):
            cancelled = presale_cancel(
                presale_no=presale.presale_no, reason="货源不足", actor=OPERATOR
            )
        # then the merchant's cancellation refunds the paid deposit and frees every unit
        assert cancelled.status == PresaleStatus.CANCELLED
        assert Presale.objects.get(pk=presale.pk).settled_at is not None
        assert fresh(paid).status == PurchaseStatus.REFUNDED
        assert fresh(unpaid).status == PurchaseStatus.CANCELLED
        assert stock_available_by_sku(sku_ids=[sku.pk])[sku.pk] == 30
        refund = RefundRequest.objects.get(order__order_no=paid.deposit_order_no)
        assert refund.status == RefundStatus.APPROVED

    def test_a_crash_after_the_cancel_is_settled_by_the_job(self) -> None:
        # given a cancel whose after-commit settlement never ran (the process died)
        presale = make_presale()
        paid = paid_deposit(presale, make_person())
        with clock.frozen(IN_DEPOSIT):
            presale_cancel(presale_no=presale.presale_no, reason="货源不足", actor=OPERATOR)
        assert fresh(paid).status == PurchaseStatus.DEPOSIT_PAID
        # when the periodic job runs
        presales_advance(now=IN_DEPOSIT + dt.timedelta(minutes=1))
        # then the deposit is settled (refunded: the merchant cancelled) and the effect queued
        assert fresh(paid).status == PurchaseStatus.REFUNDED
        assert OutboxMessage.objects.filter(
            dedupe_key=f"{REFUND_EFFECT}:{paid.purchase_no}"
        ).exists()

    def test_once_the_balance_window_opened_it_is_refused(self) -> None:
        from freshloop.groupbuy.presale.errors import PresaleStateInvalid

        presale = make_presale()
        with clock.frozen(IN_BALANCE), pytest.raises(PresaleStateInvalid):
            presale_cancel(presale_no=presale.presale_no, reason="不卖了", actor=OPERATOR)
