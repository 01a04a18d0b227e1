"""What the assistant, check-in and draws keep about people, when OneIDs merge or a person is
erased (PIPL): the check-ins and the group messages' sender links follow the survivor; an
erased person's check-ins go and their group messages lose their text and sender."""

from __future__ import annotations

from django.db import transaction

from freshloop.community.models import CheckIn, GroupMessage


def community_follow_merge(*, from_person_id: int, into_person_id: int) -> None:
    """Re-point to the survivor; a day both had checked in keeps the survivor's check-in
    (one a day; the points each earned stay in the ledger, which membership merges)."""
    with transaction.atomic():
        survivor_days = CheckIn.objects.filter(person_id=into_person_id).values_list(
            "day", flat=True
        )
        CheckIn.objects.filter(person_id=from_person_id, day__in=list(survivor_days)).delete()
        CheckIn.objects.filter(person_id=from_person_id).update(person_id=into_person_id)
        GroupMessage.objects.filter(sender_person_id=from_person_id).update(
            sender_person_id=into_person_id
        )


def community_erase(*, person_id: int) -> None:
    with transaction.atomic():
        CheckIn.objects.filter(person_id=person_id).delete()
        GroupMessage.objects.filter(sender_person_id=person_id).update(
            sender="erased", text="", sender_person_id=None
        )
