"""OneID merges fold memberships together; PIPL export includes the membership."""

from __future__ import annotations

from typing import Any

import pytest

from freshloop.core.audit import Actor
from freshloop.identity.models import Person
from freshloop.identity.privacy import person_export
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.membership.models import PointsEntry
from freshloop.membership.services import (
    ledger_verify,
    member_benefits,
    membership_merge,
    points_earn_for_order,
    points_reverse_for_refund,
    points_spend,
    points_spend_return,
)
from tests.membership.helpers import give_points, membership_of

pytestmark = pytest.mark.django_db


def _shopper() -> Person:
    return identify(
        identifiers=[IdentifierInput(type="phone", value="13800138000", verified=True)],
        source="shop",
    ).person


def _visitor() -> Person:
    return identify(
        identifiers=[IdentifierInput(type="wechat_unionid", value="u-1", verified=True)],
        source="wechat_oauth",
    ).person


def _prove_same_person(callbacks: Any) -> None:
    with callbacks(execute=True):
        identify(
            identifiers=[
                IdentifierInput(type="phone", value="13800138000", verified=True),
                IdentifierInput(type="wechat_unionid", value="u-1", verified=True),
            ],
            source="h5_otp",
        )


class TestMembershipMerge:
    def test_identity_merge_moves_balance_and_totals_to_the_survivor(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given two people who are about to be found to be one
        shopper, visitor = _shopper(), _visitor()
        points_earn_for_order(person_id=shopper.pk, order_ref="O-1", paid_amount_fen=60_000)
        points_earn_for_order(person_id=visitor.pk, order_ref="O-2", paid_amount_fen=50_000)
        give_points(visitor, 7)
        # when OneID merges them
        _prove_same_person(django_capture_on_commit_callbacks)
        # then the survivor holds both balances and spends, and qualifies for silver together
        survivor, merged = membership_of(shopper), membership_of(visitor)
        assert survivor.points_balance == 600 + 500 + 7
        assert survivor.lifetime_spend_fen == 110_000
        assert survivor.points_earned_total == 1_100
        assert survivor.level.code == "silver"
        assert (merged.points_balance, merged.lifetime_spend_fen) == (0, 0)
        # and both chains remain valid, with the move recorded on each
        assert ledger_verify(person_id=shopper.pk).ok
        assert ledger_verify(person_id=visitor.pk).ok
        assert PointsEntry.objects.get(person=visitor, kind="merge_out").delta == -507
        assert PointsEntry.objects.get(person=shopper, kind="merge_in").delta == 507
        # and the merged person's checkout gets the survivor's benefits
        assert member_benefits(person_id=visitor.pk).level_code == "silver"

    def test_repeated_merge_event_moves_nothing_twice(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        shopper, visitor = _shopper(), _visitor()
        give_points(visitor, 100)
        _prove_same_person(django_capture_on_commit_callbacks)
        membership_merge(from_person_id=visitor.pk, into_person_id=shopper.pk)
        assert membership_of(shopper).points_balance == 100
        assert PointsEntry.objects.filter(kind="merge_in").count() == 1

    def test_the_higher_level_is_kept(self, django_capture_on_commit_callbacks: Any) -> None:
        shopper, visitor = _shopper(), _visitor()
        points_earn_for_order(person_id=visitor.pk, order_ref="O-1", paid_amount_fen=500_000)
        assert membership_of(visitor).level.code == "gold"
        _prove_same_person(django_capture_on_commit_callbacks)
        assert membership_of(shopper).level.code == "gold"

    def test_orders_from_before_the_merge_still_refund_and_return(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        shopper, visitor = _shopper(), _visitor()
        points_earn_for_order(person_id=visitor.pk, order_ref="O-1", paid_amount_fen=10_000)
        points_spend(person_id=visitor.pk, points=40, order_ref="O-2")
        _prove_same_person(django_capture_on_commit_callbacks)
        # the orders module now names the survivor (or still the merged id: both resolve)
        assert points_earn_for_order(
            person_id=shopper.pk, order_ref="O-1", paid_amount_fen=10_000
        ) == PointsEntry.objects.get(kind="earn")
        points_spend_return(person_id=visitor.pk, order_ref="O-2")
        points_reverse_for_refund(
            person_id=shopper.pk,
            order_ref="O-1",
            refund_ref="R-1",
            refunded_fen=10_000,
            order_paid_fen=10_000,
        )
        assert membership_of(shopper).points_balance == 0
        assert ledger_verify(person_id=shopper.pk).ok

    def test_nobody_with_a_membership_to_merge(self) -> None:
        shopper, visitor = _shopper(), _visitor()
        assert membership_merge(from_person_id=visitor.pk, into_person_id=shopper.pk) is None


class TestMembershipExportSection:
    def test_export_lists_membership_and_ledger(self) -> None:
        person = _shopper()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        document = person_export(actor=Actor.system("tests"), one_id=person.one_id)
        section = document["sections"]["membership"]
        assert section["level"]["code"] == "regular"
        assert section["points_balance"] == 100
        assert [entry["order_ref"] for entry in section["points_entries"]] == ["O-1"]
