"""The commission jobs: registered under their names, and each calls its service."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.groupbuy.commission.selectors import leader_commission_balances
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.tasks import commission_leaders_relevel, commission_mature
from tests.groupbuy.commission.helpers import (
    Committed,
    committed,
    customer_of,
    paid_order,
    rule,
    sku,
)
from tests.groupbuy.factories import make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]


class TestCommissionJobs:
    def test_the_jobs_have_their_names(self) -> None:
        assert commission_mature.s().name == "groupbuy.commission_mature"
        assert commission_leaders_relevel.s().name == "groupbuy.leaders_relevel"

    def test_maturing_then_relevelling_on_the_first(self, committed: Committed) -> None:
        # given a leader who sold ¥3,000 with 1 % commission in November
        with clock.frozen(dt.datetime(2026, 11, 10, 4, 0, tzinfo=dt.UTC)):
            leader = make_leader()
            rule(1, 100)
            paid_order(committed, customer_of(leader), (sku(150_000), 2))
        # when the jobs run on 1 December (09:30 Shanghai)
        with clock.frozen(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)):
            assert commission_mature.call_local() == 1
            assert commission_leaders_relevel.call_local() == 1
        # then the commission is settleable and the leader regular
        assert leader_commission_balances(leader=leader).settleable_fen == 3_000
        assert GroupLeader.objects.get(pk=leader.pk).level.code == "regular"
