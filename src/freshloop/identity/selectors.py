from __future__ import annotations

from dataclasses import dataclass

from freshloop.core import crypto
from freshloop.identity.models import Identifier, IdentifierType, Person


def identifier_mask(identifier: Identifier) -> str:
    """What a screen or a log may show of an identifier's value."""
    value = identifier.value
    if identifier.type == IdentifierType.PHONE:
        return crypto.mask_phone(value)
    if identifier.type == IdentifierType.EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{value[:3]}***{value[-3:]}" if len(value) > 8 else "***"


@dataclass(frozen=True)
class MaskedIdentifier:
    type: str
    masked_value: str
    verified: bool
    label: str = ""


def person_identifiers_masked(*, person: Person) -> list[MaskedIdentifier]:
    return [
        MaskedIdentifier(
            type=ident.type,
            masked_value=identifier_mask(ident),
            verified=ident.verified,
            label=str(IdentifierType(ident.type).label),
        )
        for ident in person.identifiers.order_by("type", "pk")
    ]


def person_by_identifier(*, identifier_type: str, value: str, scope: str = "") -> Person | None:
    """Look a person up by any identifier (normalised the same way identify() does)."""
    from freshloop.identity.resolver import IdentifierInput, identifier_normalise

    normalised = identifier_normalise(
        IdentifierInput(type=identifier_type, value=value, scope=scope)
    )
    identifier = (
        Identifier.objects.select_related("person")
        .filter(type=normalised.type, scope=normalised.scope, value_index=normalised.index)
        .first()
    )
    return identifier.person if identifier is not None else None


def person_ids_by_any_identifier(*, term: str) -> list[int]:
    """Person ids holding an identifier equal to `term`, trying every type (and every scope
    seen for scoped types): what an operator types in a search box is a phone, an openid, an
    email… and the box does not ask which."""
    from freshloop.core.errors import DomainError
    from freshloop.identity.resolver import IdentifierInput, identifier_normalise
    from freshloop.identity.rules import rule_for

    found: set[int] = set()
    for identifier_type in IdentifierType.values:
        scopes = [""]
        if rule_for(identifier_type).scoped:
            scopes = list(
                Identifier.objects.filter(type=identifier_type)
                .values_list("scope", flat=True)
                .distinct()
            )
        for scope in scopes:
            try:
                normalised = identifier_normalise(
                    IdentifierInput(type=identifier_type, value=term, scope=scope)
                )
            except DomainError:
                continue
            found |= set(
                Identifier.objects.filter(
                    type=normalised.type, scope=normalised.scope, value_index=normalised.index
                ).values_list("person_id", flat=True)
            )
    return sorted(found)


def person_summary(*, person: Person, requested_one_id: str | None = None) -> dict[str, object]:
    from freshloop.identity.models import MergeRecord

    return {
        "one_id": person.one_id,
        "status": person.status,
        "display_name": person.display_name,
        "traits": person.traits,
        "identifiers": [
            {
                "id": ident.pk,
                "type": ident.type,
                "scope": ident.scope,
                "masked_value": identifier_mask(ident),
                "verified": ident.verified,
            }
            for ident in person.identifiers.order_by("type", "pk")
        ],
        "merged_from": list(
            MergeRecord.objects.filter(into_person=person).values_list(
                "from_person__one_id", flat=True
            )
        ),
        "requested_one_id": requested_one_id,
        "created_at": person.created_at,
    }
