"""The monthly level job: leaders move up and down by last month's net attributed GMV; an
operator's override made since the month began holds."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.groupbuy.commission.relevel import month_bounds, previous_month
from freshloop.groupbuy.commission.services import leaders_relevel
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.services import leader_level_set
from tests.groupbuy.commission.helpers import (
    Committed,
    committed,
    customer_of,
    paid_order,
    refund,
    sku,
)
from tests.groupbuy.factories import OPERATOR, make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]

IN_NOVEMBER = dt.datetime(2026, 11, 10, 4, 0, tzinfo=dt.UTC)
NOVEMBER = dt.date(2026, 11, 1)


def level_of(leader: GroupLeader) -> str:
    leader.refresh_from_db()
    return leader.level.code


class TestMonthBounds:
    def test_a_shanghai_month_in_utc(self) -> None:
        start, end = month_bounds(dt.date(2026, 12, 15))
        assert start == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)
        assert end == dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)
        assert previous_month(dt.date(2027, 1, 1)) == dt.date(2026, 12, 1)


class TestLeadersRelevel:
    def test_leaders_move_to_the_rung_their_gmv_reached(self, committed: Committed) -> None:
        # given in November: A sold ¥3,000 (regular), B ¥20,000 (gold), C nothing
        with clock.frozen(IN_NOVEMBER):
            a, b, c = make_leader(), make_leader(), make_leader()
            paid_order(committed, customer_of(a), (sku(150_000), 2))
            paid_order(committed, customer_of(b), (sku(1_000_000), 2))
        # when the job runs for November, twice
        with clock.frozen(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)):
            changes = leaders_relevel(month=NOVEMBER)
            assert leaders_relevel(month=NOVEMBER) == []
        # then
        assert (level_of(a), level_of(b), level_of(c)) == ("regular", "gold", "trainee")
        assert {(x.leader_no, x.to_level) for x in changes} == {
            (a.leader_no, "regular"),
            (b.leader_no, "gold"),
        }
        assert AuditLog.objects.filter(action="groupbuy.leader.relevel").count() == 2

    def test_refunds_count_against_the_gmv_and_leaders_move_down(
        self, committed: Committed
    ) -> None:
        # given a gold leader who sold ¥3,000 in November and refunded ¥100 of it
        with clock.frozen(IN_NOVEMBER):
            leader = make_leader()
            leader_level_set(actor=OPERATOR, leader_no=leader.leader_no, level_code="gold")
            order = paid_order(committed, customer_of(leader), (sku(150_000), 2))
            refund(committed, order, 10_000)
        # when the job runs for November: the override was made in November, so it holds
        with clock.frozen(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)):
            leaders_relevel(month=NOVEMBER)
        assert level_of(leader) == "gold"
        # and a month later (December: no sales, the override older than December) it drops
        with clock.frozen(dt.datetime(2027, 1, 1, 1, 30, tzinfo=dt.UTC)):
            leaders_relevel(month=dt.date(2026, 12, 1))
        assert level_of(leader) == "trainee"

    def test_net_gmv_below_the_threshold_is_not_enough(self, committed: Committed) -> None:
        with clock.frozen(IN_NOVEMBER):
            leader = make_leader()
            order = paid_order(committed, customer_of(leader), (sku(150_000), 2))
            refund(committed, order, 100)
        with clock.frozen(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)):
            leaders_relevel(month=NOVEMBER)
        assert level_of(leader) == "trainee"

    def test_months_are_shanghai_months(self, committed: Committed) -> None:
        # given an order paid on 31 Oct 16:30 UTC, which is 1 Nov 00:30 in Shanghai
        with clock.frozen(dt.datetime(2026, 10, 31, 16, 30, tzinfo=dt.UTC)):
            leader = make_leader()
            paid_order(committed, customer_of(leader), (sku(150_000), 2))
        with clock.frozen(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)):
            leaders_relevel(month=dt.date(2026, 10, 1))
        assert level_of(leader) == "trainee"
        with clock.frozen(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)):
            leaders_relevel(month=NOVEMBER)
        assert level_of(leader) == "regular"
