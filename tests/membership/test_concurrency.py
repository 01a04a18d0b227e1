"""Two spends racing for one balance, on real threads and connections (SQLite and PostgreSQL).

PostgreSQL serialises them on the membership row lock; SQLite's IMMEDIATE transactions take
the database write lock at BEGIN, so the second spend waits and then sees the first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from freshloop.membership.errors import InsufficientPoints
from freshloop.membership.models import PointsEntry
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
