"""What follows a join: a member's order is paid, cancelled or refunded; a group closes; the
refunds a close owes are paid back, each exactly once (see deals/services.py for the rules).

Locks: the group's row, then its members in primary-key order, then the deal's row
(deals/locks.py). Every function here is harmless to repeat.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import F

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.effects import effect_consumer, effect_enqueue
from freshloop.core.errors import DomainError
from freshloop.core.outbox import DeliveryError
from freshloop.groupbuy.deals.locks import group_lock, member_lock, members_lock
from freshloop.groupbuy.deals.models import (
    DealGroup,
    DealStatus,
    GroupDeal,
    GroupMember,
    GroupStatus,
    MemberStatus,
    RefundKind,
)
from freshloop.inventory.services import stock_block_close
from freshloop.messaging.services import transactional_send
from freshloop.orders.models import Order, OrderStatus, RefundStatus
from freshloop.orders.services import order_cancel, order_refund_request, refund_request_approve

REFUND_EFFECT = "groupbuy.deal_refund"
MESSAGE_CHANNEL = "in_app"
SYSTEM = Actor.system("groupbuy.deals")
PAID_ORDER_STATUSES = {
    OrderStatus.PAID,
    OrderStatus.ALLOCATED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.REFUND_REQUESTED,
    OrderStatus.PARTIALLY_REFUNDED,
}

logger = logging.getLogger(__name__)


def _member_of_order(order_no: str) -> GroupMember | None:
    return GroupMember.objects.filter(order_no=order_no).only("pk", "group_id").first()


def _units_back(deal_id: int, quantity: int) -> None:
    """Units a member no longer holds count as the deal's again."""
    GroupDeal.objects.filter(pk=deal_id).update(
        units_held=F("units_held") - quantity, updated_at=clock.now()
    )


# --- the member's order -------------------------------------------------------------------------


@transaction.atomic
def member_order_paid(*, order_no: str, paid_at: dt.datetime) -> GroupMember | None:
    """The member's money arrived: their place counts. The last place of a full group closes
    it at once. A closed group has no pending place left (its close counted the paid ones and
    cancelled the rest), and money for a cancelled order is refunded by the payments module."""
    found = _member_of_order(order_no)
    if found is None:
        return None
    group = group_lock(found.group_id)
    member = member_lock(found.pk)
    if member.status != MemberStatus.PENDING:
        return member
    member.status = MemberStatus.JOINED
    member.paid_at = paid_at
    member.save(update_fields=["status", "paid_at"])
    group.joined += 1
    group.save(update_fields=["joined"])
    if group.status == GroupStatus.OPEN and group.joined >= group.deal.max_size:
        _close_locked(group, now=clock.now())
    return member


@transaction.atomic
def member_order_cancelled(*, order_no: str) -> GroupMember | None:
    """The member's order was cancelled unpaid (by them, or past its payment window): the
    place and the units are free again."""
    found = _member_of_order(order_no)
    if found is None:
        return None
    group = group_lock(found.group_id)
    member = member_lock(found.pk)
    if member.status != MemberStatus.PENDING:
        return member
    _leave(group, member)
    return member


def _leave(group: DealGroup, member: GroupMember) -> None:
    member.status = MemberStatus.LEFT
    member.save(update_fields=["status"])
    DealGroup.objects.filter(pk=group.pk).update(seats=F("seats") - 1)
    group.seats -= 1
    _units_back(member.deal_id, member.quantity)


@transaction.atomic
def member_order_refunded(*, order_no: str, fully: bool) -> GroupMember | None:
    """Money went back on a member's order. A full refund ends the place and gives the units
    back to the deal (in an open group the place is free again); a difference refund leaves
    the place as it is."""
    found = _member_of_order(order_no)
    if found is None:
        return None
    group = group_lock(found.group_id)
    member = member_lock(found.pk)
    if fully and member.status == MemberStatus.JOINED:
        member.status = MemberStatus.REFUNDED
        member.save(update_fields=["status"])
        _units_back(member.deal_id, member.quantity)
        if group.status == GroupStatus.OPEN:
            # The buyer asked for their money back before the group closed: they are out
            # of it, and their place is free for someone else.
            DealGroup.objects.filter(pk=group.pk).update(
                seats=F("seats") - 1, joined=F("joined") - 1
            )
    return member


