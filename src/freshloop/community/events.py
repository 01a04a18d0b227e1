"""Domain events of community (one block per feature)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from freshloop.core.events import DomainEvent

# --- daily check-in ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class CommunityCheckedIn(DomainEvent):
    """A customer checked in for the day (每日签到), from the H5 page or a group keyword."""

    name = "CommunityCheckedIn"
    person_id: int
    day: dt.date
    streak: int
    points: int
    chat_id: str
    channel: str
