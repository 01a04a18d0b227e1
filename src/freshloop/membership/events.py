from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberLevelChanged(DomainEvent):
    """A member moved up (earned, merged) or down (refund reversed their qualification)."""

    name = "MemberLevelChanged"
    person_id: int
    one_id: str
    from_level_code: str
    to_level_code: str
    reason: str
