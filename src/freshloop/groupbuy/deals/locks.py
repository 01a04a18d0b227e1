"""Row locks and counters of group deals. Order: the group's row before the deal's row, each
taken by one conditional UPDATE as the last statements of a join, so the two hot rows are held
only from there to the commit. A close locks the group, then its members in primary-key order.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F

from freshloop.groupbuy.deals.errors import GroupNotFound
from freshloop.groupbuy.deals.models import (
    DealGroup,
    DealStatus,
    GroupDeal,
    GroupMember,
    GroupStatus,
)


def group_seat_take(*, group_id: int, max_size: int, now: dt.datetime) -> bool:
    """Take one seat of an open group that is not full and not past its time; False when it
    cannot. Locks the group's row until the caller's commit."""
    return bool(
        DealGroup.objects.filter(
            pk=group_id, status=GroupStatus.OPEN, closes_at__gt=now, seats__lt=max_size
        ).update(seats=F("seats") + 1)
    )


def deal_units_take(*, deal_id: int, quantity: int, now: dt.datetime) -> bool:
    """Take `quantity` units of an active deal if it still has them; False when sold out.
    Locks the deal's row until the caller's commit: the statement that keeps it from ever
    being oversold (with the table's check constraint behind it)."""
    return bool(
        GroupDeal.objects.filter(
            pk=deal_id,
            status=DealStatus.ACTIVE,
            units_held__lte=F("quantity") - quantity,
        ).update(units_held=F("units_held") + quantity, updated_at=now)
    )


def group_lock(group_id: int) -> DealGroup:
    group = DealGroup.objects.select_for_update().select_related("deal").filter(pk=group_id).first()
    if group is None:
        raise GroupNotFound(detail={"group_id": group_id})
    return group


def members_lock(group_id: int) -> list[GroupMember]:
    """A group's members, locked in primary-key order (after the group's row)."""
    return list(GroupMember.objects.select_for_update().filter(group_id=group_id).order_by("pk"))


def member_lock_by_order(order_no: str) -> GroupMember | None:
    return GroupMember.objects.select_for_update().filter(order_no=order_no).first()


def member_lock(member_id: int) -> GroupMember:
    return GroupMember.objects.select_for_update().get(pk=member_id)
