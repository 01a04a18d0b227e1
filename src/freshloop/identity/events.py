from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class PersonCreated(DomainEvent):
    name = "PersonCreated"
    one_id: str
    source: str
    person_id: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsumerLoggedIn(DomainEvent):
    name = "ConsumerLoggedIn"
    one_id: str
    method: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class IdentityMerged(DomainEvent):
    """`from_one_id` is now part of `into_one_id`: re-point rows that reference the old person.

    Modules holding person references subscribe to this (see docs/oneid.md).
    """

    name = "IdentityMerged"
    from_person_id: int
    into_person_id: int
    from_one_id: str
    into_one_id: str
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class IdentitySplit(DomainEvent):
    name = "IdentitySplit"
    person_id: int
    new_person_id: int
    one_id: str
    new_one_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PersonErased(DomainEvent):
    name = "PersonErased"
    person_id: int
    one_id: str
