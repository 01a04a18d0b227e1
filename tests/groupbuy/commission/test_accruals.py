"""Commission on attributed orders, computed by hand: accrual at payment over two levels,
caps, inactive recruiters, pro-rata reversal on refunds before maturing, and maturing."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.groupbuy.commission.models import (
    CommissionAccrual,
    LedgerAccount,
    LedgerKind,
    LedgerTransaction,
)
from freshloop.groupbuy.commission.selectors import leader_commission_balances
from freshloop.groupbuy.commission.services import accruals_mature, order_attribute
from freshloop.groupbuy.services import leader_suspend
from freshloop.orders.services import order_refund_request
from tests.groupbuy.commission.helpers import (
    CS,
    Committed,
    attributed,
    committed,
    customer_of,
    paid_order,
    recruited_by,
    refund,
    rule,
    sku,
)
from tests.groupbuy.factories import OPERATOR, make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]  # the fixture, used by name


def _two_levels() -> tuple:
    """Recruiter A, leader B (recruited by A), a customer of B, a ¥100 product with an 8 %
    rate of its own at depth 1 (default 5 %), and 3 % for its category at depth 2 (default 2 %)."""
    recruiter = make_leader()
    leader = recruited_by(recruiter)
    buyer = customer_of(leader)
    item = sku(10_000)
    rule(1, 500)
    rule(1, 800, product_code=item.product.code)
    rule(2, 200)
    rule(2, 300, category_code=item.product.category.code)
    return recruiter, leader, buyer, item


class TestCommissionAccrue:
    def test_a_100_yuan_order_pays_8_yuan_to_the_leader_and_3_to_the_recruiter(
        self, committed: Committed
    ) -> None:
        # given two levels and product / category rates (see _two_levels)
        recruiter, leader, buyer, item = _two_levels()
        # when the customer pays ¥100
        order = paid_order(committed, buyer, (item, 1))
        # then B accrues 10000 × 8 % = 800 fen, A 10000 × 3 % = 300 fen, both pending
        accruals = {a.depth: a for a in attributed(order).accruals.all()}
        assert (accruals[1].beneficiary_id, accruals[1].amount_fen) == (leader.pk, 800)
        assert (accruals[2].beneficiary_id, accruals[2].amount_fen) == (recruiter.pk, 300)
        assert leader_commission_balances(leader=leader).pending_fen == 800
        assert leader_commission_balances(leader=recruiter).pending_fen == 300
        assert accruals[1].matures_at == order.paid_at + dt.timedelta(days=7)

    def test_each_line_is_rounded_half_up_to_the_fen(self, committed: Committed) -> None:
        # given a 8 % rate and a ¥33.33 item
        leader = make_leader()
        buyer = customer_of(leader)
        item = sku(3_333)
        rule(1, 800)
        # when bought (shipping is not commissioned)
        order = paid_order(committed, buyer, (item, 1))
        # then 3333 × 0.08 = 266.64 → 267 fen on the GMV, shipping left out
        leader_order = attributed(order)
        assert leader_order.gmv_fen == order.paid_fen - order.shipping_fen == 3_333
        assert leader_order.accruals.get().amount_fen == 267

    def test_a_rule_cap_limits_what_it_yields_on_one_order(self, committed: Committed) -> None:
        # given 8 % capped at ¥5 per order
        leader = make_leader()
        buyer = customer_of(leader)
        item = sku(10_000)
        rule(1, 800, cap_fen=500)
        # when two units (¥200) are bought
        order = paid_order(committed, buyer, (item, 2))
        # then 1600 fen is capped to 500, and the breakdown says so
        accrual = attributed(order).accruals.get()
        assert accrual.amount_fen == 500
        assert accrual.breakdown["caps"][0]["uncapped_fen"] == 1_600

    def test_a_suspended_recruiter_earns_nothing_and_nothing_rolls_up(
        self, committed: Committed
    ) -> None:
        # given a chain top → A → B with depth-2 rules, and A suspended
        top = make_leader()
        recruiter = recruited_by(top)
        leader = recruited_by(recruiter)
        buyer = customer_of(leader)
        item = sku(10_000)
        rule(1, 500)
        rule(2, 200)
        leader_suspend(actor=OPERATOR, leader_no=recruiter.leader_no, reason="违规")
        # when the customer pays
        order = paid_order(committed, buyer, (item, 1))
        # then only B earns; top (depth 3, beyond the configured 2) gets nothing either
        accruals = list(attributed(order).accruals.all())
        assert [(a.depth, a.beneficiary_id, a.amount_fen) for a in accruals] == [
            (1, leader.pk, 500)
        ]

    def test_no_rule_means_no_commission_and_no_ledger_rows(self, committed: Committed) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        assert attributed(order).accruals.count() == 0
        assert not LedgerTransaction.objects.exists()

    @pytest.mark.django_db
    def test_depth_beyond_the_configured_one_is_not_paid(
        self, committed: Committed, settings: object
    ) -> None:
        # given the platform set to one level only
        settings.GROUPBUY_COMMISSION_MAX_DEPTH = 1  # type: ignore[attr-defined]
        recruiter = make_leader()
        leader = recruited_by(recruiter)
        rule(1, 500)
        settings.GROUPBUY_COMMISSION_MAX_DEPTH = 2  # type: ignore[attr-defined]
        rule(2, 200)
        settings.GROUPBUY_COMMISSION_MAX_DEPTH = 1  # type: ignore[attr-defined]
        # when the customer pays
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        # then the recruiter's rule is not walked to
        assert [a.depth for a in attributed(order).accruals.all()] == [1]


class TestCommissionReverse:
    def test_a_quarter_refunded_before_maturing_takes_back_a_quarter(
        self, committed: Committed
    ) -> None:
        # given the ¥100 two-level order (B 800, A 300 pending)
        recruiter, leader, buyer, item = _two_levels()
        order = paid_order(committed, buyer, (item, 1))
        # when ¥25 is refunded
        refund(committed, order, 2_500)
        # then B keeps 800 × 75 % = 600, A keeps 300 × 75 % = 225, off pending
        assert leader_commission_balances(leader=leader).pending_fen == 600
        assert leader_commission_balances(leader=recruiter).pending_fen == 225
        reversals = LedgerTransaction.objects.filter(kind=LedgerKind.REVERSE)
        assert {t.legs.get(account=LedgerAccount.LEADER_PENDING).amount_fen for t in reversals} == {
            -200,
            -75,
        }

    def test_refunding_the_rest_takes_back_everything(self, committed: Committed) -> None:
        recruiter, leader, buyer, item = _two_levels()
        order = paid_order(committed, buyer, (item, 1))
        order = refund(committed, order, 3_333)
        # 800 × 6667/10000 = 533.36 → keep 533; 300 × 0.6667 = 200.01 → keep 200
        assert leader_commission_balances(leader=leader).pending_fen == 533
        assert leader_commission_balances(leader=recruiter).pending_fen == 200
        refund(committed, order, 6_667)
        assert leader_commission_balances(leader=leader).pending_fen == 0
        assert leader_commission_balances(leader=recruiter).pending_fen == 0
        assert all(a.reversed_fen == a.amount_fen for a in CommissionAccrual.objects.all())

    def test_the_same_refund_twice_takes_back_once(self, committed: Committed) -> None:
        from freshloop.groupbuy.commission.services import order_refund_attributed

        _recruiter, leader, buyer, item = _two_levels()
        order = paid_order(committed, buyer, (item, 1))
        refund(committed, order, 5_000)
        refund_no = attributed(order).refund_nos[0]
        order_refund_attributed(
            order_id=order.pk, refund_no=refund_no, amount_fen=5_000, fully=False
        )
        assert leader_commission_balances(leader=leader).pending_fen == 400
        assert LedgerTransaction.objects.filter(kind=LedgerKind.REVERSE).count() == 2


class TestAccrualsMature:
    def test_after_seven_days_pending_becomes_settleable(self, committed: Committed) -> None:
        # given a ¥100 order with 5 % paid now
        with clock.frozen(dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)):
            leader = make_leader()
            rule(1, 500)
            paid_order(committed, customer_of(leader), (sku(10_000), 1))
            # when the job runs a day early, then nothing moves
            clock.advance(dt.timedelta(days=6))
            assert accruals_mature() == 0
            # when it runs after 7 days (twice), then 500 fen moves once
            clock.advance(dt.timedelta(days=1))
            assert accruals_mature() == 1
            assert accruals_mature() == 0
        balances = leader_commission_balances(leader=leader)
        assert (balances.pending_fen, balances.settleable_fen) == (0, 500)

    def test_a_partly_refunded_accrual_matures_with_what_is_left(
        self, committed: Committed
    ) -> None:
        with clock.frozen(dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)):
            leader = make_leader()
            rule(1, 500)
            order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
            refund(committed, order, 4_000)
            clock.advance(dt.timedelta(days=8))
            accruals_mature()
        balances = leader_commission_balances(leader=leader)
        assert (balances.pending_fen, balances.settleable_fen) == (0, 300)

    def test_an_open_refund_request_holds_maturing_back(self, committed: Committed) -> None:
        with clock.frozen(dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)):
            leader = make_leader()
            rule(1, 500)
            order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
            order_refund_request(order_no=order.order_no, reason="坏了", actor=CS, amount_fen=100)
            clock.advance(dt.timedelta(days=8))
            assert accruals_mature() == 0
        assert leader_commission_balances(leader=leader).pending_fen == 500


class TestOrderAttributeIdempotent:
    def test_a_repeated_order_paid_accrues_once(self, committed: Committed) -> None:
        leader = make_leader()
        rule(1, 500)
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        again = order_attribute(order_id=order.pk)
        assert again == attributed(order)
        assert LedgerTransaction.objects.filter(kind=LedgerKind.ACCRUE).count() == 1
