"""Membership services against the real database: one class per service."""

from __future__ import annotations

from typing import Any

import pytest

from freshloop.core.events import subscribe, unsubscribe
from freshloop.core.models import AuditLog
from freshloop.identity.models import Person, PersonStatus
from freshloop.membership.errors import (
    InsufficientPoints,
    InvalidMemberLevel,
    InvalidPointsRequest,
    MemberNotFound,
    PointsRefConflict,
)
from freshloop.membership.events import MemberLevelChanged
from freshloop.membership.models import MemberLevel, Membership, PointsEntry, PointsKind
from freshloop.membership.services import (
    fen_to_points,
    ledger_verify,
    member_benefits,
    member_benefits_many,
    member_level_save,
    membership_get_or_create,
    membership_level_recalculate,
    membership_levels_ensure,
    points_adjust,
    points_earn_for_order,
    points_for_payment,
    points_max_redeemable,
    points_reverse_for_refund,
    points_spend,
    points_spend_return,
    points_to_fen,
)
from tests.factories import make_person
from tests.membership.helpers import TEST_ACTOR, give_points, level, membership_of

pytestmark = pytest.mark.django_db


class TestMembershipLevelsEnsure:
    def test_creates_the_four_default_levels_once(self) -> None:
        MemberLevel.objects.all().delete()
        membership_levels_ensure()
        membership_levels_ensure()
        assert list(MemberLevel.objects.values_list("name", flat=True)) == [
            "普通会员",
            "银卡",
            "金卡",
            "黑金",
        ]

    def test_never_overwrites_an_operator_edit(self) -> None:
        gold = level("gold")
        gold.discount_percent = 7
        gold.save()
        membership_levels_ensure()
        assert level("gold").discount_percent == 7


class TestMembershipGetOrCreate:
    def test_new_member_starts_on_the_lowest_level_with_nothing(self) -> None:
        person = make_person()
        membership = membership_get_or_create(person=person)
        assert membership.level.code == "regular"
        assert (membership.points_balance, membership.lifetime_spend_fen) == (0, 0)
        assert membership_get_or_create(person=person).pk == membership.pk

    def test_levels_are_created_if_the_table_was_emptied(self) -> None:
        MemberLevel.objects.all().delete()
        membership = membership_get_or_create(person=make_person())
        assert membership.level.code == "regular"


class TestMemberBenefits:
    def test_non_member_gets_the_lowest_level(self) -> None:
        benefits = member_benefits(person_id=make_person().pk)
        assert benefits.level_code == "regular"
        assert benefits.discount_percent == 0
        assert benefits.free_shipping is False

    def test_gold_member_gets_gold_benefits(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=500_000)
        benefits = member_benefits(person_id=person.pk)
        assert (benefits.level_code, benefits.level_name) == ("gold", "金卡")
        assert benefits.discount_percent == 5
        assert benefits.free_shipping is True

    def test_unknown_person(self) -> None:
        with pytest.raises(MemberNotFound):
            member_benefits(person_id=999_999)

    def test_many_at_once_answers_as_one_at_a_time(self) -> None:
        # given a non-member, a gold member, and a person merged into the gold member
        plain, gold, merged = make_person(), make_person(), make_person()
        points_earn_for_order(person_id=gold.pk, order_ref="O-1", paid_amount_fen=500_000)
        Person.objects.filter(pk=merged.pk).update(status=PersonStatus.MERGED, merged_into=gold)
        people = [plain.pk, gold.pk, merged.pk]
        # then a batch's read gives each the benefits member_benefits gives them
        many = member_benefits_many(person_ids=[*people, gold.pk])
        assert many == {pk: member_benefits(person_id=pk) for pk in people}
        assert many[merged.pk].level_code == "gold"
        assert member_benefits_many(person_ids=[]) == {}

    def test_levels_table_emptied_still_answers_the_lowest_level(self) -> None:
        MemberLevel.objects.all().delete()
        assert member_benefits(person_id=make_person().pk).level_code == "regular"

    def test_a_checkout_pays_one_statement_for_it(self, django_assert_num_queries: Any) -> None:
        # given a member and a non-member
        member, other = make_person(), make_person()
        points_earn_for_order(person_id=member.pk, order_ref="O-1", paid_amount_fen=500_000)
        # then each asks once: person, membership and level in one read
        for person in (member, other):
            with django_assert_num_queries(1):
                member_benefits(person_id=person.pk)


