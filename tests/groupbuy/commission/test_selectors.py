"""Leader-scoped reads: orders to hand out, orders, daily sales, money, statements — each
only ever the leader's own."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.groupbuy.commission.errors import StatementNotFound
from freshloop.groupbuy.commission.selectors import (
    leader_commission_balances,
    leader_commission_entries,
    leader_orders,
    leader_orders_to_hand_out,
    leader_sales_summary,
    leader_statement,
    leader_statements,
)
from freshloop.groupbuy.commission.services import (
    accruals_mature,
    pickup_confirm,
    settlement_run_create,
)
from tests.groupbuy.commission.helpers import (
    Committed,
    attributed,
    committed,
    customer_of,
    paid_order,
    refund,
    rule,
    sku,
)
from tests.groupbuy.commission.test_settlement import CREATOR
from tests.groupbuy.factories import make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]

MONDAY = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 Shanghai


class TestLeaderOrdersToHandOut:
    def test_waiting_orders_of_the_leader_paid_by_that_day(self, committed: Committed) -> None:
        # given A's customers paid three orders on Monday and one on Tuesday; one was picked
        # up, one fully refunded; B has an order too
        with clock.frozen(MONDAY):
            a, b = make_leader(), make_leader()
            buyer = customer_of(a)
            waiting = paid_order(committed, buyer, (sku(10_000), 2))
            picked = paid_order(committed, buyer, (sku(10_000), 1))
            refunded = paid_order(committed, buyer, (sku(10_000), 1))
            paid_order(committed, customer_of(b), (sku(10_000), 1))
            pickup_confirm(leader=a, pickup_code=attributed(picked).pickup_code)
            refund(committed, refunded, refunded.paid_fen)
            clock.advance(dt.timedelta(days=1))
            tuesday = paid_order(committed, buyer, (sku(10_000), 1))
        # when A reads Monday's and Tuesday's lists
        monday = leader_orders_to_hand_out(leader=a, day=dt.date(2026, 11, 2))
        both = leader_orders_to_hand_out(leader=a, day=dt.date(2026, 11, 3))
        # then only A's open orders, with what to hand over
        assert [row.order_no for row in monday] == [waiting.order_no]
        assert [row.order_no for row in both] == [waiting.order_no, tuesday.order_no]
        assert monday[0].items == [{"product_name": "鲜牛奶", "spec": "950ml", "quantity": 2}]
        assert monday[0].buyer_phone_masked.count("*") >= 4


class TestLeaderOrders:
    def test_only_the_leaders_orders_newest_first(self, committed: Committed) -> None:
        a, b = make_leader(), make_leader()
        first = paid_order(committed, customer_of(a), (sku(), 1))
        paid_order(committed, customer_of(b), (sku(), 1))
        with clock.frozen(clock.now() + dt.timedelta(minutes=1)):
            second = paid_order(committed, customer_of(a), (sku(), 1))
        total, rows = leader_orders(leader=a)
        assert total == 2
        assert [row.order_no for row in rows] == [second.order_no, first.order_no]
        assert leader_orders(leader=a, pickup_status="picked_up") == (0, [])


class TestLeaderSalesSummary:
    def test_one_row_per_day_with_zeros_and_distinct_buyers(self, committed: Committed) -> None:
        with clock.frozen(MONDAY):
            leader = make_leader()
            one, two = customer_of(leader), customer_of(leader)
            paid_order(committed, one, (sku(10_000), 1))
            paid_order(committed, one, (sku(2_000), 1))  # shipping is not GMV
            order = paid_order(committed, two, (sku(10_000), 1))
            refund(committed, order, 500)
            clock.advance(dt.timedelta(days=2))
            paid_order(committed, two, (sku(1_000), 1))
            paid_order(committed, customer_of(make_leader()), (sku(99_900), 1))
        days = leader_sales_summary(
            leader=leader, since=dt.date(2026, 11, 1), until=dt.date(2026, 11, 4)
        )
        assert [(d.day.day, d.gmv_fen, d.refunded_fen, d.orders, d.customers) for d in days] == [
            (1, 0, 0, 0, 0),
            (2, 22_000, 500, 3, 2),
            (3, 0, 0, 0, 0),
            (4, 1_000, 0, 1, 1),
        ]


class TestLeaderCommission:
    def test_balances_and_entries_are_the_leaders_own(self, committed: Committed) -> None:
        with clock.frozen(MONDAY):
            a, b = make_leader(), make_leader()
            rule(1, 1_000)
            paid_order(committed, customer_of(a), (sku(10_000), 1))
            paid_order(committed, customer_of(b), (sku(20_000), 1))
            clock.advance(dt.timedelta(days=8))
            accruals_mature()
        balances = leader_commission_balances(leader=a)
        assert (balances.pending_fen, balances.settleable_fen) == (0, 1_000)
        total, entries = leader_commission_entries(leader=a)
        assert total == 2
        assert [(e.kind, e.pending_fen, e.settleable_fen) for e in entries] == [
            ("mature", -1_000, 1_000),
            ("accrue", 1_000, 0),
        ]


class TestLeaderStatement:
    def test_another_leaders_statement_is_not_found(self, committed: Committed) -> None:
        with clock.frozen(MONDAY):
            a, b = make_leader(), make_leader()
            rule(1, 1_000)
            paid_order(committed, customer_of(a), (sku(10_000), 1))
            clock.advance(dt.timedelta(days=9))
            accruals_mature()
            clock.advance(dt.timedelta(days=1))
            run = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 11, 11))
        statement = run.statements.get()
        assert leader_statement(leader=a, statement_no=statement.statement_no) == statement
        assert leader_statements(leader=a)[0] == 1
        assert leader_statements(leader=b) == (0, [])
        with pytest.raises(StatementNotFound):
            leader_statement(leader=b, statement_no=statement.statement_no)
