"""Applying a partition of a component: merge people (recording the evidence), split them,\nmove traits, re-point references, record conflicts."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.identity.components import Component
from freshloop.identity.events import IdentityMerged
from freshloop.identity.models import (
    ConflictStatus,
    Identifier,
    IdentityConflict,
    MatchCandidate,
    MergeRecord,
    Person,
    PersonStatus,
)
from freshloop.identity.normalise import identifier_key
from freshloop.identity.partition import PartitionResult
from freshloop.identity.rules import rule_for

# Higher wins when two sources write a trait at the same instant.
SOURCE_PRIORITY: dict[str, int] = {
    "operator": 100,
    "crm_import": 50,
    "h5_profile": 40,
    "h5_otp": 30,
    "wechat_oauth": 30,
    "wecom": 30,
    "live": 20,
    "shop": 20,
    "store_pos": 20,
    "douyin": 10,
}


@dataclass
class ApplyOutcome:
    group_person: dict[int, Person]  # identifier id -> person it now belongs to
    merged: list[tuple[Person, Person]]  # (from, into)
    created: list[Person]
    conflicts_opened: int


# Traits that identify someone are kept in the sealed `private_traits`, the rest in `traits`.
PRIVATE_TRAITS = frozenset({"name", "real_name", "address", "birthday", "id_card_last4"})


def _trait_container(person: Person, name: str) -> dict[str, Any]:
    if name in PRIVATE_TRAITS:
        if not isinstance(person.private_traits, dict):
            person.private_traits = {}
        return person.private_traits
    return person.traits


def _merge_traits(into: Person, other: Person) -> None:
    for container in (other.traits, other.private_traits or {}):
        for name, value in container.items():
            meta = other.trait_sources.get(name, {})
            _apply_trait(into, name, value, meta.get("at", ""), meta.get("source", ""))


def _apply_trait(person: Person, name: str, value: Any, at: str, source: str) -> bool:
    """Last write wins by time; at the same instant the higher-priority source wins."""
    container = _trait_container(person, name)
    current = person.trait_sources.get(name)
    if current is not None and name in container:
        incoming = (at, SOURCE_PRIORITY.get(source, 0))
        existing = (current.get("at", ""), SOURCE_PRIORITY.get(current.get("source", ""), 0))
        if incoming <= existing:
            return False
    container[name] = value
    person.trait_sources[name] = {"at": at, "source": source}
    return True


def traits_apply(
    person: Person, traits: dict[str, Any], *, source: str, occurred_at: dt.datetime
) -> bool:
    at = occurred_at.astimezone(dt.UTC).isoformat()
    changed = False
    for name, value in traits.items():
        changed |= _apply_trait(person, name, value, at, source)
    return changed


def partition_apply(
    *,
    component: Component,
    result: PartitionResult,
    people: dict[int, Person],
    reason: str,
    source: str,
    actor: Actor,
    prefer_new_for: set[int] | None = None,
    provisional: Person | None = None,
    decision: MatchCandidate | None = None,
) -> ApplyOutcome:
    """Make the stored people match the partition's groups.

    Each group keeps the oldest person among those holding its identifiers, so the OneID a
    customer has had longest survives; a person whose identifiers are split across groups
    stays with the group holding most of them (strong identifiers count ten times a weak
    one). People left with nothing are merged into
    whoever received their identifiers. `prefer_new_for` marks identifiers whose group must get a fresh person
    (a split's new side). `provisional` is the person a call created for its new identifiers:
    existing people always win ownership over it, and if it ends up empty it is deleted —
    it never existed outside this transaction. `decision` is the review-queue candidate an
    operator accepted: the merge of its two people records it as evidence.

    Every merge records what proved it (`merge_evidence_find`).
    """
    holder_before = {pk: identifier.person_id for pk, identifier in component.identifiers.items()}
    provisional_pk = provisional.pk if provisional is not None else None
    now = clock.now()
    prefer_new_for = prefer_new_for or set()
    counts: Counter[tuple[int, int]] = Counter()
    for group_index, group in enumerate(result.groups):
        if prefer_new_for and set(group) <= prefer_new_for:
            continue
        for identifier_id in group:
            identifier = component.identifiers[identifier_id]
            # A person follows their strong identifiers (phone, unionid…) rather than a
            # shared device, so a split-off weak identifier never takes the OneID with it.
            weight = 10 if rule_for(identifier.type).strong else 1
            counts[(group_index, identifier.person_id)] += weight
    ranked = sorted(
        counts.items(),
        key=lambda item: (item[0][1] == provisional_pk, item[0][1], -item[1], item[0][0]),
    )
    group_owner: dict[int, Person] = {}
    used: set[int] = set()
    for (group_index, person_id), _count in ranked:
        if group_index in group_owner or person_id in used:
            continue
        group_owner[group_index] = people[person_id]
        used.add(person_id)
    created: list[Person] = []
    for group_index in range(len(result.groups)):
        if group_index not in group_owner:
            fresh = Person.objects.create(source=source, created_at=now, updated_at=now)
            group_owner[group_index] = fresh
            created.append(fresh)

    assignment: dict[int, Person] = {}
    moves: dict[int, list[int]] = defaultdict(list)
    received_from: dict[int, Counter[int]] = defaultdict(Counter)
    for group_index, group in enumerate(result.groups):
        owner = group_owner[group_index]
        for identifier_id in group:
            assignment[identifier_id] = owner
            previous = component.identifiers[identifier_id].person_id
            if previous != owner.pk:
                moves[owner.pk].append(identifier_id)
                received_from[previous][owner.pk] += 1
    for owner_pk, identifier_ids in moves.items():
        Identifier.objects.filter(pk__in=identifier_ids).update(person_id=owner_pk)
        for identifier_id in identifier_ids:
            component.identifiers[identifier_id].person_id = owner_pk

    merged: list[tuple[Person, Person]] = []
    if provisional_pk is not None and provisional_pk not in used:
        people.pop(provisional_pk, None)
        Person.objects.filter(pk=provisional_pk).delete()
    for person_id, person in sorted(people.items()):
        if person_id in used or person.status != PersonStatus.ACTIVE:
            continue
        if not received_from.get(person_id):
            continue  # held nothing in this component (should not happen; stay safe)
        into_pk = sorted(received_from[person_id].items(), key=lambda item: (-item[1], item[0]))[0][
            0
        ]
        group_index, into = next(
            (index, owner) for index, owner in group_owner.items() if owner.pk == into_pk
        )
        evidence = merge_evidence_find(
            component=component,
            group=result.groups[group_index],
            holder_before=holder_before,
            merged_person_id=person_id,
            survivor_id=into_pk,
        )
        if decision is not None and {person_id, into_pk} == {
            decision.person_a_id,
            decision.person_b_id,
        }:
            evidence = evidence.with_decision(candidate=decision, actor=actor, at=now)
        person_merge_into(
            person=person,
            into=into,
            reason=reason,
            source=source,
            actor=actor,
            evidence=evidence,
        )
        merged.append((person, into))

    opened = conflicts_record(result=result, now=now)
    return ApplyOutcome(
        group_person=assignment, merged=merged, created=created, conflicts_opened=opened
    )


@dataclass(frozen=True)
class MergeEvidence:
    """What proved a merge. `identifier` is the survivor's identifier (held before the merge)
    that the merged person's identifiers were linked to; `detail` is what MergeRecord keeps in
    `evidence_detail` — ids, types and link sources, never a value."""

    identifier: Identifier | None
    detail: dict[str, Any]
    candidate: MatchCandidate | None = None

    def with_decision(
        self, *, candidate: MatchCandidate, actor: Actor, at: dt.datetime
    ) -> MergeEvidence:
        """The same evidence, as an operator's accepted review-queue match."""
        detail = {
            **self.detail,
            "kind": "review",
            "decision": {"action": "accept", "by": actor.label, "at": at.isoformat()},
            "candidate": {
                "id": candidate.pk,
                "score": candidate.score,
                "match_weight": candidate.match_weight,
                "fields": dict(candidate.evidence),
            },
        }
        return MergeEvidence(identifier=self.identifier, detail=detail, candidate=candidate)


def _identifier_ref(identifier: Identifier) -> dict[str, Any]:
    reference: dict[str, Any] = {"id": identifier.pk, "type": identifier.type}
    if identifier.scope:
        reference["scope"] = identifier.scope  # an app or corp id, not personal data
    return reference


def merge_evidence_find(
    *,
    component: Component,
    group: Sequence[int],
    holder_before: dict[int, int],
    merged_person_id: int,
    survivor_id: int,
) -> MergeEvidence:
    """The shortest chain of links, inside the group both people's identifiers now form, from
    an identifier the merged person held to one the survivor held (before this merge).

    Its last identifier is the evidence: the survivor's phone, unionid… the merged person
    turned up with. Ties go to the smallest identifier keys (the partition's stable order), so
    the answer depends only on the stored evidence, like the merge itself.
    """
    members = set(group)
    key = {
        pk: identifier_key(i.type, i.scope, i.value_index)
        for pk, i in component.identifiers.items()
        if pk in members
    }
    neighbours: dict[int, list[int]] = defaultdict(list)
    for left, right in component.links:
        if left in members and right in members:
            neighbours[left].append(right)
            neighbours[right].append(left)
    starts = sorted(
        (pk for pk in members if holder_before.get(pk) == merged_person_id), key=key.__getitem__
    )
    previous: dict[int, int | None] = dict.fromkeys(starts)
    queue = deque(starts)
    found: int | None = None
    while queue and found is None:
        node = queue.popleft()
        for neighbour in sorted(neighbours[node], key=key.__getitem__):
            if neighbour in previous:
                continue
            previous[neighbour] = node
            if holder_before.get(neighbour) == survivor_id:
                found = neighbour
                break
            queue.append(neighbour)
    if found is None:  # the group is connected, so this means the state was not consistent
        return MergeEvidence(identifier=None, detail={"kind": "unknown"})
    path = [found]
    while (step := previous[path[-1]]) is not None:
        path.append(step)
    path.reverse()  # merged person's identifier first, the survivor's last
    last_link = (min(path[-2], path[-1]), max(path[-2], path[-1]))
    identifiers = component.identifiers
    return MergeEvidence(
        identifier=identifiers[found],
        detail={
            "kind": "link",
            "identifier": _identifier_ref(identifiers[found]),
            "linked_with": _identifier_ref(identifiers[path[0]]),
            "via": [_identifier_ref(identifiers[pk]) for pk in path[1:-1]],
            "link_source": component.link_sources.get(last_link, ""),
        },
    )


def person_merge_into(
    *,
    person: Person,
    into: Person,
    reason: str,
    source: str,
    actor: Actor,
    evidence: MergeEvidence,
) -> None:
    """Fold `person` into `into`: traits combined, history kept, references re-pointed on commit."""
    now = clock.now()
    _merge_traits(into, person)
    if not into.display_name and person.display_name:
        into.display_name = person.display_name
    into.updated_at = now
    into.save(
        update_fields=["traits", "private_traits", "trait_sources", "display_name", "updated_at"]
    )
    person.status = PersonStatus.MERGED
    person.merged_into = into
    person.updated_at = now
    person.save(update_fields=["status", "merged_into", "updated_at"])
    # Earlier merges into `person` now point straight at the survivor (one hop to resolve).
    Person.objects.filter(merged_into=person).update(merged_into=into)
    MergeRecord.objects.create(
        from_person=person,
        into_person=into,
        reason=reason,
        evidence=evidence.identifier,
        evidence_detail=evidence.detail,
        match_candidate=evidence.candidate,
        source=source,
        actor_label=actor.label,
        created_at=now,
    )
    person_references_repoint(from_person_id=person.pk, into_person_id=into.pk)
    audit_record(
        actor=actor,
        action="person.merge",
        target=into,
        before={"from_one_id": person.one_id},
        after={"into_one_id": into.one_id, "reason": reason, "evidence": evidence.detail},
    )
    publish(
        IdentityMerged(
            from_person_id=person.pk,
            into_person_id=into.pk,
            from_one_id=person.one_id,
            into_one_id=into.one_id,
            reason=reason,
        )
    )


def person_references_repoint(*, from_person_id: int, into_person_id: int) -> None:
    """Identity's own rows that name a person move inside the merge transaction; other
    modules re-point theirs when they hear IdentityMerged."""
    from freshloop.identity.models import ConsumerToken

    ConsumerToken.objects.filter(person_id=from_person_id).update(person_id=into_person_id)


def conflicts_record(*, result: PartitionResult, now: dt.datetime) -> int:
    """Keep each refused link as a conflict, once per pair: one read for the pairs already
    recorded and one insert for the rest. The caller holds the component's people, so no
    other call records the same pair meanwhile (the insert still ignores a duplicate)."""
    wanted: dict[tuple[int, int], IdentityConflict] = {}
    for blocked in result.blocked:
        left, right = sorted((blocked.left, blocked.right))
        if (left, right) in wanted:
            continue
        # A link refused because of an operator's split was already decided: keep it as
        # history, not as work in the review queue.
        decided = blocked.reason == "split"
        wanted[(left, right)] = IdentityConflict(
            left_id=left,
            right_id=right,
            reason=blocked.reason,
            detail=blocked.detail[:200],
            status=ConflictStatus.DISMISSED if decided else ConflictStatus.OPEN,
            created_at=now,
        )
    if not wanted:
        return 0
    known = set(
        IdentityConflict.objects.filter(
            left_id__in={left for left, _ in wanted}, right_id__in={right for _, right in wanted}
        ).values_list("left_id", "right_id")
    )
    fresh = [conflict for pair, conflict in sorted(wanted.items()) if pair not in known]
    IdentityConflict.objects.bulk_create(fresh, ignore_conflicts=True)
    return sum(1 for conflict in fresh if conflict.status == ConflictStatus.OPEN)
