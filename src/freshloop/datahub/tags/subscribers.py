"""Tags react to OneID: a merge moves the merged person's manual tags to the survivor."""

from __future__ import annotations

from django.db import transaction

from freshloop.core.events import subscribe
from freshloop.datahub.models import ManualTag
from freshloop.identity.events import IdentityMerged


@subscribe(IdentityMerged, durable=True)
def manual_tags_follow_merge(event: IdentityMerged) -> None:
    """The survivor carries the merged person's tags; a tag both had is kept once."""
    with transaction.atomic():
        kept = set(
            ManualTag.objects.filter(person_id=event.into_person_id).values_list("tag", flat=True)
        )
        moving = ManualTag.objects.filter(person_id=event.from_person_id)
        moving.filter(tag__in=kept).delete()
        moving.update(person_id=event.into_person_id)