class TestConversions:
    def test_one_hundred_points_are_one_yuan(self) -> None:
        assert points_to_fen(100) == 100
        assert fen_to_points(100) == 100
        assert points_to_fen(fen_to_points(12_345)) == 12_345

    def test_points_for_payment_drops_fractions_after_multiplying(self) -> None:
        assert points_for_payment(paid_amount_fen=999, multiplier_bp=15000) == 14
        assert points_for_payment(paid_amount_fen=999, multiplier_bp=10000) == 9
        assert points_for_payment(paid_amount_fen=99, multiplier_bp=10000) == 0


class TestPointsMaxRedeemable:
    def test_capped_at_half_the_goods_amount(self) -> None:
        person = make_person()
        give_points(person, 10_000)
        assert points_max_redeemable(person_id=person.pk, goods_fen=5_001) == 2_500

    def test_capped_at_the_balance(self) -> None:
        person = make_person()
        give_points(person, 300)
        assert points_max_redeemable(person_id=person.pk, goods_fen=100_000) == 300

    def test_non_member_has_nothing_to_redeem(self) -> None:
        assert points_max_redeemable(person_id=make_person().pk, goods_fen=100_000) == 0

    def test_negative_goods_amount_is_refused(self) -> None:
        with pytest.raises(InvalidPointsRequest):
            points_max_redeemable(person_id=make_person().pk, goods_fen=-1)


class TestPointsSpend:
    def test_spends_and_records_the_balance_after(self) -> None:
        person = make_person()
        give_points(person, 500)
        entry = points_spend(person_id=person.pk, points=200, order_ref="O-1")
        assert (entry.kind, entry.delta, entry.balance_after) == (PointsKind.SPEND, -200, 300)
        assert membership_of(person).points_balance == 300
        assert AuditLog.objects.filter(action="points.spend").count() == 1

    def test_repeated_call_for_the_same_order_is_idempotent(self) -> None:
        person = make_person()
        give_points(person, 500)
        first = points_spend(person_id=person.pk, points=200, order_ref="O-1")
        again = points_spend(person_id=person.pk, points=200, order_ref="O-1")
        assert again.pk == first.pk
        assert membership_of(person).points_balance == 300

    def test_same_order_with_different_points_conflicts(self) -> None:
        person = make_person()
        give_points(person, 500)
        points_spend(person_id=person.pk, points=200, order_ref="O-1")
        with pytest.raises(PointsRefConflict):
            points_spend(person_id=person.pk, points=100, order_ref="O-1")

    def test_more_than_the_balance_is_refused_and_nothing_written(self) -> None:
        person = make_person()
        give_points(person, 100)
        with pytest.raises(InsufficientPoints) as caught:
            points_spend(person_id=person.pk, points=101, order_ref="O-1")
        assert caught.value.status == 422
        assert "积分余额不足" in caught.value.text
        assert membership_of(person).points_balance == 100
        assert not PointsEntry.objects.filter(kind=PointsKind.SPEND).exists()

    @pytest.mark.parametrize("points", [0, -5, True])
    def test_bad_points_are_refused(self, points: Any) -> None:
        person = make_person()
        give_points(person, 100)
        with pytest.raises(InvalidPointsRequest):
            points_spend(person_id=person.pk, points=points, order_ref="O-1")

    @pytest.mark.parametrize("order_ref", ["", "   ", "x" * 65])
    def test_bad_order_ref_is_refused(self, order_ref: str) -> None:
        with pytest.raises(InvalidPointsRequest):
            points_spend(person_id=make_person().pk, points=1, order_ref=order_ref)


class TestPointsSpendReturn:
    def test_gives_back_what_the_order_spent_once(self) -> None:
        person = make_person()
        give_points(person, 500)
        points_spend(person_id=person.pk, points=200, order_ref="O-1")
        returned = points_spend_return(person_id=person.pk, order_ref="O-1")
        again = points_spend_return(person_id=person.pk, order_ref="O-1")
        assert returned is not None
        assert again is not None
        assert (returned.kind, returned.delta) == (PointsKind.SPEND_RETURN, 200)
        assert again.pk == returned.pk
        assert membership_of(person).points_balance == 500

    def test_order_that_spent_nothing_returns_none(self) -> None:
        person = make_person()
        assert points_spend_return(person_id=person.pk, order_ref="O-9") is None
        assert not PointsEntry.objects.exists()


