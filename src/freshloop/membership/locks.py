"""Row locks of the membership module: memberships of a person's whole merge family, always
in primary-key order, after the survivor of any merge is known."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.identity.models import Person, PersonStatus
from freshloop.membership.errors import MemberNotFound
from freshloop.membership.levels import member_levels
from freshloop.membership.models import Membership


def survivor_get(person_id: int) -> Person:
    """The person itself, or the person it was merged into (merges point at the survivor)."""
    person = Person.objects.filter(pk=person_id).first()
    hops = 0
    while (
        person is not None
        and person.status == PersonStatus.MERGED
        and person.merged_into_id is not None
        and hops < 10
    ):
        person = Person.objects.filter(pk=person.merged_into_id).first()
        hops += 1
    if person is None:
        raise MemberNotFound(detail={"person_id": person_id})
    return person


def membership_get_or_create(*, person: Person) -> Membership:
    """The person's membership; a new one starts on the lowest level with nothing."""
    existing = Membership.objects.select_related("level").filter(person=person).first()
    if existing is not None:
        return existing
    lowest = member_levels()[0]
    now = clock.now()
    try:
        with transaction.atomic():
            return Membership.objects.create(
                person=person, level=lowest, joined_at=now, updated_at=now
            )
    except IntegrityError:
        # Another request created it between our read and insert.
        return Membership.objects.select_related("level").get(person=person)


def memberships_lock(person_ids: Iterable[int]) -> dict[int, Membership]:
    """Lock the memberships of these people in primary-key order (the module's one helper).

    Creates missing memberships first (outside the lock, idempotently). Must run inside a
    transaction. Returned by person id.
    """
    ids = sorted(set(person_ids))
    people = {person.pk: person for person in Person.objects.filter(pk__in=ids)}
    for person_id in ids:
        if person_id not in people:
            raise MemberNotFound(detail={"person_id": person_id})
        membership_get_or_create(person=people[person_id])
    # Only the membership rows: the level and person come along to be read, and locking them
    # too would make every payment of one level wait on the others (and deadlock against
    # an operator's level edit or identity's people locks).
    locked = (
        Membership.objects.select_for_update(of=("self",))
        .filter(person_id__in=ids)
        .order_by("pk")
        .select_related("level", "person")
    )
    return {membership.person_id: membership for membership in locked}
