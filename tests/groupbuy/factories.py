"""Leaders and customers for group-buying tests, made through the real services."""

from __future__ import annotations

import itertools
from typing import Any

from freshloop.core.audit import Actor
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.services import (
    leader_apply,
    leader_approve,
    leader_levels_ensure_defaults,
)
from freshloop.identity.models import Person
from tests.factories import make_person

OPERATOR = Actor(type="user", id="1", label="ops-lily")


def id_number_for(sequence: int) -> str:
    """A valid resident ID number (Shanghai Huangpu, born 1 May 1990) per sequence number. The
    check character is ISO 7064 MOD 11-2 in its textbook form — weight 2^(17-i) mod 11 per
    digit, check = (12 - sum mod 11) mod 11, 10 written X — not the validator's lookup table."""
    body = f"31010119900501{sequence % 1000:03d}"
    total = sum(int(digit) * (2 ** (17 - i) % 11) for i, digit in enumerate(body))
    check = (12 - total % 11) % 11
    return body + ("X" if check == 10 else str(check))


PICKUP_ADDRESS = {
    "name": "王阿姨",
    "phone": "13800138000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张杨路 100 弄 3 号 门口便利店",
}
_next_id = itertools.count()


def application(**overrides: Any) -> dict[str, Any]:
    """A complete, valid application (each call a fresh ID number)."""
    fields: dict[str, Any] = {
        "display_name": "王阿姨团购",
        "pickup_name": "张杨路便利店",
        "pickup_address": dict(PICKUP_ADDRESS),
        "pickup_hours": "每天 09:00-20:00",
        "real_name": "王美丽",
        "id_number": id_number_for(next(_next_id)),
    }
    return fields | overrides


def make_applicant(person: Person | None = None, **overrides: Any) -> GroupLeader:
    # A transactional test (the PostgreSQL concurrency ones) empties the tables, the levels the
    # data migration seeded included: put them back first.
    leader_levels_ensure_defaults()
    return leader_apply(person=person or make_person(), **application(**overrides))


def make_leader(person: Person | None = None, **overrides: Any) -> GroupLeader:
    """An approved, active leader."""
    leader = make_applicant(person, **overrides)
    return leader_approve(actor=OPERATOR, leader_no=leader.leader_no)