class TestPointsEarnForOrder:
    def test_one_point_per_yuan_and_lifetime_spend(self) -> None:
        person = make_person()
        entry = points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=12_399)
        assert entry is not None
        assert (entry.kind, entry.delta, entry.amount_fen) == (PointsKind.EARN, 123, 12_399)
        membership = membership_of(person)
        assert membership.points_balance == 123
        assert membership.points_earned_total == 123
        assert membership.lifetime_spend_fen == 12_399

    def test_idempotent_per_order(self) -> None:
        person = make_person()
        first = points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        again = points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        assert first is not None
        assert again is not None
        assert again.pk == first.pk
        assert membership_of(person).lifetime_spend_fen == 10_000
        assert membership_of(person).points_balance == 100

    def test_level_multiplier_applies(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=500_000)
        assert membership_of(person).level.code == "gold"
        entry = points_earn_for_order(person_id=person.pk, order_ref="O-2", paid_amount_fen=10_000)
        assert entry is not None
        assert entry.delta == 150

    def test_crossing_a_threshold_upgrades_and_announces_it(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        person = make_person()
        heard: list[MemberLevelChanged] = []
        subscribe(MemberLevelChanged)(heard.append)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=99_900)
            assert heard == []
            with django_capture_on_commit_callbacks(execute=True):
                points_earn_for_order(person_id=person.pk, order_ref="O-2", paid_amount_fen=100)
        finally:
            unsubscribe(MemberLevelChanged, heard.append)
        assert membership_of(person).level.code == "silver"
        assert [(e.from_level_code, e.to_level_code) for e in heard] == [("regular", "silver")]
        assert heard[0].one_id == person.one_id

    def test_points_threshold_alone_qualifies(self) -> None:
        person = make_person()
        spend_only = level("silver")
        spend_only.min_lifetime_spend_fen = 10_000_000
        spend_only.save()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=100_000)
        assert membership_of(person).level.code == "silver"

    def test_operator_credits_do_not_count_towards_a_level(self) -> None:
        person = make_person()
        give_points(person, 50_000)
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=100)
        assert membership_of(person).level.code == "regular"

    def test_nothing_paid_records_nothing(self) -> None:
        person = make_person()
        assert (
            points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=0) is None
        )
        assert not PointsEntry.objects.exists()

    def test_negative_amount_is_refused(self) -> None:
        with pytest.raises(InvalidPointsRequest):
            points_earn_for_order(person_id=make_person().pk, order_ref="O-1", paid_amount_fen=-1)


