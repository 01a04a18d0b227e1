"""Facts about manual tags: an operator, a journey or a sync put a tag on a person or took it
off. Published in the writing transaction (delivered after commit), so a module that mirrors
tags elsewhere (scrm: WeCom's corp tags) can follow durably."""

from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class ManualTagChanged(DomainEvent):
    """`added` True: the person now has the tag; False: it was taken off. `actor_type` /
    `actor_id` say who did it (core.audit.Actor), so a sync can ignore its own changes."""

    name = "ManualTagChanged"
    person_id: int
    tag: str
    added: bool
    actor_type: str
    actor_id: str
