"""Reads of group deals: a deal with its open groups, one group's share card, a person's groups,
and the operator's figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from freshloop.core import clock
from freshloop.groupbuy.deals.errors import DealNotFound, GroupNotFound
from freshloop.groupbuy.deals.models import (
    DealGroup,
    GroupDeal,
    GroupMember,
    GroupStatus,
    MemberStatus,
    RefundKind,
)
from freshloop.identity.models import Person

OPEN_GROUPS_SHOWN = 10


def deal_get(*, deal_no: str) -> GroupDeal:
    deal = GroupDeal.objects.select_related("sku__product").filter(deal_no=deal_no).first()
    if deal is None:
        raise DealNotFound(detail={"deal_no": deal_no})
    return deal


def deal_open_groups(*, deal: GroupDeal, now: dt.datetime | None = None) -> list[DealGroup]:
    """Groups still taking people, the ones closest to their deadline first (参团 list)."""
    moment = now or clock.now()
    return list(
        DealGroup.objects.select_related("leader")
        .filter(deal=deal, status=GroupStatus.OPEN, closes_at__gt=moment, seats__lt=deal.max_size)
        .order_by("closes_at", "pk")[:OPEN_GROUPS_SHOWN]
    )


def group_get(*, group_no: str) -> DealGroup:
    group = (
        DealGroup.objects.select_related("deal__sku__product", "leader")
        .filter(group_no=group_no)
        .first()
    )
    if group is None:
        raise GroupNotFound(detail={"group_no": group_no})
    return group


@dataclass(frozen=True)
class GroupCard:
    """What a share card shows: who is in, the price now and after the next tier, the time left."""

    group: DealGroup
    member_names: list[str]
    price_now_fen: int
    next_tier_size: int | None
    next_tier_price_fen: int | None
    people_to_next_tier: int
    people_to_form: int
    seconds_left: int


def _masked(name: str) -> str:
    """A member's name on a public card: first character and a star (王*)."""
    return f"{name[:1]}*" if name else "团员"


def group_card(*, group: DealGroup, now: dt.datetime | None = None) -> GroupCard:
    deal = group.deal
    moment = now or clock.now()
    # Who holds a place; once the group failed, who was in it (refunded since).
    shown = [MemberStatus.PENDING, MemberStatus.JOINED]
    if group.status == GroupStatus.FAILED:
        shown.append(MemberStatus.REFUNDED)
    members = (
        GroupMember.objects.select_related("person")
        .filter(group=group, status__in=shown)
        .order_by("pk")
    )
    names = [_masked(m.person.display_name) for m in members]
    people = group.seats
    price_now = group.final_price_fen or deal.price_for_size(max(people, 1))
    # The next tier worth inviting for: more people and a lower price than now.
    upcoming = [
        tier
        for tier in deal.tiers
        if int(tier["size"]) > people and int(tier["price_fen"]) < price_now
    ]
    next_tier = upcoming[0] if upcoming else None
    return GroupCard(
        group=group,
        member_names=names,
        price_now_fen=price_now,
        next_tier_size=int(next_tier["size"]) if next_tier else None,
        next_tier_price_fen=int(next_tier["price_fen"]) if next_tier else None,
        people_to_next_tier=int(next_tier["size"]) - people if next_tier else 0,
        people_to_form=max(0, deal.min_size - people) if group.status == GroupStatus.OPEN else 0,
        seconds_left=max(0, int((group.closes_at - moment).total_seconds()))
        if group.status == GroupStatus.OPEN
        else 0,
    )


def member_places(*, person: Person, limit: int = 50) -> list[GroupMember]:
    """A person's places in groups, newest first (我的拼团)."""
    return list(
        GroupMember.objects.select_related("group__deal")
        .filter(person=person)
        .order_by("-joined_at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class DealFigures:
    groups_open: int
    groups_succeeded: int
    groups_failed: int
    members_paid: int
    refunds_fen: int
    difference_refunds: int
    failure_refunds: int


def deal_figures(*, deal: GroupDeal) -> DealFigures:
    """The operator's figures for one deal (console and API)."""
    groups = DealGroup.objects.filter(deal=deal).aggregate(
        open=Count("pk", filter=Q(status=GroupStatus.OPEN)),
        succeeded=Count("pk", filter=Q(status=GroupStatus.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=GroupStatus.FAILED, seats__gt=0)),
    )
    members = GroupMember.objects.filter(deal=deal).aggregate(
        paid=Count("pk", filter=Q(paid_at__isnull=False)),
        refunds=Sum("refund_fen", filter=~Q(refund_no="")),
        difference=Count("pk", filter=Q(refund_kind=RefundKind.DIFFERENCE)),
        failure=Count("pk", filter=Q(refund_kind=RefundKind.FAILED)),
    )
    return DealFigures(
        groups_open=groups["open"],
        groups_succeeded=groups["succeeded"],
        groups_failed=groups["failed"],
        members_paid=members["paid"],
        refunds_fen=members["refunds"] or 0,
        difference_refunds=members["difference"],
        failure_refunds=members["failure"],
    )


def deals_list(*, limit: int = 50, offset: int = 0) -> list[GroupDeal]:
    return list(
        GroupDeal.objects.select_related("sku__product").order_by("-pk")[offset : offset + limit]
    )