class TestPointsReverseForRefund:
    def test_partial_refunds_take_back_their_share_and_the_last_takes_the_rest(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_050)
        # earned 100 points on ¥100.50
        first = points_reverse_for_refund(
            person_id=person.pk,
            order_ref="O-1",
            refund_ref="R-1",
            refunded_fen=3_350,
            order_paid_fen=10_050,
        )
        second = points_reverse_for_refund(
            person_id=person.pk,
            order_ref="O-1",
            refund_ref="R-2",
            refunded_fen=6_700,
            order_paid_fen=10_050,
        )
        assert first is not None
        assert second is not None
        assert first.delta == -33  # floor(100 × 3350 / 10050)
        assert second.delta == -67
        membership = membership_of(person)
        assert membership.points_balance == 0
        assert membership.lifetime_spend_fen == 0
        assert membership.points_earned_total == 0

    def test_idempotent_per_refund(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        kwargs: dict[str, Any] = {
            "person_id": person.pk,
            "order_ref": "O-1",
            "refund_ref": "R-1",
            "refunded_fen": 5_000,
            "order_paid_fen": 10_000,
        }
        first = points_reverse_for_refund(**kwargs)
        again = points_reverse_for_refund(**kwargs)
        assert first is not None
        assert again is not None
        assert again.pk == first.pk
        assert membership_of(person).points_balance == 50
        assert membership_of(person).lifetime_spend_fen == 5_000

    def test_already_spent_points_leave_a_recorded_shortfall_not_a_debt(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        points_spend(person_id=person.pk, points=80, order_ref="O-2")
        entry = points_reverse_for_refund(
            person_id=person.pk,
            order_ref="O-1",
            refund_ref="R-1",
            refunded_fen=10_000,
            order_paid_fen=10_000,
        )
        assert entry is not None
        assert (entry.delta, entry.shortfall, entry.balance_after) == (-20, 80, 0)
        assert membership_of(person).points_balance == 0

    def test_refund_below_a_threshold_downgrades(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=100_000)
        assert membership_of(person).level.code == "silver"
        points_reverse_for_refund(
            person_id=person.pk,
            order_ref="O-1",
            refund_ref="R-1",
            refunded_fen=1_000,
            order_paid_fen=100_000,
        )
        assert membership_of(person).level.code == "regular"

    def test_order_that_earned_nothing_returns_none(self) -> None:
        person = make_person()
        result = points_reverse_for_refund(
            person_id=person.pk,
            order_ref="O-1",
            refund_ref="R-1",
            refunded_fen=100,
            order_paid_fen=100,
        )
        assert result is None

    def test_refunding_more_than_was_paid_is_refused(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        points_reverse_for_refund(
            person_id=person.pk,
            order_ref="O-1",
            refund_ref="R-1",
            refunded_fen=6_000,
            order_paid_fen=10_000,
        )
        with pytest.raises(InvalidPointsRequest):
            points_reverse_for_refund(
                person_id=person.pk,
                order_ref="O-1",
                refund_ref="R-2",
                refunded_fen=6_000,
                order_paid_fen=10_000,
            )
        assert membership_of(person).points_balance == 40


class TestPointsAdjust:
    def test_credit_and_debit_are_audited_with_the_operator(self) -> None:
        person = make_person()
        points_adjust(person_id=person.pk, delta=300, reason="客诉补偿", actor=TEST_ACTOR)
        entry = points_adjust(person_id=person.pk, delta=-100, reason="误发收回", actor=TEST_ACTOR)
        assert (entry.kind, entry.balance_after, entry.actor_label) == ("adjust", 200, "tests")
        audits = AuditLog.objects.filter(action="points.adjust", actor_label="tests")
        assert audits.count() == 2

    def test_debit_below_zero_is_refused(self) -> None:
        person = make_person()
        give_points(person, 10)
        with pytest.raises(InsufficientPoints):
            points_adjust(person_id=person.pk, delta=-11, reason="收回", actor=TEST_ACTOR)
        assert membership_of(person).points_balance == 10

    @pytest.mark.parametrize(("delta", "reason"), [(0, "x"), (5, ""), (5, "  "), (10**9, "x")])
    def test_bad_adjustments_are_refused(self, delta: int, reason: str) -> None:
        with pytest.raises(InvalidPointsRequest):
            points_adjust(person_id=make_person().pk, delta=delta, reason=reason, actor=TEST_ACTOR)


class TestMembershipLevelRecalculate:
    def test_raised_threshold_downgrades_only_when_allowed(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=100_000)
        silver = level("silver")
        silver.min_lifetime_spend_fen = 200_000
        silver.min_points_earned = 2_000
        silver.save()
        membership_level_recalculate(person_id=person.pk, allow_downgrade=False)
        assert membership_of(person).level.code == "silver"
        membership_level_recalculate(person_id=person.pk, allow_downgrade=True)
        assert membership_of(person).level.code == "regular"


class TestMemberLevelSave:
    def test_valid_change_is_saved_and_audited(self) -> None:
        gold = level("gold")
        gold.discount_percent = 10
        member_level_save(actor=TEST_ACTOR, level=gold)
        assert level("gold").discount_percent == 10
        audit = AuditLog.objects.get(action="membership.level_save")
        assert audit.before is not None
        assert audit.before["discount_percent"] == 5
        assert audit.after is not None
        assert audit.after["discount_percent"] == 10

    def test_discount_over_30_percent_is_refused(self) -> None:
        gold = level("gold")
        gold.discount_percent = 31
        with pytest.raises(InvalidMemberLevel):
            member_level_save(actor=TEST_ACTOR, level=gold)
        assert level("gold").discount_percent == 5


class TestLedgerVerify:
    def test_a_normal_history_verifies(self) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        points_spend(person_id=person.pk, points=40, order_ref="O-2")
        points_spend_return(person_id=person.pk, order_ref="O-2")
        result = ledger_verify(person_id=person.pk)
        assert result.ok is True
        assert result.entries_checked == 3

    def test_a_person_without_entries_verifies(self) -> None:
        person = make_person()
        assert ledger_verify(person_id=person.pk).ok is True

    def test_balance_changed_behind_the_ledger_is_caught(self) -> None:
        person = make_person()
        give_points(person, 100)
        Membership.objects.filter(person=person).update(points_balance=5_000)
        result = ledger_verify(person_id=person.pk)
        assert result.ok is False
        assert "不符" in result.problem
