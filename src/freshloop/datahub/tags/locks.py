"""Row locks of tags: a manual tag row, one at a time. Putting a tag on locks the person first
(`identity.services.people_lock`, so a merge cannot move the person's tags meanwhile), then
writes the tag; taking one off locks only the tag's row."""

from __future__ import annotations

from freshloop.datahub.models import ManualTag
from freshloop.identity.models import Person


def manual_tag_lock(*, person: Person, tag: str) -> ManualTag | None:
    """The person's tag row with this text, locked, or None when the person has no such tag."""
    return ManualTag.objects.select_for_update().filter(person=person, tag=tag).first()
