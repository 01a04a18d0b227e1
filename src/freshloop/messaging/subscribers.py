"""How messaging reacts to identity: a merge moves the policy's records to the surviving
OneID (an opt-out on either side stays an opt-out), PIPL export lists them, and erasure
scrubs them — held content and addresses are destroyed, held and still-waiting marketing
sends never go out, and the decisions stay only as anonymous counts (channel, purpose, source, status, times)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from freshloop.core.events import subscribe
from freshloop.core.models import OutboxStatus
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.services import register_export_section
from freshloop.messaging.models import (
    DispatchStatus,
    MarketingConsent,
    MarketingDispatch,
    MessageClass,
)


@subscribe(IdentityMerged, durable=True)
def policy_follows_merge(event: IdentityMerged) -> None:
    with transaction.atomic():
        MarketingDispatch.objects.filter(person_id=event.from_person_id).update(
            person_id=event.into_person_id
        )
        for moved in MarketingConsent.objects.filter(person_id=event.from_person_id):
            kept = MarketingConsent.objects.filter(
                person_id=event.into_person_id, channel=moved.channel
            ).first()
            if kept is None:
                MarketingConsent.objects.filter(pk=moved.pk).update(person_id=event.into_person_id)
                continue
            if moved.opted_out and not kept.opted_out:
                # Whoever said stop on either OneID said it to us: it holds for the survivor.
                MarketingConsent.objects.filter(pk=kept.pk).update(
                    opted_out=True, source=moved.source, changed_at=moved.changed_at
                )
            moved.delete()


def marketing_records_erase(*, person_id: int) -> int:
    """Scrub a person's decisions (idempotent): held sends are suppressed with their content
    and address destroyed; marketing messages still waiting in the outbox are withdrawn (a
    relay already sending one may still deliver it); consent rows go (an erased person is
    never messaged again)."""
    with transaction.atomic():
        waiting = MarketingDispatch.objects.filter(
            person_id=person_id,
            message_class=MessageClass.MARKETING,
            status=DispatchStatus.QUEUED,
            outbox_message__status=OutboxStatus.PENDING,
        )
        for dispatch in waiting:
            # Written row by row: the address is a sealed field.
            message = dispatch.outbox_message
            if message is None:
                continue
            message.status = OutboxStatus.FAILED
            message.destination = ""
            message.payload = {}
            message.last_error = "withdrawn: person erased (PIPL)"
            message.save(update_fields=["status", "destination", "payload", "last_error"])
            dispatch.status = DispatchStatus.SUPPRESSED
            dispatch.reason_code = "person_erased"
            dispatch.reason = "用户已注销，个人信息已删除"
            dispatch.save(update_fields=["status", "reason_code", "reason"])
        MarketingDispatch.objects.filter(person_id=person_id, status=DispatchStatus.HELD).update(
            status=DispatchStatus.SUPPRESSED,
            reason_code="person_erased",
            reason="用户已注销，个人信息已删除",
            scheduled_for=None,
        )
        scrubbed = 0
        for dispatch in MarketingDispatch.objects.filter(person_id=person_id):
            # Sealed fields are compared after decryption, so each row is written in Python.
            if dispatch.held_payload or dispatch.held_destination:
                dispatch.held_payload = {}
                dispatch.held_destination = ""
                dispatch.save(update_fields=["held_payload", "held_destination"])
                scrubbed += 1
        MarketingConsent.objects.filter(person_id=person_id).delete()
        return scrubbed


@subscribe(PersonErased, durable=True)
def marketing_records_erased(event: PersonErased) -> None:
    """Durable: written with the erasure and delivered at least once (the scrub is
    idempotent), so a held send can never be released for an erased person."""
    if Person.objects.filter(pk=event.person_id, status=PersonStatus.ERASED).exists():
        marketing_records_erase(person_id=event.person_id)


def messaging_export_section(person: Person) -> dict[str, Any]:
    return {
        "opted_out_channels": sorted(
            MarketingConsent.objects.filter(person=person, opted_out=True).values_list(
                "channel", flat=True
            )
        ),
        "messages": [
            {
                "channel": d.channel,
                "class": d.message_class,
                "purpose": d.purpose,
                "source": d.source,
                "status": d.status,
                "reason": d.reason,
                "created_at": d.created_at.isoformat(),
            }
            for d in MarketingDispatch.objects.filter(person=person).order_by("pk")
        ],
    }


register_export_section("messaging", messaging_export_section)
