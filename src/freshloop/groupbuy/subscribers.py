"""How group buying reacts to identity (OneID and PIPL): a merge moves the attachment and the
leadership to the survivor, an erasure removes the attachment and suspends the leadership with
its ID documents destroyed, and the PIPL export lists both.

Durable (at least once, after a crash too); both services are idempotent."""

from __future__ import annotations

from typing import Any

from freshloop.core.events import subscribe
from freshloop.groupbuy.attachments import groupbuy_person_erase, groupbuy_person_merge
from freshloop.groupbuy.idcard import id_number_mask
from freshloop.groupbuy.models import GroupLeader, LeaderCustomer
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.models import Person
from freshloop.identity.services import register_export_section


@subscribe(IdentityMerged, durable=True)
def groupbuy_follow_merge(event: IdentityMerged) -> None:
    groupbuy_person_merge(from_person_id=event.from_person_id, into_person_id=event.into_person_id)


@subscribe(PersonErased, durable=True)
def groupbuy_forget_erased(event: PersonErased) -> None:
    groupbuy_person_erase(person_id=event.person_id)


def _groupbuy_section(person: Person) -> dict[str, Any]:
    """Their own data: the leadership with their real name, the ID number masked (the export
    file travels by mail and download; the person knows their own number), and their leader."""
    leader = GroupLeader.objects.filter(person=person).select_related("level").first()
    attachment = LeaderCustomer.objects.filter(person=person).select_related("leader").first()
    return {
        "leadership": None
        if leader is None
        else {
            "leader_no": leader.leader_no,
            "display_name": leader.display_name,
            "status": leader.status,
            "level": leader.level.name,
            "invite_code": leader.invite_code,
            "pickup_name": leader.pickup_name,
            "pickup_address": dict(leader.pickup_address or {}),
            "pickup_hours": leader.pickup_hours,
            "real_name": leader.real_name,
            "id_number_masked": id_number_mask(leader.id_number) if leader.id_number else "",
            "applied_at": leader.applied_at.isoformat(),
            "decided_at": leader.decided_at.isoformat() if leader.decided_at else None,
            "decision_reason": leader.decision_reason,
            "suspended_reason": leader.suspended_reason,
        },
        "attached_to": None
        if attachment is None
        else {
            "leader_display_name": attachment.leader.display_name,
            "attached_at": attachment.attached_at.isoformat(),
            "source": attachment.source,
        },
    }


register_export_section("groupbuy", _groupbuy_section)
