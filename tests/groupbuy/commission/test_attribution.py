"""Paid orders attributed to the buyer's leader, pickup codes handed over at the pickup
point, refunds followed on the attribution."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.groupbuy.commission.errors import (
    PickupAlreadyDone,
    PickupCodeUnknown,
    PickupOrderClosed,
)
from freshloop.groupbuy.commission.models import LeaderOrder, PickupStatus
from freshloop.groupbuy.commission.services import order_refund_attributed, pickup_confirm
from freshloop.groupbuy.services import leader_suspend
from freshloop.orders.models import ShippingRule
from freshloop.orders.services import order_payment_succeeded, shipping_rule_save
from tests.factories import MARKETER, make_order, make_person
from tests.groupbuy.commission.helpers import (
    Committed,
    attributed,
    committed,
    customer_of,
    paid_order,
    refund,
    sku,
)
from tests.groupbuy.factories import OPERATOR, make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]


class TestOrderAttribute:
    def test_a_customers_paid_order_becomes_their_leaders_with_a_pickup_snapshot(
        self, committed: Committed
    ) -> None:
        # given a leader and their customer
        leader = make_leader()
        buyer = customer_of(leader)
        # when the customer pays an order
        order = paid_order(committed, buyer, (sku(10_000), 1))
        # then it is the leader's, with the pickup point as it was and an 8-digit code
        leader_order = attributed(order)
        assert leader_order.leader == leader
        assert leader_order.pickup_name == leader.pickup_name
        assert leader_order.pickup_hours == leader.pickup_hours
        assert leader_order.pickup_address["detail"] == leader.pickup_address["detail"]
        assert len(leader_order.pickup_code) == 8
        assert leader_order.pickup_code.isdigit()
        assert leader_order.pickup_status == PickupStatus.AWAITING
        assert AuditLog.objects.filter(action="groupbuy.order.attribute").count() == 1

    def test_gmv_is_paid_minus_shipping(self, committed: Committed) -> None:
        # given shipping charged everywhere
        shipping_rule_save(
            actor=MARKETER,
            rule=ShippingRule(
                name="全国", provinces=[], base_fee_fen=800, free_shipping_from_fen=0
            ),
        )
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(2_000), 1))
        # then the shipping is left out of the GMV
        assert order.shipping_fen > 0
        assert attributed(order).gmv_fen == order.paid_fen - order.shipping_fen

    def test_orders_of_any_channel_count(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(), 1), channel="shop")
        assert attributed(order).channel == "shop"

    def test_a_buyer_without_a_leader_is_not_attributed(self, committed: Committed) -> None:
        paid_order(committed, make_person(), (sku(), 1))
        assert not LeaderOrder.objects.exists()

    def test_a_suspended_leaders_customer_is_not_attributed(self, committed: Committed) -> None:
        leader = make_leader()
        buyer = customer_of(leader)
        leader_suspend(actor=OPERATOR, leader_no=leader.leader_no, reason="休店")
        paid_order(committed, buyer, (sku(), 1))
        assert not LeaderOrder.objects.exists()

    def test_the_leader_at_payment_time_keeps_the_order_after_a_switch(
        self, committed: Committed
    ) -> None:
        # given a customer of A who pays, then switches to B after the 30-day window
        with clock.frozen(dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.UTC)):
            first, second = make_leader(), make_leader()
            buyer = customer_of(first)
            early = paid_order(committed, buyer, (sku(), 1))
            clock.advance(dt.timedelta(days=31))
            customer_of(second, buyer)
            late = paid_order(committed, buyer, (sku(), 1))
        # then each order stays with the leader the customer had when paying
        assert attributed(early).leader == first
        assert attributed(late).leader == second

    def test_an_attachment_in_the_same_second_as_a_whole_second_payment_counts(
        self, committed: Committed
    ) -> None:
        # given a customer who follows a leader's link at 10:00:00.600 and pays at once, and a
        # provider that reports the payment at the whole second 10:00:00
        leader = make_leader()
        with clock.frozen(dt.datetime(2026, 12, 7, 2, 0, 0, 600_000, tzinfo=dt.UTC)):
            buyer = customer_of(leader)
            order = make_order(buyer, (sku(), 1), channel="groupbuy")
            with committed():
                order_payment_succeeded(
                    order_no=order.order_no,
                    amount_fen=order.total_fen,
                    provider="sandbox",
                    transaction_id=f"T{order.order_no}",
                    paid_at=dt.datetime(2026, 12, 7, 2, 0, 0, tzinfo=dt.UTC),
                )
        # then the order is the leader's
        assert attributed(order).leader == leader


class TestPickupConfirm:
    def test_the_leader_hands_out_against_the_code(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(), 1))
        code = attributed(order).pickup_code
        # when the leader enters it with a space in the middle
        done = pickup_confirm(leader=leader, pickup_code=f"{code[:4]} {code[4:]}")
        # then the order is picked up, audited
        assert done.pickup_status == PickupStatus.PICKED_UP
        assert done.picked_up_at is not None
        assert AuditLog.objects.filter(action="groupbuy.order.pickup").count() == 1

    def test_another_leaders_code_is_unknown_and_changes_nothing(
        self, committed: Committed
    ) -> None:
        leader, other = make_leader(), make_leader()
        order = paid_order(committed, customer_of(leader), (sku(), 1))
        with pytest.raises(PickupCodeUnknown) as refused:
            pickup_confirm(leader=other, pickup_code=attributed(order).pickup_code)
        assert refused.value.status == 404
        assert attributed(order).pickup_status == PickupStatus.AWAITING

    @pytest.mark.parametrize("code", ["", "1234", "abcdefgh", "123456789"])
    def test_a_malformed_code_is_unknown(self, code: str) -> None:
        with pytest.raises(PickupCodeUnknown):
            pickup_confirm(leader=make_leader(), pickup_code=code)

    def test_a_real_code_with_a_digit_too_many_is_unknown(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(), 1))
        with pytest.raises(PickupCodeUnknown):
            pickup_confirm(leader=leader, pickup_code=attributed(order).pickup_code + "7")

    def test_twice_is_a_conflict(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(), 1))
        code = attributed(order).pickup_code
        pickup_confirm(leader=leader, pickup_code=code)
        with pytest.raises(PickupAlreadyDone) as refused:
            pickup_confirm(leader=leader, pickup_code=code)
        assert refused.value.status == 409

    def test_a_refunded_order_is_not_handed_out(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        refund(committed, order, 10_000)
        assert attributed(order).pickup_status == PickupStatus.REFUNDED
        with pytest.raises(PickupOrderClosed):
            pickup_confirm(leader=leader, pickup_code=attributed(order).pickup_code)

    def test_a_partly_refunded_order_is_still_handed_out(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        refund(committed, order, 1_000)
        done = pickup_confirm(leader=leader, pickup_code=attributed(order).pickup_code)
        assert done.pickup_status == PickupStatus.PICKED_UP


class TestOrderRefundAttributed:
    def test_refunds_add_up_and_the_gmv_share_follows(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        order = refund(committed, order, 2_500)
        refund(committed, order, 2_500)
        leader_order = attributed(order)
        assert (leader_order.refunded_fen, leader_order.gmv_refunded_fen) == (5_000, 5_000)
        assert len(leader_order.refund_nos) == 2

    def test_an_order_of_no_leader_is_ignored(self, committed: Committed) -> None:
        order = paid_order(committed, make_person(), (sku(), 1))
        assert (
            order_refund_attributed(order_id=order.pk, refund_no="R1", amount_fen=1, fully=False)
            is None
        )
