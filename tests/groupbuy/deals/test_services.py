"""Group deals 拼团: tiered prices, places, closing, and refunds that happen exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection  # noqa: F401 (the skipif conditions read it)

from freshloop.core import clock
from freshloop.core.outbox import outbox_relay
from freshloop.groupbuy.deals import refunds as deal_refunds
from freshloop.groupbuy.deals.errors import (
    AlreadyInDeal,
    DealInputInvalid,
    DealLimitExceeded,
    DealNotOpen,
    DealSoldOut,
    GroupClosed,
    LeaderOnlyDeal,
)
from freshloop.groupbuy.deals.models import (
    DealGroup,
    GroupDeal,
    GroupMember,
    GroupStatus,
    MemberStatus,
    RefundKind,
)
from freshloop.groupbuy.deals.services import (
    deal_end,
    deal_groups_close_due,
    group_join,
    group_open_for_leader,
    group_start,
)
from freshloop.groupbuy.models import LeaderCustomer
from freshloop.identity.models import Person
from freshloop.inventory.models import Reservation, ReservationStatus
from freshloop.messaging.models import MarketingDispatch
from freshloop.orders.models import Order, OrderStatus, RefundRequest
from freshloop.orders.services import order_cancel
from tests.concurrency import errors_of, run_at_once
from tests.factories import ADDRESS, make_person
from tests.groupbuy.deals.factories import (
    LIST_PRICE_FEN,
    TIERS,
    committed,
    make_deal,
    pay,
    worker_runs,
)
from tests.groupbuy.factories import OPERATOR, make_leader

pytestmark = pytest.mark.django_db


def _start(deal: GroupDeal, person: Person, **extra: Any) -> tuple[DealGroup, Order]:
    group, result = group_start(deal_no=deal.deal_no, person=person, address=dict(ADDRESS), **extra)
    return group, result.order


def _join(group: DealGroup, person: Person, **extra: Any) -> Order:
    return group_join(group_no=group.group_no, person=person, address=dict(ADDRESS), **extra).order


def _group_of(size: int, deal: GroupDeal) -> tuple[DealGroup, list[tuple[Person, Order]]]:
    """A group of `size` paying members."""
    starter = make_person()
    group, order = _start(deal, starter)
    pay(order.order_no, starter)
    members = [(starter, order)]
    for _ in range(size - 1):
        person = make_person()
        joined = _join(group, person)
        pay(joined.order_no, person)
        members.append((person, joined))
    group.refresh_from_db()
    return group, members


class TestDealCreate:
    def test_a_deal_sets_its_units_aside_in_one_block(self) -> None:
        deal = make_deal(quantity=30)
        block = Reservation.objects.get(order_ref=deal.block_ref, is_block=True)
        assert (block.quantity, block.status) == (30, ReservationStatus.ACTIVE)
        assert (deal.min_size, deal.max_size) == (2, 4)

    @pytest.mark.parametrize(
        ("tiers", "field"),
        [
            ([], "tiers"),
            ([{"size": 1, "price_fen": 3000}], "tiers[0]"),
            ([{"size": 2, "price_fen": LIST_PRICE_FEN}], "tiers[0]"),
            ([{"size": 3, "price_fen": 3000}, {"size": 2, "price_fen": 2000}], "tiers[1]"),
            ([{"size": 2, "price_fen": 3000}, {"size": 3, "price_fen": 3000}], "tiers[1]"),
            ([{"size": "2", "price_fen": 3000}], "tiers[0]"),
        ],
    )
    def test_tiers_must_grow_in_size_and_fall_in_price(
        self, tiers: list[dict[str, Any]], field: str
    ) -> None:
        with pytest.raises(DealInputInvalid) as refused:
            make_deal(tiers=tiers)
        assert refused.value.detail[0]["field"] == field

    def test_an_end_before_the_start_is_refused_and_nothing_is_written(self) -> None:
        with pytest.raises(DealInputInvalid):
            make_deal(ends_at=clock.now() - dt.timedelta(hours=1))
        assert not GroupDeal.objects.exists()


class TestGroupStart:
    def test_the_starter_pays_the_first_tier_price(self) -> None:
        deal = make_deal()
        group, order = _start(deal, make_person())
        assert order.channel == "groupbuy"
        assert order.source_ref == group.group_no
        assert order.lines.get().unit_price_fen == LIST_PRICE_FEN
        assert order.subtotal_fen - order.discount_fen + order.shipping_fen == order.total_fen
        member = GroupMember.objects.get(order_no=order.order_no)
        assert member.unit_price_fen == TIERS[0]["price_fen"]
        assert (group.seats, group.joined, group.status) == (1, 0, GroupStatus.OPEN)
        assert GroupDeal.objects.get(pk=deal.pk).units_held == 1

    def test_a_deal_not_started_yet_opens_no_group(self) -> None:
        deal = make_deal(starts_at=clock.now() + dt.timedelta(hours=1))
        with pytest.raises(DealNotOpen):
            _start(deal, make_person())
        assert not DealGroup.objects.exists()

    def test_a_leader_only_deal_refuses_a_customer_but_not_a_leader(self) -> None:
        deal = make_deal(leader_only=True)
        with pytest.raises(LeaderOnlyDeal):
            _start(deal, make_person())
        leader = make_leader()
        group = group_open_for_leader(deal_no=deal.deal_no, leader_person=leader.person)
        assert group.leader == leader
        assert group.seats == 0

    def test_the_same_key_twice_is_one_group_and_one_order(self) -> None:
        deal = make_deal()
        person = make_person()
        first_group, first = _start(deal, person, idempotency_key="k-1")
        again_group, again = group_start(
            deal_no=deal.deal_no, person=person, address=dict(ADDRESS), idempotency_key="k-1"
        )
        assert (again_group.pk, again.order.pk, again.created) == (first_group.pk, first.pk, False)
        assert DealGroup.objects.count() == 1


class TestGroupJoin:
    def test_later_joiners_pay_the_tier_the_group_has_reached(self) -> None:
        deal = make_deal()
        group, _ = _start(deal, make_person())
        prices = [
            GroupMember.objects.get(order_no=_join(group, make_person()).order_no).unit_price_fen
            for _ in range(3)
        ]
        assert prices == [3990, 3590, 2990]

    def test_a_full_group_refuses_the_next_person(self) -> None:
        deal = make_deal()
        group, _ = _start(deal, make_person())
        for _ in range(3):
            _join(group, make_person())
        with pytest.raises(GroupClosed):
            _join(group, make_person())
        assert DealGroup.objects.get(pk=group.pk).seats == 4

    def test_one_place_per_person_per_deal(self) -> None:
        deal = make_deal()
        person = make_person()
        group, _ = _start(deal, person)
        with pytest.raises(AlreadyInDeal) as refused:
            _join(group, person)
        assert refused.value.detail == {"group_no": group.group_no}

    def test_more_units_than_the_limit_are_refused(self) -> None:
        deal = make_deal(per_person_limit=2)
        group, _ = _start(deal, make_person(), quantity=2)
        with pytest.raises(DealLimitExceeded):
            _join(group, make_person(), quantity=3)

    def test_the_deal_is_never_oversold(self) -> None:
        deal = make_deal(quantity=3)
        group, _ = _start(deal, make_person(), quantity=1)
        _join(group, make_person())
        _join(group, make_person())
        with pytest.raises(DealSoldOut):
            _join(group, make_person())
        assert GroupDeal.objects.get(pk=deal.pk).units_held == 3
        assert GroupMember.objects.count() == 3
        assert Order.objects.count() == 3

    def test_a_cancelled_unpaid_order_gives_its_place_back(self) -> None:
        deal = make_deal()
        group, _ = _start(deal, make_person())
        leaver = make_person()
        order = _join(group, leaver)
        with committed():
            order_cancel(order_no=order.order_no, reason="不想要了", actor=OPERATOR)
        group.refresh_from_db()
        assert group.seats == 1
        assert GroupMember.objects.get(order_no=order.order_no).status == MemberStatus.LEFT
        assert GroupDeal.objects.get(pk=deal.pk).units_held == 1
        _join(group, leaver)  # and may take a place again

    def test_joining_a_leaders_group_attaches_a_customer_without_a_leader(self) -> None:
        leader = make_leader()
        deal = make_deal()
        group = group_open_for_leader(deal_no=deal.deal_no, leader_person=leader.person)
        customer = make_person()
        _join(group, customer)
        assert LeaderCustomer.objects.get(person=customer).leader == leader


class TestClosing:
    def test_a_full_group_closes_when_the_last_place_is_paid_and_differences_go_back(
        self,
    ) -> None:
        deal = make_deal()
        group, members = _group_of(4, deal)
        assert group.status == GroupStatus.SUCCEEDED
        assert group.final_price_fen == 2990
        worker_runs()
        refunded = [Order.objects.get(pk=order.pk).refunded_fen for _, order in members]
        assert refunded == [1000, 1000, 600, 0]  # 39.90 / 39.90 / 35.90 → 29.90
        assert [Order.objects.get(pk=o.pk).status for _, o in members[:3]] == [
            OrderStatus.PARTIALLY_REFUNDED
        ] * 3
        titles = MarketingDispatch.objects.filter(purpose="groupbuy_deal_result")
        assert titles.count() == 4

    def test_at_its_deadline_a_group_closes_at_the_tier_its_paid_members_reached(self) -> None:
        deal = make_deal()
        group, members = _group_of(3, deal)
        unpaid = _join(group, make_person())
        with clock.frozen(group.closes_at + dt.timedelta(seconds=1)), committed():
            closed = deal_groups_close_due()
        assert closed == [group.group_no]
        group.refresh_from_db()
        assert (group.status, group.joined, group.final_price_fen) == (
            GroupStatus.SUCCEEDED,
            3,
            3590,
        )
        assert Order.objects.get(pk=unpaid.pk).status == OrderStatus.CANCELLED
        worker_runs()
        assert [Order.objects.get(pk=o.pk).refunded_fen for _, o in members] == [400, 400, 0]

    def test_a_group_below_the_smallest_tier_fails_and_every_member_is_refunded(self) -> None:
        deal = make_deal()
        group, [(person, order)] = _group_of(1, deal)
        with clock.frozen(group.closes_at + dt.timedelta(seconds=1)):
            with committed():
                deal_groups_close_due()
            worker_runs()
        group.refresh_from_db()
        assert group.status == GroupStatus.FAILED
        order.refresh_from_db()
        assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, order.paid_fen)
        member = GroupMember.objects.get(order_no=order.order_no)
        assert (member.status, member.refund_kind) == (MemberStatus.REFUNDED, RefundKind.FAILED)
        assert GroupDeal.objects.get(pk=deal.pk).units_held == 0
        assert MarketingDispatch.objects.get(person=person, purpose="groupbuy_deal_result")
        _start(deal, person)  # the place is free again

    def test_closing_twice_refunds_once(self) -> None:
        deal = make_deal()
        group, [(_, order)] = _group_of(1, deal)
        with clock.frozen(group.closes_at + dt.timedelta(seconds=1)):
            deal_groups_close_due()
            deal_groups_close_due()
            worker_runs()
            worker_runs()
        assert RefundRequest.objects.filter(order__order_no=order.order_no).count() == 1

    def test_a_crash_in_the_middle_of_a_refund_loses_nothing_and_refunds_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        deal = make_deal()
        group, members = _group_of(1, deal)
        real_approve = deal_refunds.refund_request_approve
        crashes = {"left": 1}

        def approve_then_crash(**kwargs: Any) -> Any:
            refund = real_approve(**kwargs)
            if crashes["left"]:
                crashes["left"] -= 1
                raise RuntimeError("process killed after the approval, before the commit")
            return refund

        monkeypatch.setattr(deal_refunds, "refund_request_approve", approve_then_crash)
        with clock.frozen(group.closes_at + dt.timedelta(seconds=1)), committed():
            deal_groups_close_due()
            outbox_relay()  # the first delivery dies: its transaction rolls back
        assert not RefundRequest.objects.exists()
        with clock.frozen(group.closes_at + dt.timedelta(hours=1)):
            worker_runs()
        order = Order.objects.get(pk=members[0][1].pk)
        assert RefundRequest.objects.filter(order=order).count() == 1
        assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, order.paid_fen)

    def test_an_ended_deal_opens_no_group_and_gives_its_free_units_back(self) -> None:
        deal = make_deal(quantity=10)
        _start(deal, make_person())
        deal_end(deal_no=deal.deal_no, actor=OPERATOR)
        with pytest.raises(DealNotOpen):
            _start(deal, make_person())
        block = Reservation.objects.get(order_ref=deal.block_ref, is_block=True)
        assert block.status == ReservationStatus.RELEASED


class TestMemberOrderRefunded:
    def test_a_buyer_refunded_in_full_before_the_close_frees_their_place(self) -> None:
        from freshloop.orders.services import order_refund_request, refund_request_approve

        deal = make_deal()
        group, [_, (person, order)] = _group_of(2, deal)
        with committed():
            request = order_refund_request(
                order_no=order.order_no,
                reason="不想要了",
                actor=OPERATOR,
                amount_fen=order.total_fen,
            )
            refund_request_approve(refund_no=request.refund_no, actor=OPERATOR)
        worker_runs()
        group.refresh_from_db()
        assert (group.seats, group.joined, group.status) == (1, 1, GroupStatus.OPEN)
        assert GroupMember.objects.get(order_no=order.order_no).status == MemberStatus.REFUNDED
        assert GroupDeal.objects.get(pk=deal.pk).units_held == 1
        _join(group, person)  # they may take a place again


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite has one writer at a time")
class TestAtTheSameInstant:
    def test_six_people_racing_for_a_four_place_group_take_four(self) -> None:
        deal = make_deal()
        group, _ = _start(deal, make_person())
        people = [make_person() for _ in range(6)]
        outcomes = run_at_once([lambda p=p: _join(group, p) for p in people])  # type: ignore[misc]
        assert sorted(type(e).__name__ for e in errors_of(outcomes)) == ["GroupClosed"] * 3
        group.refresh_from_db()
        assert group.seats == 4
        assert GroupMember.objects.filter(group=group).count() == 4
        assert Order.objects.count() == 4

    def test_the_last_units_go_to_as_many_people_as_there_are_units(self) -> None:
        deal = make_deal(quantity=5)
        groups = [_start(deal, make_person())[0] for _ in range(2)]
        people = [make_person() for _ in range(6)]
        outcomes = run_at_once(
            [lambda p=p, i=i: _join(groups[i % 2], p) for i, p in enumerate(people)]  # type: ignore[misc]
        )
        assert sorted(type(e).__name__ for e in errors_of(outcomes)) == ["DealSoldOut"] * 3
        assert GroupDeal.objects.get(pk=deal.pk).units_held == 5
        assert Order.objects.count() == 5

    def test_one_person_joining_two_groups_at_once_holds_one_place(self) -> None:
        deal = make_deal()
        first, _ = _start(deal, make_person())
        second, _ = _start(deal, make_person())
        person = make_person()
        outcomes = run_at_once([lambda: _join(first, person), lambda: _join(second, person)])
        assert [type(e).__name__ for e in errors_of(outcomes)] == ["AlreadyInDeal"]
        assert GroupMember.objects.filter(person=person).count() == 1
        assert Order.objects.filter(person=person).count() == 1

    def test_a_payment_and_the_close_at_the_same_instant_count_the_place_once(self) -> None:
        deal = make_deal()
        group, _ = _group_of(2, deal)
        late = make_person()
        order = _join(group, late)
        after_deadline = group.closes_at + dt.timedelta(seconds=1)

        def close() -> Any:
            return deal_groups_close_due(now=after_deadline)

        def pay_late() -> Any:
            return pay(order.order_no, late)

        run_at_once([close, pay_late])
        with committed():
            deal_groups_close_due(now=after_deadline)  # a close refused by the race runs again
        group.refresh_from_db()
        member = GroupMember.objects.get(order_no=order.order_no)
        order.refresh_from_db()
        # Either the payment was in time (three paid, the place counts) or the close cancelled
        # the order first (the payment is refunded by payments): never half of each.
        if member.status == MemberStatus.JOINED:
            assert (group.joined, group.final_price_fen) == (3, 3590)
        else:
            assert member.status == MemberStatus.LEFT
            assert group.joined == 2
        assert group.status == GroupStatus.SUCCEEDED
