"""Reactions to other modules' events."""

from __future__ import annotations

from freshloop.core.events import subscribe
from freshloop.identity.events import IdentityMerged
from freshloop.membership.services import membership_merge


@subscribe(IdentityMerged, durable=True)
def membership_follow_merge(event: IdentityMerged) -> None:
    """Points, level and ledger follow the person into the survivor of a OneID merge."""
    membership_merge(from_person_id=event.from_person_id, into_person_id=event.into_person_id)
