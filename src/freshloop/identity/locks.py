"""Row locks of the identity module (and its advisory locks), always taken in this order:

1. advisory locks on the call's identifier keys (PostgreSQL), all in one ascending statement;
2. a match candidate (one row), when an operator decides one;
3. people, in primary-key order (`people_lock`, or `call_identifiers_lock`, which reads a call's
   identifiers with their people and locks those people in that order in the same statement).

A component that turns out larger than first thought locks its newcomers after the people
already held (`components.component_load_locked`), which can break step 3's order; PostgreSQL
then aborts one of two such calls and `identify` runs it again (`retry_transient`).

Other modules lock a person through `identity.services.people_lock`; identity never waits on
their rows while it holds people (their reactions to a merge run after its commit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import connection

from freshloop.identity.models import Identifier, MatchCandidate, Person
from freshloop.identity.normalise import NormalisedIdentifier, identifier_key


def advisory_lock(keys: Iterable[str]) -> None:
    """Serialise calls that share an identifier, even one no row holds yet (PostgreSQL).

    All of a call's locks in one statement, taken in ascending order (PostgreSQL evaluates a
    volatile select list after ORDER BY), so any two callers lock in the same global order."""
    if connection.vendor != "postgresql":
        return  # SQLite runs write transactions one at a time (BEGIN IMMEDIATE)
    lock_ids = sorted(
        {
            int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            for key in keys
        }
    )
    if not lock_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS t(k) ORDER BY k",
            [lock_ids],
        )


def match_candidate_lock(candidate_id: int) -> MatchCandidate:
    """One review candidate (raises `MatchCandidate.DoesNotExist` when there is none)."""
    return MatchCandidate.objects.select_for_update().get(pk=candidate_id)


def people_lock(person_ids: Iterable[int]) -> dict[int, Person]:
    """Lock people rows in primary-key order; returned by id (missing ids are left out)."""
    ids = sorted(set(person_ids))
    return {
        person.pk: person
        for person in Person.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }


def call_identifiers_lock(normalised: list[NormalisedIdentifier]) -> dict[str, Identifier]:
    """The call's identifiers already stored, by key, each with its person loaded and locked
    (people locked in primary-key order, as `people_lock` does).

    A lock that had to wait returns the person as it is now but the identifier as it was when
    the statement began (PostgreSQL re-checks only the locked row): a merge that committed
    meanwhile may have moved the identifier to another person. So on PostgreSQL the holders
    are read once more; if any moved, lock again from the fresh reading (converges: each
    round starts after the last mover committed). The advisory locks keep the call's own
    identifiers from appearing or vanishing in between."""
    wanted = {n.key for n in normalised}
    indexes = [n.index for n in normalised]
    while True:
        rows = list(
            Identifier.objects.filter(value_index__in=indexes)
            .select_related("person")
            .select_for_update(of=("person",))
            .order_by("person_id", "pk")
        )
        if connection.vendor != "postgresql" or _holders_unchanged(rows):
            break
    found = {identifier_key(i.type, i.scope, i.value_index): i for i in rows}
    # A blind index is per (type, scope, value), so another type can share it only by accident.
    return {key: identifier for key, identifier in found.items() if key in wanted}


def _holders_unchanged(rows: list[Identifier]) -> bool:
    if not rows:
        return True
    current = dict(
        Identifier.objects.filter(pk__in=[i.pk for i in rows]).values_list("pk", "person_id")
    )
    return all(current.get(i.pk) == i.person_id for i in rows)
