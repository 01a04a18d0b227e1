from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class PersonCreated(DomainEvent):
    name = "PersonCreated"
    one_id: str
    source: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsumerLoggedIn(DomainEvent):
    name = "ConsumerLoggedIn"
    one_id: str
    method: str
