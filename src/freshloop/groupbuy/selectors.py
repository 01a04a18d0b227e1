"""The reads of community group buying (SPEC GB-1…GB-4), one block per feature.

A leader sees only their own customers, orders and money: every leader-facing read here takes
the `leader` (as found for the signed-in person by `leader_for_person`) and filters by it; none
takes a bare id of a customer, an order or a ledger row without it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from freshloop.groupbuy.attachments import attribution_window
from freshloop.groupbuy.idcard import id_number_mask
from freshloop.groupbuy.models import GroupLeader, LeaderCustomer, LeaderLevel, LeaderStatus
from freshloop.identity.models import Identifier, IdentifierType, Person
from freshloop.identity.selectors import identifier_mask

# --- group leaders (GB-1) ---

MAX_PAGE = 100


def leader_for_person(*, person: Person) -> GroupLeader | None:
    """The person's leadership when it is open for business (what the leader console serves)."""
    return (
        GroupLeader.objects.filter(person=person, status=LeaderStatus.ACTIVE)
        .select_related("level")
        .first()
    )


def leadership_of(*, person: Person) -> GroupLeader | None:
    """The person's leadership in any status (their application's progress)."""
    return GroupLeader.objects.filter(person=person).select_related("level", "recruiter").first()


@dataclass(frozen=True)
class LeaderCustomerRow:
    display_name: str
    masked_phone: str
    attached_at: dt.datetime
    source: str
    locked_until: dt.datetime
    """Until when another leader's code cannot take this customer away."""


def _masked_phones(person_ids: list[int]) -> dict[int, str]:
    phones: dict[int, str] = {}
    for identifier in Identifier.objects.filter(
        person_id__in=person_ids, type=IdentifierType.PHONE
    ).order_by("pk"):
        phones.setdefault(identifier.person_id, identifier_mask(identifier))
    return phones


def leader_customers(
    *, leader: GroupLeader, limit: int = 20, offset: int = 0
) -> tuple[int, list[LeaderCustomerRow]]:
    """(total, one page) of `leader`'s current customers, newest first; phones masked."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = LeaderCustomer.objects.filter(leader=leader).select_related("person")
    page = list(rows.order_by("-attached_at", "-pk")[offset : offset + limit])
    phones = _masked_phones([row.person_id for row in page])
    window = attribution_window()
    return rows.count(), [
        LeaderCustomerRow(
            display_name=row.person.display_name,
            masked_phone=phones.get(row.person_id, ""),
            attached_at=row.attached_at,
            source=row.source,
            locked_until=row.attached_at + window,
        )
        for row in page
    ]


def leaders_list(
    *, status: str | None = None, limit: int = 20, offset: int = 0
) -> tuple[int, list[GroupLeader]]:
    """(total, one page) of leaderships for operators, latest application first."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = GroupLeader.objects.select_related("level", "recruiter")
    if status:
        rows = rows.filter(status=status)
    return rows.count(), list(rows.order_by("-applied_at", "-pk")[offset : offset + limit])


def leader_levels() -> list[LeaderLevel]:
    return list(LeaderLevel.objects.order_by("rank"))


def leader_masked_id_number(leader: GroupLeader) -> str:
    return id_number_mask(leader.id_number) if leader.id_number else ""
