"""Customers attaching to a group leader (GB-1) by invite link or QR code, and the attachment
following its person through a OneID merge or an erasure.

Rules (docs/groupbuy.md)
- Only an active leader's code attaches; a leader cannot attach to their own code.
- A customer has at most one current leader (LeaderCustomer's unique person). For
  FRESHLOOP_GROUPBUY_ATTRIBUTION_DAYS (default 30) from their last attachment they keep that
  leader: another leader's code is a 409 `attachment_locked` saying until when. The same leader's code again
  changes nothing (it does not restart the window).
- After the window, or at once when their leader is no longer active, another leader's code
  switches them. Every change is a LeaderAttachmentLog row (append-only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.groupbuy.errors import (
    AttachmentLocked,
    AttachToSelfRefused,
    GroupbuyInputInvalid,
    InviteCodeInvalid,
)
from freshloop.groupbuy.leaders import invite_code_normalise
from freshloop.groupbuy.locks import attachments_lock_of_people, leaders_lock_of_people
from freshloop.groupbuy.models import (
    AttachmentReason,
    AttachmentSource,
    GroupLeader,
    LeaderAttachmentLog,
    LeaderCustomer,
    LeaderStatus,
)
from freshloop.identity.models import Person

ERASED_REASON = "用户已申请删除个人信息"


def attribution_window() -> dt.timedelta:
    return dt.timedelta(days=int(settings.FRESHLOOP.groupbuy.attribution_days))


@dataclass(frozen=True)
class AttachResult:
    attachment: LeaderCustomer
    changed: bool
    """False when the customer was already this leader's (nothing written)."""

    @property
    def locked_until(self) -> dt.datetime:
        """Until when another leader's code cannot take the customer away."""
        return self.attachment.attached_at + attribution_window()


def _log(
    person_id: int,
    from_leader: GroupLeader | None,
    to_leader: GroupLeader | None,
    reason: str,
    source: str = "",
) -> None:
    LeaderAttachmentLog.objects.create(
        person_id=person_id,
        from_leader=from_leader,
        to_leader=to_leader,
        at=clock.now(),
        reason=reason,
        source=source,
    )


def customer_attach(*, person: Person, invite_code: str, source: str) -> AttachResult:
    """Attach `person` to the leader whose invite code they followed (link or QR), under the
    attribution rules above. Safe to call concurrently: one person's attach requests take their
    attachment row one at a time, and a first attachment raced by another insert is decided
    again against the row that won."""
    if source not in AttachmentSource.values:
        raise GroupbuyInputInvalid.for_fields([("source", "绑定方式应为 invite_link 或 qr")])
    code = invite_code_normalise(invite_code) if isinstance(invite_code, str) else ""
    leader = (
        GroupLeader.objects.filter(invite_code=code, status=LeaderStatus.ACTIVE).first()
        if code
        else None
    )
    if leader is None:
        raise InviteCodeInvalid(detail={"invite_code": code[:16]})
    if leader.person_id == person.pk:
        raise AttachToSelfRefused()
    for _ in range(2):
        try:
            with transaction.atomic():
                return _attach(person, leader, source)
        except IntegrityError:
            continue  # another request attached this person first: decide against its row
    raise AttachmentLocked(detail={"leader_no": leader.leader_no})


def _attach(person: Person, leader: GroupLeader, source: str) -> AttachResult:
    now = clock.now()
    current = next(iter(attachments_lock_of_people([person.pk])), None)
    if current is None:
        attachment = LeaderCustomer.objects.create(
            person=person, leader=leader, attached_at=now, source=source
        )
        _log(person.pk, None, leader, AttachmentReason.ATTACH, source)
        return AttachResult(attachment, changed=True)
    if current.leader_id == leader.pk:
        return AttachResult(current, changed=False)
    previous = current.leader
    until = current.attached_at + attribution_window()
    if previous.status == LeaderStatus.ACTIVE and now < until:
        local_until = clock.to_shanghai(until)
        raise AttachmentLocked(
            f"您已绑定团长「{previous.display_name}」，{local_until:%Y-%m-%d %H:%M} 前不能更换团长",
            detail={"until": until.isoformat()},
        )
    current.leader = leader
    current.attached_at = now
    current.source = source
    current.save(update_fields=["leader", "attached_at", "source"])
    _log(person.pk, previous, leader, AttachmentReason.SWITCH, source)
    return AttachResult(current, changed=True)


