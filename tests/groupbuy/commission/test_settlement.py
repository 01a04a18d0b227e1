"""Settlement runs: statements per leader, four-eyes approval, payout, refunds after payout
carried into the next statement (computed by hand), CSV and PDF."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.groupbuy.commission.errors import (
    CommissionInputInvalid,
    SettlementRunOpen,
    SettlementSelfApproval,
    SettlementStateInvalid,
)
from freshloop.groupbuy.commission.exports import statement_csv, statement_pdf
from freshloop.groupbuy.commission.models import SettlementStatus
from freshloop.groupbuy.commission.selectors import leader_commission_balances
from freshloop.groupbuy.commission.services import (
    accruals_mature,
    settlement_run_approve,
    settlement_run_cancel,
    settlement_run_create,
    statement_mark_paid,
)
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

CREATOR = Actor(type="user", id="1", label="ops-lily")
APPROVER = Actor(type="user", id="2", label="fin-wang")
START = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 Shanghai, 2 Nov


@pytest.fixture
def november() -> Iterator[None]:
    with clock.frozen(START):
        yield


def shanghai_today() -> dt.date:
    return clock.to_shanghai(clock.now()).date()


def mature_and_wait_a_day() -> None:
    """Past the 7-day window, the job runs; a day later that day is over and can be settled."""
    clock.advance(dt.timedelta(days=8))
    accruals_mature()
    clock.advance(dt.timedelta(days=1))


def settle_and_pay(period_end: dt.date) -> list:
    run = settlement_run_create(actor=CREATOR, period_end=period_end)
    settlement_run_approve(actor=APPROVER, run_no=run.run_no)
    statements = list(run.statements.order_by("pk"))
    for statement in statements:
        statement_mark_paid(
            actor=APPROVER, statement_no=statement.statement_no, payment_ref="BANK1"
        )
    return statements


class TestSettlementRunCreate:
    def test_a_statement_per_leader_with_what_matured_before_the_cutoff(
        self, committed: Committed, november: None
    ) -> None:
        # given B (recruited by A) sold ¥100 on 2 Nov with 8 % / 3 %, matured on 9 Nov, and
        # another ¥100 order on 9 Nov still in its after-sales window
        recruiter = make_leader()
        leader = recruited_by(recruiter)
        buyer = customer_of(leader)
        item = sku(10_000)
        rule(1, 800)
        rule(2, 300)
        paid_order(committed, buyer, (item, 1))
        clock.advance(dt.timedelta(days=7))
        accruals_mature()
        paid_order(committed, buyer, (item, 1))
        clock.advance(dt.timedelta(days=1))
        # when an operator settles up to yesterday (9 Nov)
        run = settlement_run_create(
            actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1)
        )
        # then B is owed 800 and A 300; the second order is not in it
        amounts = {s.leader_id: s.amount_fen for s in run.statements.all()}
        assert amounts == {leader.pk: 800, recruiter.pk: 300}
        assert (run.total_fen, run.statement_count, run.status) == (
            1_100,
            2,
            SettlementStatus.DRAFT,
        )
        assert run.period_start is None

    def test_a_period_not_yet_over_is_refused(self, november: None) -> None:
        with pytest.raises(CommissionInputInvalid):
            settlement_run_create(actor=CREATOR, period_end=shanghai_today())

    def test_one_draft_at_a_time(self, november: None) -> None:
        settlement_run_create(actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=2))
        with pytest.raises(SettlementRunOpen):
            settlement_run_create(actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1))

    def test_periods_follow_each_other(self, november: None) -> None:
        first = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 10, 31))
        settlement_run_approve(actor=APPROVER, run_no=first.run_no)
        with pytest.raises(CommissionInputInvalid):
            settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 10, 30))
        second = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 11, 1))
        assert second.period_start == first.period_end


class TestSettlementRunApprove:
    def test_the_creator_cannot_approve(self, november: None) -> None:
        run = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 10, 31))
        with pytest.raises(SettlementSelfApproval) as refused:
            settlement_run_approve(actor=CREATOR, run_no=run.run_no)
        assert refused.value.status == 403

    def test_approval_moves_settleable_to_payable(
        self, committed: Committed, november: None
    ) -> None:
        leader = make_leader()
        rule(1, 500)
        paid_order(committed, customer_of(leader), (sku(10_000), 1))
        mature_and_wait_a_day()
        run = settlement_run_create(
            actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1)
        )
        settlement_run_approve(actor=APPROVER, run_no=run.run_no)
        balances = leader_commission_balances(leader=leader)
        assert (balances.settleable_fen, balances.payable_fen) == (0, 500)
        assert AuditLog.objects.filter(action="groupbuy.settlement.approve").count() == 1
        with pytest.raises(SettlementStateInvalid):
            settlement_run_approve(actor=APPROVER, run_no=run.run_no)


class TestSettlementRunCancel:
    def test_a_cancelled_draft_frees_the_period(self, november: None) -> None:
        run = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 10, 31))
        settlement_run_cancel(actor=APPROVER, run_no=run.run_no)
        again = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 10, 31))
        assert again.period_start is None


class TestStatementMarkPaid:
    def test_paying_moves_payable_to_cash_and_closes_the_run(
        self, committed: Committed, november: None
    ) -> None:
        leader = make_leader()
        rule(1, 500)
        paid_order(committed, customer_of(leader), (sku(10_000), 1))
        mature_and_wait_a_day()
        (statement,) = settle_and_pay(shanghai_today() - dt.timedelta(days=1))
        statement.refresh_from_db()
        assert (statement.status, statement.payment_ref) == (SettlementStatus.PAID, "BANK1")
        assert statement.run.status == SettlementStatus.PAID
        balances = leader_commission_balances(leader=leader)
        assert (balances.payable_fen, balances.paid_fen) == (0, 500)
        with pytest.raises(SettlementStateInvalid):
            statement_mark_paid(
                actor=APPROVER, statement_no=statement.statement_no, payment_ref="X"
            )

    def test_a_draft_statement_cannot_be_paid(self, committed: Committed, november: None) -> None:
        leader = make_leader()
        rule(1, 500)
        paid_order(committed, customer_of(leader), (sku(10_000), 1))
        mature_and_wait_a_day()
        run = settlement_run_create(
            actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1)
        )
        with pytest.raises(SettlementStateInvalid):
            statement_mark_paid(
                actor=APPROVER, statement_no=run.statements.get().statement_no, payment_ref="X"
            )


class TestRefundAfterSettlement:
    def test_half_refunded_after_payout_is_netted_off_the_next_statement(
        self, committed: Committed, november: None
    ) -> None:
        # given B (8 %) and A (3 %) paid out for a ¥100 order: B 800, A 300
        recruiter = make_leader()
        leader = recruited_by(recruiter)
        buyer = customer_of(leader)
        item = sku(10_000)
        rule(1, 800)
        rule(2, 300)
        order = paid_order(committed, buyer, (item, 1))
        mature_and_wait_a_day()
        settle_and_pay(shanghai_today() - dt.timedelta(days=1))
        # when ¥50 of it is refunded after the payout
        refund(committed, order, 5_000)
        # then B owes 400 back and A 150: settleable below zero
        assert leader_commission_balances(leader=leader).settleable_fen == -400
        assert leader_commission_balances(leader=recruiter).settleable_fen == -150
        # and the next sale (¥100 again: B 800, A 300) is netted on the next statements:
        # B 800 − 400 = 400, A 300 − 150 = 150
        paid_order(committed, buyer, (item, 1))
        clock.advance(dt.timedelta(days=8))
        accruals_mature()
        clock.advance(dt.timedelta(days=1))
        run = settlement_run_create(
            actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1)
        )
        statements = {s.leader_id: s for s in run.statements.all()}
        mine, theirs = statements[leader.pk], statements[recruiter.pk]
        assert (mine.opening_fen, mine.matured_fen, mine.reversed_fen) == (0, 800, -400)
        assert (mine.amount_fen, theirs.amount_fen) == (400, 150)
        settlement_run_approve(actor=APPROVER, run_no=run.run_no)
        assert leader_commission_balances(leader=leader).settleable_fen == 0
        assert leader_commission_balances(leader=recruiter).settleable_fen == 0

    def test_a_receivable_without_new_sales_carries_forward(
        self, committed: Committed, november: None
    ) -> None:
        # given B paid out 800 for a ¥100 order, then ¥50 refunded: settleable −400
        leader = make_leader()
        buyer = customer_of(leader)
        item = sku(10_000)
        rule(1, 800)
        order = paid_order(committed, buyer, (item, 1))
        mature_and_wait_a_day()
        settle_and_pay(shanghai_today() - dt.timedelta(days=1))
        refund(committed, order, 5_000)
        clock.advance(dt.timedelta(days=2))
        # when the next run has nothing new for B: no statement, the −400 stays
        run = settlement_run_create(
            actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1)
        )
        assert run.statement_count == 0
        assert leader_commission_balances(leader=leader).settleable_fen == -400
        # and a later ¥100 sale (800) opens at −400 on the run after
        settlement_run_approve(actor=APPROVER, run_no=run.run_no)
        paid_order(committed, buyer, (item, 1))
        mature_and_wait_a_day()
        later = settlement_run_create(
            actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1)
        )
        statement = later.statements.get()
        assert (statement.opening_fen, statement.matured_fen, statement.amount_fen) == (
            -400,
            800,
            400,
        )


class TestStatementFiles:
    def test_csv_and_pdf_carry_the_statement(self, committed: Committed, november: None) -> None:
        leader = make_leader()
        rule(1, 800)
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        mature_and_wait_a_day()
        run = settlement_run_create(
            actor=CREATOR, period_end=shanghai_today() - dt.timedelta(days=1)
        )
        statement = run.statements.get()
        text = statement_csv(statement=statement)
        assert text.startswith("\ufeff结算单号,")
        assert "应结算(元),8.00" in text
        assert f"售后期满,{order.order_no}" in text
        pdf = statement_pdf(statement=statement)
        assert pdf.startswith(b"%PDF")
        assert b"STSong-Light" in pdf
