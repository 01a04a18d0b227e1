"""Resolving many identifier sets at once, for callers that resolve thousands in a row (the
data hub's flush: a live room's new viewers arrive in waves).

`identify_many` answers what `identify()` would answer for each set, without traits. The two
cases that make up nearly every such batch are done in bulk, in one transaction:

- every identifier of the set is known, they belong to one person, and the set's links are
  already stored: nothing new is learnt, the answer is that person (`identify`'s own fast path);
- the set is a single identifier nobody holds yet: a new person with that identifier, exactly
  what `identify` creates for it (audited, `PersonCreated` announced after commit).

Everything else — new links between known identifiers, several holders, a new identifier beside
known ones — can change the partition and goes through `identify` one set at a time, after
the bulk transaction, so the answers never depend on which path a set took.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_entry, audit_record_many
from freshloop.core.db import retry_transient
from freshloop.core.errors import DomainError
from freshloop.core.events import publish
from freshloop.identity.events import PersonCreated
from freshloop.identity.models import Identifier, IdentifierLink, Person
from freshloop.identity.resolver import (
    DEADLOCK_RETRIES,
    LAST_SEEN_RESOLUTION,
    IdentifierInput,
    NormalisedIdentifier,
    advisory_lock,
    identifier_key,
    identifiers_normalise,
    identify,
)

# Bound on the parameters of one IN (...) query: SQLite and PostgreSQL both take far more, but
# a flush of 5,000 sets with several identifiers each should not build one giant statement.
_LOOKUP_CHUNK = 2000


@dataclass(frozen=True)
class IdentifyCall:
    identifiers: Sequence[IdentifierInput]
    source: str
    occurred_at: dt.datetime


@dataclass
class _Known:
    pk: int
    person_id: int
    last_seen_at: dt.datetime | None
    verified: bool


def identify_many(calls: Sequence[IdentifyCall]) -> list[int | DomainError]:
    """The person id `identify` would give each call, in order, or the error it would raise."""
    results: list[int | DomainError | None] = [None] * len(calls)
    normalised: dict[int, list[NormalisedIdentifier]] = {}
    for index, call in enumerate(calls):
        try:
            normalised[index] = identifiers_normalise(call.identifiers)
        except DomainError as error:
            results[index] = error
    if normalised:
        resolved = retry_transient(
            lambda: _bulk_resolve(calls, normalised), attempts=DEADLOCK_RETRIES
        )
        for index, person_id in resolved.items():
            results[index] = person_id
    for index in normalised:
        if results[index] is not None:
            continue
        call = calls[index]
        try:
            results[index] = identify(
                identifiers=call.identifiers, source=call.source, occurred_at=call.occurred_at
            ).person.pk
        except DomainError as error:
            results[index] = error
    answered: list[int | DomainError] = []
    for result in results:
        assert result is not None  # every call was answered by one of the two paths
        answered.append(result)
    return answered


def _bulk_resolve(
    calls: Sequence[IdentifyCall], normalised: dict[int, list[NormalisedIdentifier]]
) -> dict[int, int]:
    """Resolve the calls the bulk paths cover; the rest are left out of the answer."""
    now = clock.now()
    resolved: dict[int, int] = {}
    with transaction.atomic():
        advisory_lock(item.key for items in normalised.values() for item in items)
        known = _known_identifiers({item.index for items in normalised.values() for item in items})
        stored_links = _stored_links(normalised, known)
        stale: set[int] = set()
        new_single: dict[str, list[int]] = {}
        for index, items in normalised.items():
            found = [known.get(item.key) for item in items]
            # A call proving a known identifier verified learns something (identify marks it,
            # and verified identifiers weigh more in the partition): not a bulk case.
            upgrades = any(
                item.verified and f is not None and not f.verified
                for item, f in zip(items, found, strict=True)
            )
            if upgrades:
                continue
            if all(f is not None for f in found):
                holders = {f.person_id for f in found if f is not None}
                if len(holders) == 1 and _links_stored(found, stored_links):
                    resolved[index] = holders.pop()
                    stale |= {
                        f.pk
                        for f in found
                        if f is not None
                        and (f.last_seen_at is None or now - f.last_seen_at > LAST_SEEN_RESOLUTION)
                    }
            elif len(items) == 1:
                new_single.setdefault(items[0].key, []).append(index)
        if stale:
            Identifier.objects.filter(pk__in=sorted(stale)).update(last_seen_at=now)
        resolved.update(_people_create(calls, normalised, new_single, now))
    return resolved


def _known_identifiers(indexes: set[str]) -> dict[str, _Known]:
    known: dict[str, _Known] = {}
    ordered = sorted(indexes)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        rows = Identifier.objects.filter(
            value_index__in=ordered[start : start + _LOOKUP_CHUNK]
        ).values_list("pk", "type", "scope", "value_index", "person_id", "last_seen_at", "verified")
        for pk, kind, scope, index, person_id, last_seen_at, verified in rows:
            known[identifier_key(kind, scope, index)] = _Known(
                pk, person_id, last_seen_at, verified
            )
    return known


def _star_pairs(found: Sequence[_Known | None]) -> set[tuple[int, int]]:
    """The links `identify` stores for a call: its first identifier to each of the others."""
    if len(found) < 2 or any(f is None for f in found):
        return set()
    hub = found[0]
    assert hub is not None  # checked just above; narrows the type
    return {
        (min(hub.pk, other.pk), max(hub.pk, other.pk))
        for other in found[1:]
        if other is not None and other.pk != hub.pk
    }


def _stored_links(
    normalised: dict[int, list[NormalisedIdentifier]], known: dict[str, _Known]
) -> set[tuple[int, int]]:
    wanted: set[tuple[int, int]] = set()
    for items in normalised.values():
        wanted |= _star_pairs([known.get(item.key) for item in items])
    if not wanted:
        return set()
    stored: set[tuple[int, int]] = set()
    lefts = sorted({left for left, _ in wanted})
    for start in range(0, len(lefts), _LOOKUP_CHUNK):
        stored |= set(
            IdentifierLink.objects.filter(
                left_id__in=lefts[start : start + _LOOKUP_CHUNK]
            ).values_list("left_id", "right_id")
        )
    return stored & wanted


def _links_stored(found: Sequence[_Known | None], stored_links: set[tuple[int, int]]) -> bool:
    return _star_pairs(found) <= stored_links


def _people_create(
    calls: Sequence[IdentifyCall],
    normalised: dict[int, list[NormalisedIdentifier]],
    new_single: dict[str, list[int]],
    now: dt.datetime,
) -> dict[int, int]:
    """One new person per unknown identifier (several calls naming it share the person)."""
    if not new_single:
        return {}
    first_calls = [indexes[0] for indexes in new_single.values()]
    people = Person.objects.bulk_create(
        [Person(source=calls[i].source, created_at=now, updated_at=now) for i in first_calls],
        batch_size=500,
    )
    Identifier.objects.bulk_create(
        [
            Identifier(
                person_id=person.pk,
                type=item.type,
                scope=item.scope,
                value=item.value,
                value_index=item.index,
                verified=item.verified,
                source=calls[i].source,
                created_at=now,
                last_seen_at=now,
            )
            for i, person in zip(first_calls, people, strict=True)
            for item in normalised[i]
        ],
        batch_size=500,
    )
    audit_record_many(
        [
            audit_entry(
                actor=Actor.system(f"identity.{calls[i].source}"),
                action="person.create",
                target=person,
                after={"one_id": person.one_id, "source": calls[i].source},
            )
            for i, person in zip(first_calls, people, strict=True)
        ]
    )
    for i, person in zip(first_calls, people, strict=True):
        publish(PersonCreated(one_id=person.one_id, source=calls[i].source, person_id=person.pk))
    return {
        index: person.pk
        for indexes, person in zip(new_single.values(), people, strict=True)
        for index in indexes
    }