# --- following the person (OneID merge, PIPL erasure) ---------------------------------------


def groupbuy_person_merge(*, from_person_id: int, into_person_id: int) -> None:
    """Move what the merged person had to the survivor. The leadership moves only when the
    survivor has none (a person holds one); otherwise it stays on the merged person's row for
    an operator to look at. The survivor's own attachment wins over the merged one's; an
    attachment to the survivor's own leadership is dropped (no one is their own customer).
    Idempotent: a repeat finds nothing left to move."""
    with transaction.atomic():
        leaders = leaders_lock_of_people([from_person_id, into_person_id])
        merged_leader = next((x for x in leaders if x.person_id == from_person_id), None)
        survivor_leader = next((x for x in leaders if x.person_id == into_person_id), None)
        if merged_leader is not None and survivor_leader is None:
            merged_leader.person_id = into_person_id
            merged_leader.updated_at = clock.now()
            merged_leader.save(update_fields=["person", "updated_at"])
            audit_record(
                actor=Actor.system("groupbuy.person_merge"),
                action="groupbuy.leader.merge",
                target=merged_leader,
                before={"person_id": from_person_id},
                after={"person_id": into_person_id},
            )
            survivor_leader = merged_leader
        attachments = attachments_lock_of_people([from_person_id, into_person_id])
        merged = next((x for x in attachments if x.person_id == from_person_id), None)
        kept = next((x for x in attachments if x.person_id == into_person_id), None)
        if merged is not None:
            merged.delete()
            _log(from_person_id, merged.leader, None, AttachmentReason.MERGE)
            if kept is None and (survivor_leader is None or merged.leader_id != survivor_leader.pk):
                LeaderCustomer.objects.create(
                    person_id=into_person_id,
                    leader_id=merged.leader_id,
                    attached_at=merged.attached_at,  # the window runs on as it was
                    source=merged.source,
                )
                _log(into_person_id, None, merged.leader, AttachmentReason.MERGE, merged.source)
        if (
            kept is not None
            and survivor_leader is not None
            and kept.leader_id == survivor_leader.pk
        ):
            kept.delete()
            _log(into_person_id, kept.leader, None, AttachmentReason.MERGE)


def groupbuy_person_erase(*, person_id: int) -> None:
    """An erased person is no one's customer any more, and their leadership (if any) is
    suspended with its identity documents and pickup contact destroyed; the row stays for the
    history of the orders and commission attributed to it. Idempotent."""
    with transaction.atomic():
        for leader in leaders_lock_of_people([person_id]):
            if leader.status == LeaderStatus.ACTIVE:
                leader.status = LeaderStatus.SUSPENDED
                leader.suspended_reason = ERASED_REASON
            elif leader.status == LeaderStatus.APPLIED:
                leader.status = LeaderStatus.REJECTED
                leader.decision_reason = ERASED_REASON
            leader.real_name = ""
            leader.id_number = ""
            leader.id_number_index = ""
            leader.pickup_address = {}
            leader.updated_at = clock.now()
            leader.save()
            audit_record(
                actor=Actor.system("groupbuy.person_erase"),
                action="groupbuy.leader.erase",
                target=leader,
                after={"status": leader.status, "id_fields": "destroyed"},
            )
        for attachment in attachments_lock_of_people([person_id]):
            attachment.delete()
            _log(person_id, attachment.leader, None, AttachmentReason.ERASE)
