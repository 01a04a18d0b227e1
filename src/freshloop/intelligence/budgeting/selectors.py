"""Reads for the WeCom message budget pages (SC-3): a OneID typed in the lookup box, and the
data hub segments the console's simulation builds its sample campaigns from."""

from __future__ import annotations

from freshloop.datahub.models import Segment
from freshloop.datahub.segments.selectors import segment_list, segment_member_ids
from freshloop.identity.models import Person
from freshloop.intelligence.errors import BudgetPersonUnknown

MAX_ONE_ID_CHARS = 40  # Person.one_id's length
# How deep a chain of OneID merges is followed (a corrupt cycle must not hang the page).
MAX_MERGE_HOPS = 10


def budget_person_id(*, one_id: str) -> int:
    """The person a OneID names now (a merged-away OneID leads to its survivor), or
    BudgetPersonUnknown when it names nobody (empty, too long, never issued)."""
    wanted = one_id.strip()
    if not wanted or len(wanted) > MAX_ONE_ID_CHARS:
        raise BudgetPersonUnknown(detail={"one_id": wanted[:MAX_ONE_ID_CHARS]})
    person = Person.objects.filter(one_id=wanted).first()
    if person is None:
        raise BudgetPersonUnknown(detail={"one_id": wanted})
    for _ in range(MAX_MERGE_HOPS):
        if person.merged_into_id is None:
            break
        person = Person.objects.get(pk=person.merged_into_id)
    return int(person.pk)


def simulation_segments(*, limit: int = 3) -> list[tuple[Segment, list[int]]]:
    """The largest saved segments that have members (as last computed), with their members:
    the audiences of the simulation's sample campaigns."""
    segments = sorted(
        (segment for segment in segment_list() if segment.member_count > 0),
        key=lambda segment: (-segment.member_count, segment.pk),
    )[:limit]
    return [(segment, segment_member_ids(segment=segment)) for segment in segments]
