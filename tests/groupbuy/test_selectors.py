"""Leader-scoped reads: a leader sees only their own customers, tried with two leaders."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.groupbuy.selectors import (
    leader_customers,
    leader_for_person,
    leaders_list,
    leadership_of,
)
from freshloop.groupbuy.services import customer_attach, leader_reject, leader_suspend
from tests.factories import make_person
from tests.groupbuy.factories import OPERATOR, make_applicant, make_leader

pytestmark = pytest.mark.django_db

MONDAY = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)


class TestLeaderForPerson:
    def test_only_an_active_leadership_opens_the_console(self) -> None:
        pending, active = make_applicant(), make_leader()
        suspended = make_leader()
        leader_suspend(actor=OPERATOR, leader_no=suspended.leader_no, reason="暂停")
        assert leader_for_person(person=active.person) == active
        assert leader_for_person(person=pending.person) is None
        assert leader_for_person(person=suspended.person) is None
        assert leader_for_person(person=make_person()) is None

    def test_leadership_of_answers_any_status(self) -> None:
        rejected = make_applicant()
        leader_reject(actor=OPERATOR, leader_no=rejected.leader_no, reason="资料不全")
        assert leadership_of(person=rejected.person) == rejected
        assert leadership_of(person=make_person()) is None


class TestLeaderCustomers:
    def test_each_leader_sees_only_their_own_customers_with_phones_masked(self) -> None:
        # given two leaders with two and one customers
        leader_a, leader_b = make_leader(), make_leader()
        with clock.frozen(MONDAY):
            for phone in ("13900000001", "13900000002"):
                customer_attach(
                    person=make_person(phone=phone), invite_code=leader_a.invite_code, source="qr"
                )
        with clock.frozen(MONDAY + dt.timedelta(hours=1)):
            customer_attach(
                person=make_person(phone="13900000003"),
                invite_code=leader_b.invite_code,
                source="invite_link",
            )
        # when each reads their customers
        total_a, rows_a = leader_customers(leader=leader_a)
        total_b, rows_b = leader_customers(leader=leader_b)
        # then each sees only theirs, phones masked, with the end of the window
        assert total_a == 2
        assert sorted(r.masked_phone for r in rows_a) == [
            "139****0001",
            "139****0002",
        ]
        assert total_b == 1
        assert [r.masked_phone for r in rows_b] == ["139****0003"]
        assert rows_b[0].source == "invite_link"
        assert rows_b[0].locked_until == MONDAY + dt.timedelta(days=30, hours=1)

    def test_pages(self) -> None:
        leader = make_leader()
        for _ in range(3):
            customer_attach(person=make_person(), invite_code=leader.invite_code, source="qr")
        total, page = leader_customers(leader=leader, limit=2, offset=2)
        assert (total, len(page)) == (3, 1)


class TestLeadersList:
    def test_filters_by_status(self) -> None:
        pending, active = make_applicant(), make_leader()
        assert leaders_list(status="applied") == (1, [pending])
        assert leaders_list(status="active") == (1, [active])
        assert leaders_list()[0] == 2
