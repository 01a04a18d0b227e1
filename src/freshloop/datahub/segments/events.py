"""Segment facts other modules react to (SCRM's 进入人群 journeys)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from freshloop.core.events import DomainEvent

# A segment of 100,000 newcomers is announced in parts, so no single event (and no durable
# handler's row) carries an unbounded list.
JOINED_CHUNK = 5000


@dataclasses.dataclass(frozen=True, kw_only=True)
class SegmentMembersJoined(DomainEvent):
    """People who are in the segment after a materialisation and were not before it.

    One materialisation may announce several of these (`part` of `parts`, each at most
    JOINED_CHUNK people); they share `materialised_at`, which names the materialisation, so a
    listener keyed on (segment, materialised_at, person) reacts once however often the event is
    delivered."""

    name = "SegmentMembersJoined"
    segment_id: int
    segment_name: str
    person_ids: tuple[int, ...]
    materialised_at: dt.datetime
    part: int = 1
    parts: int = 1
