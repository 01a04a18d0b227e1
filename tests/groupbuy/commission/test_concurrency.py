"""At the same instant on PostgreSQL: one pickup per code, one reversal per refund however
often it is delivered, one draft settlement run, and a refund racing the maturing job."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.groupbuy.commission.errors import PickupAlreadyDone, SettlementRunOpen
from freshloop.groupbuy.commission.models import (
    LedgerKind,
    LedgerTransaction,
    SettlementRun,
)
from freshloop.groupbuy.commission.selectors import leader_commission_balances
from freshloop.groupbuy.commission.services import (
    accruals_mature,
    order_refund_attributed,
    pickup_confirm,
    settlement_run_create,
)
from tests.concurrency import errors_of, run_at_once, values_of
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
from tests.groupbuy.factories import make_leader

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="SQLite has one writer at a time"
    ),
]
__all__ = ["committed", "connection"]


class TestAtTheSameInstant:
    def test_one_code_is_handed_out_once(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(), 1))
        code = attributed(order).pickup_code
        outcomes = run_at_once([lambda: pickup_confirm(leader=leader, pickup_code=code)] * 2)
        assert len(values_of(outcomes)) == 1
        assert [type(e) for e in errors_of(outcomes)] == [PickupAlreadyDone]

    def test_a_refund_delivered_twice_at_once_is_reversed_once(self, committed: Committed) -> None:
        leader = make_leader()
        rule(1, 1_000)
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))

        def deliver() -> object:
            return order_refund_attributed(
                order_id=order.pk, refund_no="R-SAME", amount_fen=5_000, fully=False
            )

        outcomes = run_at_once([deliver, deliver])
        assert errors_of(outcomes) == []
        assert LedgerTransaction.objects.filter(kind=LedgerKind.REVERSE).count() == 1
        assert leader_commission_balances(leader=leader).pending_fen == 500

    def test_two_operators_open_one_run(self) -> None:
        actor = Actor(type="user", id="1", label="ops")
        yesterday = clock.to_shanghai(clock.now()).date() - dt.timedelta(days=1)
        outcomes = run_at_once(
            [lambda: settlement_run_create(actor=actor, period_end=yesterday)] * 2
        )
        assert len(values_of(outcomes)) == 1
        assert [type(e) for e in errors_of(outcomes)] == [SettlementRunOpen]
        assert SettlementRun.objects.count() == 1

    def test_a_refund_racing_the_maturing_job_keeps_the_books_straight(
        self, committed: Committed
    ) -> None:
        leader = make_leader()
        with clock.frozen(clock.now() - dt.timedelta(days=8)):
            rule(1, 1_000)
            order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        outcomes = run_at_once([accruals_mature, lambda: refund(committed, order, 4_000)])
        assert errors_of(outcomes) == []
        balances = leader_commission_balances(leader=leader)
        # 1000 accrued, 400 taken back: 600 left, wherever the reversal found it
        assert balances.pending_fen + balances.settleable_fen == 600
        assert balances.pending_fen == 0
