"""Test set-up for membership, through the real services."""

from __future__ import annotations

from freshloop.core.audit import Actor
from freshloop.identity.models import Person
from freshloop.membership.models import MemberLevel, Membership
from freshloop.membership.services import membership_get_or_create, points_adjust

TEST_ACTOR = Actor.system("tests")


def give_points(person: Person, points: int) -> None:
    """Credit points the way an operator would (an audited adjustment)."""
    points_adjust(person_id=person.pk, delta=points, reason="测试发放", actor=TEST_ACTOR)


def membership_of(person: Person) -> Membership:
    return Membership.objects.select_related("level").get(person=person)


def level(code: str) -> MemberLevel:
    return MemberLevel.objects.get(code=code)


def ensure_member(person: Person) -> Membership:
    return membership_get_or_create(person=person)
