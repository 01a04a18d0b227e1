"""Typed helpers that set up test data through the real services."""

from __future__ import annotations

import itertools

from django.contrib.auth.models import User

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role, roles_ensure, user_role_assign
from freshloop.identity.models import IdentifierType, Person
from freshloop.identity.services import person_resolve_identifier, phone_normalise

_phone_numbers = itertools.count(13800000001)


def next_phone() -> str:
    """A fresh valid mainland mobile number for each call."""
    return str(next(_phone_numbers))


def make_person(*, phone: str | None = None, source: str = "test") -> Person:
    resolution = person_resolve_identifier(
        identifier_type=IdentifierType.PHONE,
        value=phone_normalise(phone or next_phone()),
        verified=True,
        source=source,
    )
    return resolution.person


def make_staff_user(
    username: str, *roles: Role, password: str = "pass-1234", superuser: bool = False
) -> User:
    roles_ensure()
    if superuser:
        user = User.objects.create_superuser(username=username, password=password)
    else:
        user = User.objects.create_user(username=username, password=password, is_staff=True)
    for role in roles:
        user_role_assign(actor=Actor.system("tests"), user=user, role=role)
    return user
