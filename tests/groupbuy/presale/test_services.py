"""Presale (GB-4): setting up, the deposit and balance windows, 定金膨胀 arithmetic, stock held
once, idempotency. Closing, reminders and refunds: test_closing.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.groupbuy.presale.errors import (
    PresaleBalanceClosed,
    PresaleDepositClosed,
    PresaleDepositUnpaid,
    PresaleInvalid,
    PresaleLimitExceeded,
    PresalePurchaseClosed,
    PresalePurchaseNotFound,
    PresaleSoldOut,
    PresaleStateInvalid,
)
from freshloop.groupbuy.presale.models import Presale, PresalePurchase, PurchaseStatus
from freshloop.groupbuy.presale.services import (
    presale_balance_pay,
    presale_create,
    presale_update,
    presales_advance,
)
from freshloop.inventory.models import Reservation, ReservationStatus
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.orders.errors import IdempotencyKeyReused
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import (
    order_cancel,
    order_refund_request,
    order_refund_succeeded,
    refund_request_approve,
)
from tests.factories import make_person, make_sku
from tests.groupbuy.presale.helpers import (
    AFTER_BALANCE,
    BALANCE_ENDS,
    BALANCE_STARTS,
    DEPOSIT_ENDS,
    DEPOSIT_STARTS,
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
    terms,
)

pytestmark = pytest.mark.django_db


def _fields(error: PresaleInvalid) -> set[str]:
    return {problem["field"] for problem in error.detail}


def _held_units(presale: Presale) -> int:
    """Units active order reservations hold of the presale's SKU (block rows excluded)."""
    return (
        Reservation.objects.filter(
            stock__sku_id=presale.sku_id, status=ReservationStatus.ACTIVE, is_block=False
        ).aggregate(units=Sum("quantity"))["units"]
        or 0
    )


class TestPresaleCreate:
    def test_sets_the_units_aside_in_one_block(self) -> None:
        # given a SKU with 30 units on the shelf
        sku = make_presale_sku(stock=30)
        # when an operator creates a presale of 10
        presale = make_presale(sku, quantity=10)
        # then the shelf offers 20, the block holds 10, the presale is a draft, audited
        assert stock_available_by_sku(sku_ids=[sku.pk])[sku.pk] == 20
        block = Reservation.objects.get(order_ref=presale.block_ref, is_block=True)
        assert block.quantity == 10
        assert presale.status == "draft"
        assert presale.list_price_fen == 12900
        assert presale.balance_unit_fen == 6900
        assert AuditLog.objects.filter(action="groupbuy.presale.create").count() == 1

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"deposit_fen": 9900}, "deposit_fen"),  # deposit not below the price
            ({"deposit_fen": 0}, "deposit_fen"),
            ({"deposit_worth_fen": 900}, "deposit_worth_fen"),  # worth below the deposit
            ({"deposit_worth_fen": 9900}, "deposit_worth_fen"),  # worth = price: balance 0
            ({"price_fen": 13000}, "price_fen"),  # above the list price
            ({"deposit_ends_at": DEPOSIT_STARTS}, "deposit_ends_at"),
            ({"balance_starts_at": DEPOSIT_ENDS - dt.timedelta(hours=1)}, "balance_starts_at"),
            ({"balance_ends_at": BALANCE_STARTS}, "balance_ends_at"),
            ({"delivery_from": dt.date(2026, 12, 12)}, "delivery_from"),  # before the balance
            ({"delivery_to": dt.date(2026, 12, 15)}, "delivery_to"),
            ({"per_person_limit": 0}, "per_person_limit"),
            ({"quantity": 0}, "quantity"),
            ({"quantity": 31}, "quantity"),  # more than any warehouse holds
            ({"name": " "}, "name"),
            ({"deposit_starts_at": T0.replace(tzinfo=None)}, "deposit_starts_at"),
        ],
    )
    def test_refuses_bad_terms_by_field_and_writes_nothing(
        self, overrides: dict[str, object], field: str
    ) -> None:
        sku = make_presale_sku(stock=30)
        with clock.frozen(T0), pytest.raises(PresaleInvalid) as refused:
            presale_create(terms=terms(sku, **overrides), actor=OPERATOR)
        assert field in _fields(refused.value)
        assert refused.value.status == 422
        assert Presale.objects.count() == 0
        assert stock_available_by_sku(sku_ids=[sku.pk])[sku.pk] == 30

    def test_refuses_a_deposit_window_already_over(self) -> None:
        sku = make_presale_sku()
        with clock.frozen(DEPOSIT_ENDS), pytest.raises(PresaleInvalid) as refused:
            presale_create(terms=terms(sku), actor=OPERATOR)
        assert _fields(refused.value) == {"deposit_ends_at"}

    def test_refuses_a_sku_not_sold_in_groupbuy(self) -> None:
        sku = make_sku(price_fen=12900, stock=30, channels=("shop",))
        with clock.frozen(T0), pytest.raises(PresaleInvalid) as refused:
            presale_create(terms=terms(sku), actor=OPERATOR)
        assert "sku_id" in _fields(refused.value)


