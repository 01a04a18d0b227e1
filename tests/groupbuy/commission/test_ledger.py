"""The commission ledger: append-only, balanced, and — after any sequence of payments,
refunds, maturing and settlement — every transaction sums to zero and every leader's balances
are the sums of their legs."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.groupbuy.commission.ledger import UnbalancedPosting, ledger_post, movement
from freshloop.groupbuy.commission.models import (
    AppendOnlyError,
    CommissionAccrual,
    LedgerAccount,
    LedgerKind,
    LedgerLeg,
    LedgerTransaction,
    SettlementRun,
    SettlementStatus,
)
from freshloop.groupbuy.commission.selectors import (
    leader_commission_balances,
    ledger_account_balances,
)
from freshloop.groupbuy.commission.services import (
    accruals_mature,
    settlement_run_approve,
    settlement_run_create,
    statement_mark_paid,
)
from freshloop.orders.models import Order
from tests.groupbuy.commission.helpers import (
    Committed,
    committed,
    customer_of,
    paid_order,
    recruited_by,
    refund,
    rule,
    sku,
)
from tests.groupbuy.factories import make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]


def _posted() -> LedgerTransaction:
    leader = make_leader()
    posted = ledger_post(
        ref="test:1",
        kind=LedgerKind.ACCRUE,
        leader_id=leader.pk,
        legs=movement(LedgerAccount.COMMISSION_EXPENSE, LedgerAccount.LEADER_PENDING, 100),
    )
    assert posted is not None
    return posted


class TestAppendOnly:
    def test_a_transaction_cannot_be_changed_or_deleted(self) -> None:
        posted = _posted()
        posted.memo = "改一改"
        with pytest.raises(AppendOnlyError):
            posted.save()
        with pytest.raises(AppendOnlyError):
            posted.delete()
        with pytest.raises(AppendOnlyError):
            LedgerTransaction.objects.filter(pk=posted.pk).update(memo="x")
        with pytest.raises(AppendOnlyError):
            LedgerTransaction.objects.filter(pk=posted.pk).delete()
        assert LedgerTransaction.objects.get(pk=posted.pk).memo == ""

    def test_a_leg_cannot_be_changed_or_deleted(self) -> None:
        _posted()
        leg = LedgerLeg.objects.first()
        assert leg is not None
        leg.amount_fen = 1
        with pytest.raises(AppendOnlyError):
            leg.save()
        with pytest.raises(AppendOnlyError):
            leg.delete()
        with pytest.raises(AppendOnlyError):
            LedgerLeg.objects.all().update(amount_fen=0)
        with pytest.raises(AppendOnlyError):
            LedgerLeg.objects.all().delete()
        assert sorted(LedgerLeg.objects.values_list("amount_fen", flat=True)) == [-100, 100]


class TestLedgerPost:
    def test_unbalanced_legs_are_refused(self) -> None:
        leader = make_leader()
        with pytest.raises(UnbalancedPosting):
            ledger_post(
                ref="bad",
                kind=LedgerKind.ACCRUE,
                leader_id=leader.pk,
                legs=[(LedgerAccount.COMMISSION_EXPENSE, -100), (LedgerAccount.LEADER_PENDING, 99)],
            )
        with pytest.raises(UnbalancedPosting):
            movement(LedgerAccount.LEADER_PENDING, LedgerAccount.LEADER_SETTLEABLE, 0)
        assert not LedgerTransaction.objects.exists()

    def test_a_ref_is_posted_once(self) -> None:
        posted = _posted()
        again = ledger_post(
            ref=posted.ref,
            kind=LedgerKind.ACCRUE,
            leader_id=posted.leader_id,
            legs=movement(LedgerAccount.COMMISSION_EXPENSE, LedgerAccount.LEADER_PENDING, 100),
        )
        assert again is None
        assert LedgerLeg.objects.count() == 2


# --- the invariant under random operations ----------------------------------------------------

CREATOR = Actor(type="user", id="1", label="ops-a")
# Each example starts 100 days after the one before: settlement periods only move forward.
_example_starts = (
    dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC) + dt.timedelta(days=100 * n) for n in count()
)
APPROVER = Actor(type="user", id="2", label="ops-b")

operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(0, 2), st.integers(1, 3)),
        st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100)),
        st.tuples(st.just("wait"), st.integers(1, 10), st.just(0)),
        st.tuples(st.just("settle"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


def _apply(committed: Committed, world: dict[str, Any], op: tuple[str, int, int]) -> None:
    kind, a, b = op
    if kind == "buy":
        order = paid_order(committed, world["buyers"][a], (world["sku"], b))
        world["orders"].append(order.pk)
    elif kind == "refund" and world["orders"]:
        order = Order.objects.get(pk=world["orders"][a % len(world["orders"])])
        left = order.paid_fen - order.refunded_fen
        if left > 0 and order.status != "refund_requested":
            refund(committed, order, max(1, left * b // 100))
    elif kind == "wait":
        clock.advance(dt.timedelta(days=a))
        accruals_mature()
    elif kind == "settle":
        clock.advance(dt.timedelta(days=1))
        if SettlementRun.objects.filter(status=SettlementStatus.DRAFT).exists():
            return
        yesterday = clock.to_shanghai(clock.now()).date() - dt.timedelta(days=1)
        last = SettlementRun.objects.exclude(status="cancelled").order_by("-period_end").first()
        if last is not None and clock.to_shanghai(last.period_end).date() > yesterday:
            return
        run = settlement_run_create(actor=CREATOR, period_end=yesterday)
        settlement_run_approve(actor=APPROVER, run_no=run.run_no)
        for statement in run.statements.order_by("pk")[:1]:  # pay one, leave the rest payable
            statement_mark_paid(
                actor=APPROVER, statement_no=statement.statement_no, payment_ref="B"
            )


def _assert_invariants(leaders: list[Any]) -> None:
    sums: dict[int, int] = defaultdict(int)
    for transaction_id, amount in LedgerLeg.objects.values_list("transaction_id", "amount_fen"):
        sums[transaction_id] += amount
    assert set(sums.values()) <= {0}, "every transaction sums to zero"
    assert sums.keys() == set(LedgerTransaction.objects.values_list("pk", flat=True))
    by_account = ledger_account_balances()
    for leader in leaders:
        balances = leader_commission_balances(leader=leader)
        legs = {
            account: sum(
                LedgerLeg.objects.filter(leader=leader, account=account).values_list(
                    "amount_fen", flat=True
                )
            )
            for account in LedgerAccount.values
        }
        assert balances.pending_fen == legs[LedgerAccount.LEADER_PENDING]
        assert balances.settleable_fen == legs[LedgerAccount.LEADER_SETTLEABLE]
        assert balances.payable_fen == legs[LedgerAccount.LEADER_PAYABLE]
        assert balances.paid_fen == legs[LedgerAccount.CASH]
        assert sum(legs.values()) == 0, "a leader's legs across accounts net to zero"
        assert balances.pending_fen >= 0
        assert balances.payable_fen >= 0
        assert by_account.get((leader.pk, LedgerAccount.LEADER_PENDING), 0) == balances.pending_fen
        accruals = CommissionAccrual.objects.filter(beneficiary=leader, matured_at__isnull=True)
        assert balances.pending_fen == sum(a.amount_fen - a.reversed_fen for a in accruals)


class TestLedgerInvariant:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=operations)
    def test_any_sequence_keeps_the_ledger_balanced(
        self, committed: Committed, steps: list[tuple[str, int, int]]
    ) -> None:
        # given a two-level chain and rates with odd numbers (rounding everywhere); the
        # database and the clock carry on from one example to the next, so the invariant is
        # checked over the whole accumulated history
        with clock.frozen(next(_example_starts)):
            recruiter = make_leader()
            leader = recruited_by(recruiter)
            world: dict[str, Any] = {
                "buyers": [customer_of(leader), customer_of(leader), customer_of(recruiter)],
                "sku": sku(3_337),
                "orders": [],
            }
            rule(1, 733)
            rule(2, 217, cap_fen=1_000)
            # when the operations run
            for step in steps:
                _apply(committed, world, step)
                clock.advance(dt.timedelta(hours=5))
            # then
            _assert_invariants([leader, recruiter])