# --- closing ------------------------------------------------------------------------------------


def group_close(*, group_no: str, now: dt.datetime | None = None) -> DealGroup:
    """Close one group now if it is due (past its time, or full and paid); idempotent."""
    found = DealGroup.objects.filter(group_no=group_no).values_list("pk", flat=True).first()
    if found is None:
        from freshloop.groupbuy.deals.errors import GroupNotFound

        raise GroupNotFound(detail={"group_no": group_no})
    with transaction.atomic():
        group = group_lock(found)
        moment = now or clock.now()
        if group.status == GroupStatus.OPEN and (
            group.closes_at <= moment or group.joined >= group.deal.max_size
        ):
            _close_locked(group, now=moment)
    return group


def deal_groups_close_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Close the groups past their time (job `groupbuy.deal_groups_close`), each in its own
    transaction; then end the deals past their end with no group left open. Returns the
    numbers of the groups closed."""
    moment = now or clock.now()
    due = list(
        DealGroup.objects.filter(status=GroupStatus.OPEN, closes_at__lte=moment)
        .order_by("closes_at", "pk")
        .values_list("group_no", flat=True)[:limit]
    )
    closed = [group_close(group_no=number, now=moment).group_no for number in due]
    finished = GroupDeal.objects.filter(status=DealStatus.ACTIVE, ends_at__lte=moment).exclude(
        groups__status=GroupStatus.OPEN
    )
    for deal in finished:
        with transaction.atomic():
            if GroupDeal.objects.filter(pk=deal.pk, status=DealStatus.ACTIVE).update(
                status=DealStatus.ENDED, updated_at=moment
            ):
                stock_block_close(block_ref=deal.block_ref, actor=SYSTEM)
    return closed


def _close_locked(group: DealGroup, *, now: dt.datetime) -> None:
    """Settle the unpaid places, then decide success or failure and owe the refunds — all in
    the caller's transaction, with the group's row locked."""
    deal = group.deal
    members = members_lock(group.pk)
    pending = [m for m in members if m.status == MemberStatus.PENDING]
    statuses = dict(
        Order.objects.filter(order_no__in=[m.order_no for m in pending]).values_list(
            "order_no", "status"
        )
    )
    for member in pending:
        if statuses.get(member.order_no) in PAID_ORDER_STATUSES:
            # Paid, and the payment's handler has not run yet: the place counts.
            member.status = MemberStatus.JOINED
            member.paid_at = now
            member.save(update_fields=["status", "paid_at"])
            group.joined += 1
        else:
            order_cancel(
                order_no=member.order_no, reason="拼团已结束，未支付的参团已取消", actor=SYSTEM
            )
            _leave(group, member)
    joined = [m for m in members if m.status == MemberStatus.JOINED]
    succeeded = len(joined) >= deal.min_size
    group.status = GroupStatus.SUCCEEDED if succeeded else GroupStatus.FAILED
    group.final_price_fen = deal.price_for_size(len(joined)) if succeeded else None
    group.closed_at = now
    group.save(update_fields=["status", "final_price_fen", "closed_at", "joined"])
    audit_record(
        actor=SYSTEM,
        action=f"groupbuy.deal.group_{group.status}",
        target=group,
        after={"joined": len(joined), "final_price_fen": group.final_price_fen},
    )
    for member in joined:
        if not succeeded:
            _owe_refund(group, member, kind=RefundKind.FAILED, amount_fen=0)
            continue
        difference = (member.unit_price_fen - (group.final_price_fen or 0)) * member.quantity
        if difference > 0:
            _owe_refund(group, member, kind=RefundKind.DIFFERENCE, amount_fen=difference)
        _tell(member, group, difference)


def _owe_refund(group: DealGroup, member: GroupMember, *, kind: str, amount_fen: int) -> None:
    """Record what the member is owed and write the durable effect that pays it."""
    member.refund_kind = kind
    member.refund_fen = amount_fen
    member.save(update_fields=["refund_kind", "refund_fen"])
    effect_enqueue(
        name=REFUND_EFFECT,
        payload={"member_id": member.pk},
        dedupe_key=f"{REFUND_EFFECT}:{member.pk}",
    )
    if kind == RefundKind.FAILED:
        _tell(member, group, 0)


def _tell(member: GroupMember, group: DealGroup, difference_fen: int) -> None:
    deal = group.deal
    if group.status == GroupStatus.FAILED:
        title, body = "拼团未成功，已为您退款", f"{deal.title}未在时限内成团，货款将原路退回。"
    elif difference_fen:
        title = "拼团成功，差价已退回"
        body = (
            f"{deal.title}已成团（{group.joined} 人），成团价 ¥{(group.final_price_fen or 0) / 100:.2f}，"
            f"差价 ¥{difference_fen / 100:.2f} 将原路退回。"
        )
    else:
        title, body = "拼团成功", f"{deal.title}已成团（{group.joined} 人），我们会尽快为您备货。"
    transactional_send(
        person_id=member.person_id,
        channel=MESSAGE_CHANNEL,
        payload={"title": title, "body": body, "url": f"/m/orders/{member.order_no}"},
        purpose="groupbuy_deal_result",
        source=f"deal_group:{group.group_no}",
        dedupe_key=f"groupbuy.deal.result:{member.pk}",
    )


# --- paying the refunds back --------------------------------------------------------------------


@effect_consumer(REFUND_EFFECT, background=True)
def _refund_effect(payload: dict[str, Any]) -> None:
    member_refund(member_id=int(payload["member_id"]))


def _refundable_left(order: Order) -> int:
    asked = sum(
        r.amount_fen
        for r in order.refund_requests.filter(
            status__in=[RefundStatus.REQUESTED, RefundStatus.APPROVED]
        )
    )
    return order.paid_fen - order.refunded_fen - asked


def member_refund(*, member_id: int) -> GroupMember:
    """Ask for and approve the refund a close owes the member, once: the refund number is
    recorded on the member in the same transaction as the request and its approval."""
    found = GroupMember.objects.filter(pk=member_id).values_list("group_id", flat=True).first()
    if found is None:
        raise DeliveryError(f"group member {member_id} not found")
    with transaction.atomic():
        group_lock(found)
        member = member_lock(member_id)
        if member.refund_no or not member.refund_kind:
            return member
        order = Order.objects.get(order_no=member.order_no)
        if order.status == OrderStatus.REFUND_REQUESTED:
            # The buyer's own request is waiting for customer service: ours follows it.
            raise DeliveryError(f"order {order.order_no} has a refund request pending")
        reason = (
            "拼团失败，全额退款"
            if member.refund_kind == RefundKind.FAILED
            else "拼团阶梯价差价退款"
        )
        left = _refundable_left(order)
        amount = left if member.refund_kind == RefundKind.FAILED else min(member.refund_fen, left)
        if amount <= 0:
            member.refund_no = "-"  # nothing left to pay back (refunded some other way)
            member.save(update_fields=["refund_no"])
            return member
        try:
            request = order_refund_request(
                order_no=order.order_no, reason=reason, actor=SYSTEM, amount_fen=amount
            )
            refund_request_approve(refund_no=request.refund_no, actor=SYSTEM, note=reason)
        except DomainError as error:
            logger.warning("group deal refund for %s refused: %s", order.order_no, error)
            raise DeliveryError(f"{order.order_no}: {error}") from error
        member.refund_no = request.refund_no
        member.refund_fen = amount
        member.save(update_fields=["refund_no", "refund_fen"])
        audit_record(
            actor=SYSTEM,
            action="groupbuy.deal.refund",
            target=member,
            after={
                "refund_no": request.refund_no,
                "amount_fen": amount,
                "kind": member.refund_kind,
            },
        )
    return member
