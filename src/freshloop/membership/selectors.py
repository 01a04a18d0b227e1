"""Membership reads: who is a member, the consumer's own summary and ledger, and the PIPL
export section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from freshloop.core import clock
from freshloop.identity.models import Person, PersonStatus
from freshloop.membership.models import MemberLevel, Membership, PointsEntry
from freshloop.membership.services import (
    level_next,
    member_levels,
    person_family_ids,
    points_to_fen,
)


@dataclass(frozen=True)
class NextLevel:
    level: MemberLevel
    spend_needed_fen: int
    points_needed: int


@dataclass(frozen=True)
class MembershipSummary:
    person: Person
    level: MemberLevel
    points_balance: int
    points_value_fen: int
    lifetime_spend_fen: int
    points_earned_total: int
    joined_at: Any
    next_level: NextLevel | None


def person_is_member(*, person_id: int) -> bool:
    """Whether the person has joined (入会): they hold a membership account, at any level.

    The account is opened by their first paid order (`points_earn_for_order`) or an operator's
    points adjustment, and only ever follows them (merges move it to the survivor). Everyone
    without one is shown the lowest level in `membership_summary` but has not joined; an
    erased or merged-away person is no member (their survivor may be).
    """
    return Membership.objects.filter(
        person_id=person_id, person__status=PersonStatus.ACTIVE
    ).exists()


def membership_summary(*, person: Person) -> MembershipSummary:
    """Level, balance, totals and the distance to the next level (nothing is created)."""
    levels = member_levels()
    membership = Membership.objects.select_related("level").filter(person=person).first()
    level = membership.level if membership else levels[0]
    spend = membership.lifetime_spend_fen if membership else 0
    earned = membership.points_earned_total if membership else 0
    balance = membership.points_balance if membership else 0
    upcoming = level_next(levels=levels, current=level)
    next_level = None
    if upcoming is not None:
        next_level = NextLevel(
            level=upcoming,
            spend_needed_fen=max(0, upcoming.min_lifetime_spend_fen - spend)
            if upcoming.min_lifetime_spend_fen
            else 0,
            points_needed=max(0, upcoming.min_points_earned - earned)
            if upcoming.min_points_earned
            else 0,
        )
    return MembershipSummary(
        person=person,
        level=level,
        points_balance=balance,
        points_value_fen=points_to_fen(balance),
        lifetime_spend_fen=spend,
        points_earned_total=earned,
        joined_at=membership.joined_at if membership else None,
        next_level=next_level,
    )


def points_entries_for_person(*, person: Person) -> QuerySet[PointsEntry]:
    """The member's ledger, newest first, including people merged into them."""
    return PointsEntry.objects.filter(
        person_id__in=person_family_ids(person_id=person.pk)
    ).order_by("-created_at", "-pk")


def membership_export_section(person: Person) -> dict[str, Any]:
    """PIPL export: the membership and every ledger entry held for this person."""
    summary = membership_summary(person=person)
    return {
        "level": {"code": summary.level.code, "name": summary.level.name},
        "points_balance": summary.points_balance,
        "lifetime_spend_fen": summary.lifetime_spend_fen,
        "points_earned_total": summary.points_earned_total,
        "joined_at": summary.joined_at.isoformat() if summary.joined_at else None,
        "exported_at": clock.now().isoformat(),
        "points_entries": [
            {
                "kind": entry.kind,
                "delta": entry.delta,
                "balance_after": entry.balance_after,
                "ref": entry.ref,
                "order_ref": entry.order_ref,
                "shortfall": entry.shortfall,
                "reason": entry.reason,
                "created_at": entry.created_at.isoformat(),
            }
            for entry in points_entries_for_person(person=person).order_by("created_at", "pk")
        ],
    }