class TestPresaleUpdate:
    def test_before_opening_replaces_terms_and_block(self) -> None:
        sku = make_presale_sku(stock=30)
        presale = make_presale(sku, quantity=10)
        old_block = presale.block_ref
        with clock.frozen(T0):
            updated = presale_update(
                presale_no=presale.presale_no, terms=terms(sku, quantity=25), actor=OPERATOR
            )
        assert updated.quantity == 25
        assert updated.block_ref != old_block
        assert stock_available_by_sku(sku_ids=[sku.pk])[sku.pk] == 5

    def test_once_the_deposit_window_opened_it_is_refused(self) -> None:
        sku = make_presale_sku()
        presale = make_presale(sku)
        with clock.frozen(IN_DEPOSIT), pytest.raises(PresaleStateInvalid):
            presale_update(presale_no=presale.presale_no, terms=terms(sku), actor=OPERATOR)


class TestPresaleDepositPay:
    def test_before_the_deposit_window_is_refused(self) -> None:
        presale = make_presale()
        with pytest.raises(PresaleDepositClosed) as refused:
            deposit(presale, make_person(), at=DEPOSIT_STARTS - dt.timedelta(seconds=1))
        assert refused.value.text == "定金支付尚未开始"
        assert Order.objects.count() == 0

    def test_after_the_deposit_window_is_refused(self) -> None:
        presale = make_presale()
        with pytest.raises(PresaleDepositClosed) as refused:
            deposit(presale, make_person(), at=DEPOSIT_ENDS)
        assert refused.value.text == "定金支付已截止"

    def test_places_the_deposit_order_at_the_deposit_price(self) -> None:
        # given a presale (deposit ¥10) and a buyer
        presale = make_presale()
        # when the buyer puts down a deposit for 2 units
        purchase = deposit(presale, make_person(), 2)
        # then the deposit order is a groupbuy order of the SKU at ¥10 a unit: ¥20, money only
        # (no shipping fee; the balance order is the one that ships)
        order = Order.objects.get(order_no=purchase.deposit_order_no)
        assert order.channel == "groupbuy"
        assert order.source_ref == presale.presale_no
        line = order.lines.get()
        assert (line.sku_id, line.quantity, line.total_fen) == (presale.sku_id, 2, 2000)
        assert line.discount_fen == 2 * (12900 - 1000)  # the list price, less the deposit price
        assert (order.total_fen, order.shipping_fen, order.ships) == (2000, 0, False)
        # and its units are drawn from the presale's block and counted
        assert Presale.objects.get(pk=presale.pk).units_taken == 2
        assert _held_units(presale) == 2
        assert purchase.status == PurchaseStatus.DEPOSIT_PENDING
        # and it must be paid before the deposit window closes
        assert order.expires_at == IN_DEPOSIT + dt.timedelta(minutes=15)

    def test_unpaid_deposit_expires_by_the_end_of_the_window(self) -> None:
        presale = make_presale()
        late = DEPOSIT_ENDS - dt.timedelta(minutes=5)
        purchase = deposit(presale, make_person(), at=late)
        assert Order.objects.get(order_no=purchase.deposit_order_no).expires_at == DEPOSIT_ENDS

    def test_paying_marks_the_deposit_paid(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        assert purchase.status == PurchaseStatus.DEPOSIT_PAID
        assert purchase.deposit_paid_at == IN_DEPOSIT

    def test_same_key_answers_the_same_purchase(self) -> None:
        presale = make_presale()
        buyer = make_person()
        first = deposit(presale, buyer, key="intent-1")
        again = deposit(presale, buyer, key="intent-1")
        assert again.pk == first.pk
        assert PresalePurchase.objects.count() == 1
        assert Order.objects.count() == 1
        assert Presale.objects.get(pk=presale.pk).units_taken == 1

    def test_a_key_reused_for_another_presale_is_refused(self) -> None:
        buyer = make_person()
        deposit(make_presale(), buyer, key="intent-1")
        with pytest.raises(IdempotencyKeyReused):
            deposit(make_presale(), buyer, key="intent-1")
        assert PresalePurchase.objects.count() == 1

    def test_replay_answers_even_after_the_window(self) -> None:
        presale = make_presale()
        buyer = make_person()
        first = deposit(presale, buyer, key="intent-1")
        assert deposit(presale, buyer, key="intent-1", at=DEPOSIT_ENDS).pk == first.pk

    def test_per_person_limit_counts_earlier_deposits(self) -> None:
        presale = make_presale(per_person_limit=2)
        buyer = make_person()
        deposit(presale, buyer, 2)
        with pytest.raises(PresaleLimitExceeded):
            deposit(presale, buyer, 1)
        assert Presale.objects.get(pk=presale.pk).units_taken == 2

    def test_never_more_than_the_presale_quantity(self) -> None:
        presale = make_presale(quantity=3, per_person_limit=2)
        deposit(presale, make_person(), 2)
        with pytest.raises(PresaleSoldOut):
            deposit(presale, make_person(), 2)
        deposit(presale, make_person(), 1)
        with pytest.raises(PresaleSoldOut):
            deposit(presale, make_person(), 1)
        assert Presale.objects.get(pk=presale.pk).units_taken == 3
        assert PresalePurchase.objects.count() == 2

    def test_a_cancelled_unpaid_deposit_gives_its_units_back(self) -> None:
        presale = make_presale(quantity=1)
        purchase = deposit(presale, make_person())
        with clock.frozen(IN_DEPOSIT):
            order_cancel(order_no=purchase.deposit_order_no, reason="不要了", actor=OPERATOR)
        assert fresh(purchase).status == PurchaseStatus.CANCELLED
        assert Presale.objects.get(pk=presale.pk).units_taken == 0
        assert _held_units(presale) == 0
        deposit(presale, make_person())  # the unit can be had again


class TestPresaleBalancePay:
    def test_before_the_balance_window_is_refused(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        with pytest.raises(PresaleBalanceClosed) as refused:
            balance(purchase, at=BALANCE_STARTS - dt.timedelta(seconds=1))
        assert refused.value.text == "尾款支付尚未开始"

    def test_after_the_balance_window_is_refused(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        with pytest.raises(PresaleBalanceClosed) as refused:
            balance(purchase, at=BALANCE_ENDS)
        assert refused.value.text == "尾款支付已截止"

    def test_an_unpaid_deposit_is_refused(self) -> None:
        presale = make_presale()
        purchase = deposit(presale, make_person())
        with pytest.raises(PresaleDepositUnpaid):
            balance(purchase)

    def test_deposit_worth_comes_off_the_balance(self) -> None:
        # given list ¥129, presale price ¥99, deposit ¥10 worth ¥30, and 2 units deposited
        presale = make_presale()
        purchase = paid_deposit(presale, make_person(), 2)
        # when the buyer pays the balance
        order = balance(purchase)
        # then the balance is (99 − 30) × 2 = ¥138, and the buyer pays 20 + 138 = ¥158 of
        # goods in all for goods priced 99 × 2 = ¥198: the deposit's ¥20 did ¥60 of work
        line = order.lines.get()
        assert (line.quantity, line.total_fen) == (2, 13800)
        deposit_order = Order.objects.get(order_no=purchase.deposit_order_no)
        assert deposit_order.lines.get().total_fen + line.total_fen == 15800
        assert order.total_fen == 13800 + order.shipping_fen
        assert order.ships
        assert order.channel == "groupbuy"
        assert order.address == deposit_order.address

    def test_the_units_are_held_once_across_both_orders(self) -> None:
        sku = make_presale_sku(stock=30)
        presale = make_presale(sku, quantity=10)
        purchase = paid_deposit(presale, make_person(), 2)
        assert _held_units(presale) == 2
        balance_order = balance(purchase)
        # the deposit order's reservation handed over to the balance order: still 2 in all
        assert _held_units(presale) == 2
        assert not Reservation.objects.filter(
            order_ref=purchase.deposit_order_no, status=ReservationStatus.ACTIVE
        ).exists()
        assert Reservation.objects.get(order_ref=balance_order.order_no).quantity == 2
        assert stock_available_by_sku(sku_ids=[sku.pk])[sku.pk] == 20

    def test_asking_again_answers_the_open_balance_order(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        first = balance(purchase)
        again = balance(fresh(purchase))
        assert again.order_no == first.order_no
        assert Order.objects.filter(source_ref=presale.presale_no).count() == 2

    def test_paying_completes_the_purchase(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        order = balance(purchase)
        pay(order.order_no, at=IN_BALANCE)
        purchase = fresh(purchase)
        assert purchase.status == PurchaseStatus.BALANCE_PAID
        assert purchase.balance_order_no == order.order_no

    def test_a_lapsed_balance_order_can_be_placed_again(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        first = balance(purchase)
        with clock.frozen(IN_BALANCE):
            order_cancel(order_no=first.order_no, reason="超时", actor=OPERATOR)
        assert fresh(purchase).status == PurchaseStatus.DEPOSIT_PAID
        assert _held_units(presale) == 0  # back in the block, still counted for the buyer
        second = balance(fresh(purchase), at=IN_BALANCE + dt.timedelta(hours=1))
        assert second.order_no != first.order_no
        assert Order.objects.get(order_no=second.order_no).status == OrderStatus.PENDING_PAYMENT
        assert _held_units(presale) == 1

    def test_another_buyer_cannot_pay_it(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        stranger = make_person()
        with clock.frozen(IN_BALANCE), pytest.raises(PresalePurchaseNotFound):
            presale_balance_pay(purchase_no=purchase.purchase_no, person=stranger)

    def test_after_the_presale_closed_nothing_is_placed(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        presales_advance(now=AFTER_BALANCE)
        with pytest.raises(PresalePurchaseClosed):
            balance(purchase, at=AFTER_BALANCE)
        assert Order.objects.filter(source_ref=presale.presale_no).count() == 1


class TestPresaleDepositRefunded:
    def test_a_deposit_refunded_by_customer_service_cancels_the_purchase(self) -> None:
        # given a paid deposit that customer service refunds in full during the deposit window
        presale = make_presale(quantity=1)
        purchase = paid_deposit(presale, make_person())
        order = Order.objects.get(order_no=purchase.deposit_order_no)
        with clock.frozen(IN_DEPOSIT):
            refund = order_refund_request(
                order_no=order.order_no,
                reason="买家不要了",
                actor=OPERATOR,
                amount_fen=order.paid_fen,
            )
            refund_request_approve(refund_no=refund.refund_no, actor=OPERATOR)
            order_refund_succeeded(
                order_no=order.order_no,
                refund_no=refund.refund_no,
                amount_fen=order.paid_fen,
                refunded_at=IN_DEPOSIT,
            )
        # then the purchase is cancelled, its unit free again, and no balance can be paid on it
        assert fresh(purchase).status == PurchaseStatus.CANCELLED
        assert Presale.objects.get(pk=presale.pk).units_taken == 0
        with pytest.raises(PresalePurchaseClosed):
            balance(fresh(purchase))
        deposit(presale, make_person())
