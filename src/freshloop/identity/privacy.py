"""PIPL rights: export everything held about one person, and erase their personal data.

Other modules add what they hold about a person to the export by registering a section
(`register_export_section`) and react to erasure by subscribing to `PersonErased`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.core.models import AuditLog
from freshloop.identity.errors import PersonErased as PersonErasedError
from freshloop.identity.errors import PersonNotFound
from freshloop.identity.events import PersonErased
from freshloop.identity.models import (
    ConsumerToken,
    Identifier,
    IdentifierLink,
    IdentityConflict,
    MergeRecord,
    Person,
    PersonStatus,
)
from freshloop.identity.resolver import people_lock

ExportSection = Callable[[Person], Any]
_export_sections: dict[str, ExportSection] = {}

# Coarse facts kept after erasure for aggregate analytics; nothing that singles a person out.
TRAITS_KEPT_AFTER_ERASURE = frozenset({"province"})


def register_export_section(name: str, section: ExportSection) -> None:
    _export_sections[name] = section


def person_get(*, one_id: str) -> Person:
    """The person for a OneID, following merges to the survivor."""
    person = Person.objects.filter(one_id=one_id).first()
    if person is None:
        raise PersonNotFound(detail={"one_id": one_id})
    hops = 0
    while person.status == PersonStatus.MERGED and person.merged_into_id is not None and hops < 10:
        person = Person.objects.get(pk=person.merged_into_id)
        hops += 1
    return person


def _identity_section(person: Person) -> dict[str, Any]:
    identifiers = list(Identifier.objects.filter(person=person).order_by("pk"))
    identifier_ids = [i.pk for i in identifiers]
    return {
        "person": {
            "one_id": person.one_id,
            "status": person.status,
            "display_name": person.display_name,
            "traits": person.traits,
            "private_traits": person.private_traits or {},
            "trait_sources": person.trait_sources,
            "first_source": person.source,
            "created_at": person.created_at.isoformat(),
            "updated_at": person.updated_at.isoformat(),
        },
        "identifiers": [
            {
                "type": i.type,
                "scope": i.scope,
                "value": i.value,
                "verified": i.verified,
                "source": i.source,
                "first_seen": i.created_at.isoformat(),
                "last_seen": i.last_seen_at.isoformat() if i.last_seen_at else None,
            }
            for i in identifiers
        ],
        "merged_from": [
            {
                "one_id": r.from_person.one_id,
                "reason": r.reason,
                "at": r.created_at.isoformat(),
                "evidence": r.evidence_detail,
            }
            for r in MergeRecord.objects.filter(into_person=person).select_related("from_person")
        ],
        "conflicts": list(
            IdentityConflict.objects.filter(left_id__in=identifier_ids).values(
                "reason", "detail", "status"
            )
        )
        + list(
            IdentityConflict.objects.filter(right_id__in=identifier_ids).values(
                "reason", "detail", "status"
            )
        ),
        "logins": [
            {
                "method": t.method,
                "created_at": t.created_at.isoformat(),
                "revoked": t.revoked_at is not None,
            }
            for t in ConsumerToken.objects.filter(person=person).order_by("pk")
        ],
        "changes": [
            {"action": a.action, "actor": a.actor_label, "at": a.created_at.isoformat()}
            for a in AuditLog.objects.filter(
                target_type="identity.Person", target_id=str(person.pk)
            ).order_by("pk")
        ],
    }


register_export_section("identity", _identity_section)


def person_export(*, actor: Actor, one_id: str) -> dict[str, Any]:
    """Everything the system holds about one person, in clear (it goes to that person)."""
    person = person_get(one_id=one_id)
    if person.status == PersonStatus.ERASED:
        raise PersonErasedError()
    document = {
        "one_id": person.one_id,
        "exported_at": clock.now().isoformat(),
        "sections": {name: section(person) for name, section in sorted(_export_sections.items())},
    }
    audit_record(
        actor=actor,
        action="person.export",
        target=person,
        after={"sections": sorted(_export_sections)},
    )
    return document


def person_erase(*, actor: Actor, one_id: str, reason: str) -> Person:
    """Erase a person's personal data; keep the row, the OneID and non-identifying facts.

    Identifier values and their blind indexes are overwritten (the identifier can never be
    looked up again), names and private traits dropped, logins revoked, links removed.
    Orders and events keep pointing at the OneID, which no longer leads to a human.
    """
    with transaction.atomic():
        person = person_get(one_id=one_id)
        people_lock([person.pk])
        person.refresh_from_db()
        if person.status == PersonStatus.ERASED:
            raise PersonErasedError()
        now = clock.now()
        identifiers = list(Identifier.objects.filter(person=person))
        counts: dict[str, int] = {}
        for identifier in identifiers:
            counts[identifier.type] = counts.get(identifier.type, 0) + 1
        IdentifierLink.objects.filter(left__person=person).delete()
        IdentifierLink.objects.filter(right__person=person).delete()
        for identifier in identifiers:
            Identifier.objects.filter(pk=identifier.pk).update(
                value="", value_index=f"erased:{identifier.pk}", verified=False
            )
        ConsumerToken.objects.filter(person=person, revoked_at__isnull=True).update(revoked_at=now)
        # People merged into this one still carry their own copy of what they were called.
        Person.objects.filter(merged_into=person).update(
            display_name="", private_traits={}, traits={}
        )
        person.display_name = ""
        person.private_traits = {}
        person.traits = {k: v for k, v in person.traits.items() if k in TRAITS_KEPT_AFTER_ERASURE}
        person.trait_sources = {k: v for k, v in person.trait_sources.items() if k in person.traits}
        person.status = PersonStatus.ERASED
        person.erased_at = now
        person.updated_at = now
        person.save()
        audit_record(
            actor=actor,
            action="person.erase",
            target=person,
            after={"identifiers_erased": counts, "reason": reason[:200]},
        )
        publish(PersonErased(person_id=person.pk, one_id=person.one_id))
        return person
