"""Online OneID resolution: `identify()` and the machinery it shares with split and rebuild.

One call = one transaction:
1. normalise and validate the identifiers (phone to E.164, email lower-cased, scopes present);
2. lock them (PostgreSQL advisory locks in sorted order; SQLite serialises writers anyway);
3. store new identifiers and the call's links (evidence), mark verified ones;
4. load the evidence component the call touches and lock its people in primary-key order;
5. compute the canonical partition of that component (identity.partition) and move
   identifiers so every group is one person: people left empty are merged into the
   person who received their identifiers (recorded, audited, `IdentityMerged` on commit);
6. record refused links as conflicts for review, apply traits, answer with the OneID.

Because step 5 depends only on the stored evidence, the final people do not depend on the
order calls arrive in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.db import retry_transient
from freshloop.core.events import publish
from freshloop.identity.components import (
    Component,
    component_load,
    component_load_locked,
)
from freshloop.identity.errors import (
    InvalidIdentifier,
)
from freshloop.identity.events import PersonCreated
from freshloop.identity.locks import advisory_lock, call_identifiers_lock, people_lock
from freshloop.identity.merging import (
    PRIVATE_TRAITS,
    SOURCE_PRIORITY,
    ApplyOutcome,
    MergeEvidence,
    conflicts_record,
    merge_evidence_find,
    partition_apply,
    person_merge_into,
    person_references_repoint,
    traits_apply,
)
from freshloop.identity.models import (
    Identifier,
    IdentifierLink,
    IdentitySplitMember,
    Person,
    PersonStatus,
)
from freshloop.identity.normalise import (
    MAX_IDENTIFIERS_PER_CALL,
    MAX_TRAITS,
    MAX_VALUE_LENGTH,
    IdentifierInput,
    NormalisedIdentifier,
    identifier_index,
    identifier_key,
    identifier_normalise,
    identifiers_normalise,
    phone_normalise,
    traits_validate,
)
from freshloop.identity.partition import partition
from freshloop.identity.rules import rule_for

# Written in normalise.py, components.py, locks.py, merging.py; part of this module's public face.
__all__ = [
    "MAX_IDENTIFIERS_PER_CALL",
    "MAX_TRAITS",
    "MAX_VALUE_LENGTH",
    "PRIVATE_TRAITS",
    "SOURCE_PRIORITY",
    "ApplyOutcome",
    "Component",
    "IdentifierInput",
    "MergeEvidence",
    "NormalisedIdentifier",
    "advisory_lock",
    "component_load",
    "component_load_locked",
    "conflicts_record",
    "identifier_index",
    "identifier_key",
    "identifier_normalise",
    "identifiers_normalise",
    "merge_evidence_find",
    "partition_apply",
    "people_lock",
    "person_merge_into",
    "person_references_repoint",
    "phone_normalise",
    "traits_apply",
    "traits_validate",
]


DEADLOCK_RETRIES = 5
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=10)


# --- identify ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentifyResult:
    person: Person
    created: bool
    merged_from: list[str]
    conflicts: int


def identify(
    *,
    identifiers: Sequence[IdentifierInput],
    traits: dict[str, Any] | None = None,
    source: str,
    occurred_at: dt.datetime | None = None,
    display_name: str = "",
    actor: Actor | None = None,
) -> IdentifyResult:
    """Resolve a set of identifiers to one OneID, linking, merging and recording conflicts."""
    normalised = identifiers_normalise(identifiers)
    traits = traits_validate(traits or {})
    occurred_at = occurred_at or clock.now()
    if occurred_at.tzinfo is None:
        raise InvalidIdentifier("occurred_at 需要带时区", detail={"occurred_at": str(occurred_at)})
    actor = actor or Actor.system(f"identity.{source}")
    owns_transaction = not transaction.get_connection().in_atomic_block
    # Two calls growing one component from different ends can lock its people in different
    # orders; PostgreSQL aborts one, and the whole call runs again.
    return retry_transient(
        lambda: _identify_once(
            normalised=normalised,
            traits=traits,
            source=source,
            occurred_at=occurred_at,
            display_name=display_name,
            actor=actor,
            owns_transaction=owns_transaction,
        ),
        attempts=DEADLOCK_RETRIES,
    )


def _identify_once(
    *,
    normalised: list[NormalisedIdentifier],
    traits: dict[str, Any],
    source: str,
    occurred_at: dt.datetime,
    display_name: str,
    actor: Actor,
    owns_transaction: bool,
) -> IdentifyResult:
    with transaction.atomic():
        advisory_lock(n.key for n in normalised)
        now = clock.now()
        existing = call_identifiers_lock(normalised)
        seen, verified = _last_seen_refresh(normalised, existing, now=now)
        holders = {identifier.person_id for identifier in existing.values()}
        fresh_items = [item for item in normalised if item.key not in existing]
        if len(holders) <= 1 and _joins_unchanged(holders, fresh_items):
            result, learnt = _identify_simple(
                normalised=normalised,
                existing=existing,
                fresh_items=fresh_items,
                traits=traits,
                source=source,
                occurred_at=occurred_at,
                display_name=display_name,
                actor=actor,
                now=now,
            )
            if owns_transaction and seen and not (learnt or verified):
                _commit_without_waiting_for_disk()
            return result
        return _identify_repartition(
            normalised=normalised,
            existing=existing,
            traits=traits,
            source=source,
            occurred_at=occurred_at,
            display_name=display_name,
            actor=actor,
            now=now,
        )


def _commit_without_waiting_for_disk() -> None:
    """Let this transaction's COMMIT return before PostgreSQL has flushed its WAL to disk.

    Only for a call that wrote nothing but `last_seen_at` (a known customer coming back): a
    durable commit waits for the disk (an fdatasync, 4 ms at the median and 14 ms at p99 on
    the shared development machine) for a timestamp that is only shown to people. If the
    database server crashes within a few hundred milliseconds (3 × wal_writer_delay) the
    refresh is lost and the previous `last_seen_at` stays; the database stays consistent and
    every other transaction keeps waiting for the disk. Only the outermost transaction may
    choose this (SET LOCAL would cover a caller's writes too). SQLite already commits in WAL
    mode without a sync (synchronous=NORMAL)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO off")


def _last_seen_refresh(
    normalised: list[NormalisedIdentifier], existing: dict[str, Identifier], *, now: dt.datetime
) -> tuple[bool, bool]:
    """Mark known identifiers seen (and verified when the call says so), one UPDATE per kind of
    change rather than one per identifier; return whether any was marked seen, and whether
    any was newly verified.
    last_seen_at is for people reading the page, not for resolution: refreshing it at most
    every few minutes keeps returning customers from writing on every call."""
    changes: dict[tuple[str, ...], list[int]] = {}
    for item in normalised:
        identifier = existing.get(item.key)
        if identifier is None:
            continue
        fields: list[str] = []
        if identifier.last_seen_at is None or now - identifier.last_seen_at > LAST_SEEN_RESOLUTION:
            identifier.last_seen_at = now
            fields.append("last_seen_at")
        if item.verified and not identifier.verified:
            identifier.verified = True
            fields.append("verified")
        if fields:
            changes.setdefault(tuple(fields), []).append(identifier.pk)
    values: dict[str, Any] = {"last_seen_at": now, "verified": True}
    for changed, pks in changes.items():
        Identifier.objects.filter(pk__in=pks).update(**{name: values[name] for name in changed})
    return (
        any("last_seen_at" in changed for changed in changes),
        any("verified" in changed for changed in changes),
    )


def _joins_unchanged(holders: set[int], fresh_items: list[NormalisedIdentifier]) -> bool:
    """Whether the call leaves the stored partition as it is, apart from its new identifiers
    joining the one person who holds the rest (or forming a new person, when nobody does).

    True when at most one person holds the call's known identifiers and no new identifier
    takes a single-valued slot (a phone, an openid of one app…) that person already fills.
    Why the partition cannot change then: the call's links join only that person's group
    and the new identifiers, a union the rules accept at any point of the partition's fixed
    order (every part of the group is consistent with the whole, and a new identifier adds
    no slot the group holds and no split side); accepting a union earlier than before only
    makes groups larger, and the rules' refusals are monotone in a group's size, so every
    other link is decided as before. A call with no known identifier is one new group:
    `identifiers_normalise` already refused two values of one slot in a call.
    """
    if not holders:
        return True
    slots = {(item.type, item.scope) for item in fresh_items if rule_for(item.type).single_valued}
    if not slots:
        return True
    (holder,) = holders
    held = set(
        Identifier.objects.filter(
            person_id=holder, type__in=sorted({identifier_type for identifier_type, _ in slots})
        ).values_list("type", "scope")
    )
    return not (slots & held)


def _identify_simple(
    *,
    normalised: list[NormalisedIdentifier],
    existing: dict[str, Identifier],
    fresh_items: list[NormalisedIdentifier],
    traits: dict[str, Any],
    source: str,
    occurred_at: dt.datetime,
    display_name: str,
    actor: Actor,
    now: dt.datetime,
) -> tuple[IdentifyResult, bool]:
    """A call whose new identifiers (if any) all join one person, existing or new: store
    them and the call's links; nothing to repartition, merge or refuse (`_joins_unchanged`).
    Also returns whether the call stored anything but `last_seen_at` (a person, an
    identifier, a link, a trait)."""
    created = not existing
    if created:
        person = Person(
            source=source, display_name=display_name[:64], created_at=now, updated_at=now
        )
        traits_apply(person, traits, source=source, occurred_at=occurred_at)
        person.save(force_insert=True)
    else:
        person = next(iter(existing.values())).person
    call_identifiers = dict(existing)
    if fresh_items:
        call_identifiers.update(
            _identifiers_store(fresh_items, person_id=person.pk, source=source, now=now)
        )
    new_links = _link_star(
        [call_identifiers[item.key] for item in normalised],
        fresh={call_identifiers[item.key].pk for item in fresh_items},
        source=source,
        now=now,
    )
    learnt = bool(fresh_items or new_links)
    if created:
        _person_created_record(person, source=source, actor=actor)
    else:
        learnt |= _traits_save(
            person, traits, source=source, occurred_at=occurred_at, display_name=display_name
        )
    return IdentifyResult(person=person, created=created, merged_from=[], conflicts=0), learnt


def _identify_repartition(
    *,
    normalised: list[NormalisedIdentifier],
    existing: dict[str, Identifier],
    traits: dict[str, Any],
    source: str,
    occurred_at: dt.datetime,
    display_name: str,
    actor: Actor,
    now: dt.datetime,
) -> IdentifyResult:
    """A call that may change who is who: it names several people, or brings an identifier
    its person cannot hold. Store the evidence, then repartition the component it touches."""
    known_pks = {identifier.pk for identifier in existing.values()}
    call_identifiers, provisional = _store_call_identifiers(
        normalised, existing, source=source, display_name=display_name, now=now
    )
    _link_star(
        call_identifiers,
        fresh={i.pk for i in call_identifiers if i.pk not in known_pks},
        source=source,
        now=now,
    )
    answer = min(call_identifiers, key=lambda i: (rule_for(i.type).priority, i.pk))
    locked = {i.person_id: i.person for i in existing.values()}
    component, people = component_load_locked((i.pk for i in call_identifiers), locked=locked)
    result = partition(component.nodes(), component.links, component.splits)
    outcome = partition_apply(
        component=component,
        result=result,
        people=people,
        reason="identify",
        source=source,
        actor=actor,
        provisional=provisional,
    )
    # Every person partition_apply hands back was read under lock in this transaction and
    # saved after each change, so it is current: no need to read it again.
    person = outcome.group_person[answer.pk]
    _traits_save(person, traits, source=source, occurred_at=occurred_at, display_name=display_name)
    fresh_people = list(outcome.created)
    if provisional is not None and any(
        owner.pk == provisional.pk for owner in outcome.group_person.values()
    ):
        fresh_people.append(provisional)
    for fresh in fresh_people:
        _person_created_record(fresh, source=source, actor=actor)
    merged_from = [merged.one_id for merged, into in outcome.merged if into.pk == person.pk]
    return IdentifyResult(
        person=person,
        created=any(fresh.pk == person.pk for fresh in fresh_people),
        merged_from=merged_from,
        conflicts=outcome.conflicts_opened,
    )


def _traits_save(
    person: Person,
    traits: dict[str, Any],
    *,
    source: str,
    occurred_at: dt.datetime,
    display_name: str,
) -> bool:
    changed = traits_apply(person, traits, source=source, occurred_at=occurred_at)
    if display_name and not person.display_name:
        person.display_name = display_name[:64]
        changed = True
    if changed:
        person.updated_at = clock.now()
        person.save(
            update_fields=[
                "traits",
                "private_traits",
                "trait_sources",
                "display_name",
                "updated_at",
            ]
        )
    return changed


def _store_call_identifiers(
    normalised: list[NormalisedIdentifier],
    existing: dict[str, Identifier],
    *,
    source: str,
    display_name: str,
    now: dt.datetime,
) -> tuple[list[Identifier], Person | None]:
    holders = {identifier.person_id for identifier in existing.values()}
    # With exactly one known holder, new identifiers start with that person (the usual
    # outcome); the partition still checks the rules and moves them out if it must. Only a
    # call with no known identifier, or several holders, needs a provisional person.
    fresh_items = [item for item in normalised if item.key not in existing]
    provisional: Person | None = None
    if not fresh_items:
        return [existing[item.key] for item in normalised], None
    if len(holders) == 1:
        (home_id,) = holders
    else:
        provisional = Person.objects.create(
            source=source, display_name=display_name[:64], created_at=now, updated_at=now
        )
        home_id = provisional.pk
    created = _identifiers_store(fresh_items, person_id=home_id, source=source, now=now)
    return [existing.get(item.key) or created[item.key] for item in normalised], provisional


def _person_created_record(person: Person, *, source: str, actor: Actor) -> None:
    """A person this call created: audited, and announced (after commit) to other modules."""
    audit_record(
        actor=actor,
        action="person.create",
        target=person,
        after={"one_id": person.one_id, "source": source},
    )
    publish(PersonCreated(one_id=person.one_id, source=source, person_id=person.pk))


def _identifiers_store(
    items: list[NormalisedIdentifier], *, person_id: int, source: str, now: dt.datetime
) -> dict[str, Identifier]:
    """The call's new identifiers, stored for `person_id` in one insert, by their keys."""
    stored = Identifier.objects.bulk_create(
        [
            Identifier(
                person_id=person_id,
                type=item.type,
                scope=item.scope,
                value=item.value,
                value_index=item.index,
                verified=item.verified,
                source=source,
                created_at=now,
                last_seen_at=now,
            )
            for item in items
        ]
    )
    return dict(zip((item.key for item in items), stored, strict=True))


def _link_star(
    identifiers: list[Identifier], *, fresh: set[int], source: str, now: dt.datetime
) -> int:
    """One call's evidence: every identifier linked to the call's first (smallest key).
    Only a pair of identifiers stored before this call can already be linked, so only those
    are looked up. Returns how many links are new."""
    if len(identifiers) < 2:
        return 0
    hub = identifiers[0]
    pairs = {tuple(sorted((hub.pk, other.pk))) for other in identifiers[1:] if other.pk != hub.pk}
    known_pairs = [pair for pair in pairs if not fresh & set(pair)]
    known: set[tuple[int, int]] = set()
    if known_pairs:
        known = set(
            IdentifierLink.objects.filter(
                left_id__in=[a for a, _ in known_pairs], right_id__in=[b for _, b in known_pairs]
            ).values_list("left_id", "right_id")
        )
    missing = sorted(pairs - known)
    if missing:
        IdentifierLink.objects.bulk_create(
            [
                IdentifierLink(left_id=a, right_id=b, source=source, first_seen_at=now)
                for a, b in missing
            ],
            ignore_conflicts=True,
        )
    return len(missing)


# --- split --------------------------------------------------------------------------------


def person_split(
    *, actor: Actor, person: Person, identifier_ids: Sequence[int], reason: str
) -> Person:
    """Split a wrong merge: the chosen identifiers become a new person, and the decision is
    remembered so the same evidence never joins the two sides again."""
    from freshloop.identity.errors import SplitInvalid
    from freshloop.identity.events import IdentitySplit as IdentitySplitEvent
    from freshloop.identity.models import IdentitySplit

    chosen = set(identifier_ids)
    if not reason.strip():
        raise SplitInvalid("请填写拆分原因")
    with transaction.atomic():
        people_lock([person.pk])
        person.refresh_from_db()
        if person.status != PersonStatus.ACTIVE:
            raise SplitInvalid("只能拆分有效用户", detail={"status": person.status})
        held = set(person.identifiers.values_list("pk", flat=True))
        if not chosen or not chosen <= held or chosen == held:
            raise SplitInvalid(
                "请选择该用户的部分（不是全部）身份标识",
                detail={"held": len(held), "chosen": len(chosen)},
            )
        now = clock.now()
        split = IdentitySplit.objects.create(
            person=person, reason=reason.strip()[:200], actor_label=actor.label, created_at=now
        )
        IdentitySplitMember.objects.bulk_create(
            [IdentitySplitMember(split=split, identifier_id=pk, side="a") for pk in sorted(chosen)]
            + [
                IdentitySplitMember(split=split, identifier_id=pk, side="b")
                for pk in sorted(held - chosen)
            ]
        )
        component, people = component_load_locked(held)
        result = partition(component.nodes(), component.links, component.splits)
        outcome = partition_apply(
            component=component,
            result=result,
            people=people,
            reason="split",
            source="operator",
            actor=actor,
            prefer_new_for=chosen,
        )
        new_person = outcome.group_person[min(chosen)]
        split.new_person = new_person
        split.save(update_fields=["new_person"])
        audit_record(
            actor=actor,
            action="person.split",
            target=person,
            before={"identifiers": sorted(held)},
            after={
                "new_one_id": new_person.one_id,
                "moved": sorted(chosen),
                "reason": split.reason,
            },
        )
        publish(
            IdentitySplitEvent(
                person_id=person.pk,
                new_person_id=new_person.pk,
                one_id=person.one_id,
                new_one_id=new_person.one_id,
            )
        )
        return new_person
