"""Row locks of the groupbuy module (one block per feature). Several rows of one table are
always locked in primary-key order; across tables, leaders before attachments."""

from __future__ import annotations

# --- group leaders (GB-1) ---
from freshloop.groupbuy.errors import LeaderNotFound
from freshloop.groupbuy.models import GroupLeader, LeaderCustomer


def leader_lock_by_no(leader_no: str) -> GroupLeader:
    """One leadership, locked: two operators deciding at once decide one after the other, and
    the second sees the first's state."""
    leader = GroupLeader.objects.select_for_update().filter(leader_no=leader_no).first()
    if leader is None:
        raise LeaderNotFound(detail={"leader_no": leader_no})
    return leader


def leaders_lock_of_people(person_ids: list[int]) -> list[GroupLeader]:
    """The leaderships of several people (a OneID merge, an erasure), in primary-key order."""
    return list(
        GroupLeader.objects.select_for_update().filter(person_id__in=person_ids).order_by("pk")
    )


def attachments_lock_of_people(person_ids: list[int]) -> list[LeaderCustomer]:
    """The current attachments of one or more people, in primary-key order: a customer's
    attach requests, merges and erasures change their row one at a time."""
    return list(
        LeaderCustomer.objects.select_for_update().filter(person_id__in=person_ids).order_by("pk")
    )
