"""Two spends racing for one balance, on real threads and connections (SQLite and PostgreSQL).

PostgreSQL serialises them on the membership row lock; SQLite's IMMEDIATE transactions take
the database write lock at BEGIN, so the second spend waits and then sees the first.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from freshloop.membership.errors import InsufficientPoints
from freshloop.membership.models import MemberLevel, PointsEntry
from freshloop.membership.services import ledger_verify, points_earn_for_order, points_spend
from tests.concurrency import errors_of, run_at_once
from tests.factories import make_person
from tests.membership.helpers import give_points, membership_of


def _run_concurrently(calls: list[Callable[[], object]]) -> list[BaseException]:
    # each call inside its own transaction: the caller's (an order's)
    return errors_of(run_at_once(calls, in_transaction=True))


@pytest.mark.django_db(transaction=True)
class TestPointsSpendConcurrency:
    def test_only_one_of_two_overlapping_spends_succeeds(self) -> None:
        for round_number in range(5):
            # given 100 points and two orders wanting 60 each, at the same instant
            person = make_person()
            give_points(person, 100)
            errors = _run_concurrently(
                [
                    functools.partial(
                        points_spend, person_id=person.pk, points=60, order_ref=f"A-{round_number}"
                    ),
                    functools.partial(
                        points_spend, person_id=person.pk, points=60, order_ref=f"B-{round_number}"
                    ),
                ]
            )
            # then exactly one is refused for lack of points, the balance never went negative
            assert len(errors) == 1, errors
            assert isinstance(errors[0], InsufficientPoints)
            assert membership_of(person).points_balance == 40
            assert PointsEntry.objects.filter(person=person, kind="spend").count() == 1
            assert ledger_verify(person_id=person.pk).ok

    def test_spends_that_fit_together_both_succeed_and_the_chain_holds(self) -> None:
        person = make_person()
        give_points(person, 100)
        errors = _run_concurrently(
            [
                lambda: points_spend(person_id=person.pk, points=30, order_ref="A"),
                lambda: points_spend(person_id=person.pk, points=30, order_ref="B"),
                lambda: points_earn_for_order(
                    person_id=person.pk, order_ref="C", paid_amount_fen=5_000
                ),
            ]
        )
        assert errors == []
        assert membership_of(person).points_balance == 90
        assert ledger_verify(person_id=person.pk).ok

    def test_the_same_earn_delivered_twice_at_once_counts_once(self) -> None:
        person = make_person()
        errors = _run_concurrently(
            [
                lambda: points_earn_for_order(
                    person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000
                )
            ]
            * 2
        )
        assert errors == []
        assert membership_of(person).points_balance == 100
        assert membership_of(person).lifetime_spend_fen == 10_000


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite has one writer at a time")
class TestMembershipLockScope:
    def test_a_members_points_do_not_wait_on_their_levels_row(self) -> None:
        # given a member, and another transaction holding their level's row (an operator
        # editing it, or another member's write that once locked the level with its membership)
        person = make_person()
        give_points(person, 100)
        level_id = membership_of(person).level_id
        level_held = threading.Event()
        done = threading.Event()

        def hold_the_level() -> None:
            with transaction.atomic():
                list(MemberLevel.objects.select_for_update().filter(pk=level_id))
                level_held.set()
                done.wait(timeout=10)

        def spend() -> int:
            level_held.wait(timeout=10)
            try:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL lock_timeout = '2s'")
                    return points_spend(person_id=person.pk, points=10, order_ref="L-1").pk
            finally:
                done.set()

        # when the member spends points meanwhile
        outcomes = run_at_once([hold_the_level, spend])

        # then the spend went through without waiting for the level
        assert errors_of(outcomes) == []
        assert membership_of(person).points_balance == 90
