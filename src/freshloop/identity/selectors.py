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


def person_identifiers_masked(*, person: Person) -> list[MaskedIdentifier]:
    return [
        MaskedIdentifier(
            type=ident.type, masked_value=identifier_mask(ident), verified=ident.verified
        )
        for ident in person.identifiers.order_by("type", "pk")
    ]
