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
import hashlib
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.db import connection, transaction

from freshloop.core import clock, crypto
from freshloop.core.audit import Actor, audit_record
from freshloop.core.db import retry_transient
from freshloop.core.events import publish
from freshloop.identity.errors import (
    ConflictingIdentifiers,
    InvalidIdentifier,
    InvalidPhone,
    TooManyIdentifiers,
)
from freshloop.identity.events import IdentityMerged, PersonCreated
from freshloop.identity.models import (
    ConflictStatus,
    Identifier,
    IdentifierLink,
    IdentityConflict,
    IdentitySplitMember,
    MatchCandidate,
    MergeRecord,
    Person,
    PersonStatus,
)
from freshloop.identity.partition import Node, PartitionResult, Split, partition
from freshloop.identity.rules import IDENTIFIER_RULES, rule_for

MAX_IDENTIFIERS_PER_CALL = 20
MAX_VALUE_LENGTH = 256
MAX_TRAITS = 50
DEADLOCK_RETRIES = 5
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=10)

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


# --- input ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentifierInput:
    type: str
    value: str
    scope: str = ""
    verified: bool = False


@dataclass(frozen=True)
class NormalisedIdentifier:
    type: str
    scope: str
    value: str
    index: str
    verified: bool

    @property
    def key(self) -> str:
        return identifier_key(self.type, self.scope, self.index)


def identifier_key(identifier_type: str, scope: str, index: str) -> str:
    """Stable sort key of an identifier, used by the canonical partition."""
    return f"{identifier_type}\x00{scope}\x00{index}"


def identifier_index(identifier_type: str, value: str, scope: str = "") -> str:
    return crypto.blind_index(f"{scope}\x00{value}", purpose=f"identifier:{identifier_type}")


def phone_normalise(raw: str, *, default_region: str = "CN") -> str:
    """Return the E.164 form of a phone number, or raise InvalidPhone."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 32:
        raise InvalidPhone(detail={"phone": "empty or too long"})
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(detail={"phone": "unparseable"}) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(detail={"phone": "not a valid number"})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def identifier_normalise(item: IdentifierInput) -> NormalisedIdentifier:
    """Validate one identifier and bring it to its canonical text; raise InvalidIdentifier."""
    if item.type not in IDENTIFIER_RULES:
        raise InvalidIdentifier(
            "未知的身份标识类型", detail={"type": item.type, "allowed": sorted(IDENTIFIER_RULES)}
        )
    rule = rule_for(item.type)
    raw = item.value.strip() if isinstance(item.value, str) else ""
    if not raw or len(raw) > MAX_VALUE_LENGTH:
        raise InvalidIdentifier("身份标识的值为空或过长", detail={"type": item.type})
    scope = item.scope.strip()
    if rule.scoped and not scope:
        raise InvalidIdentifier(
            f"{rule.label} 需要提供 scope（应用或企业 ID）", detail={"type": item.type}
        )
    if not rule.scoped:
        scope = ""
    if item.type == "phone":
        try:
            value = phone_normalise(raw)
        except InvalidPhone as error:
            raise InvalidIdentifier("手机号格式不正确", detail={"type": "phone"}) from error
    elif item.type == "email":
        if "@" not in raw or raw.startswith("@") or raw.endswith("@"):
            raise InvalidIdentifier("邮箱格式不正确", detail={"type": "email"})
        value = raw.lower()
    else:
        value = raw
    return NormalisedIdentifier(
        type=item.type,
        scope=scope,
        value=value,
        index=identifier_index(item.type, value, scope),
        verified=bool(item.verified),
    )


def identifiers_normalise(items: Sequence[IdentifierInput]) -> list[NormalisedIdentifier]:
    """Normalise a call's identifiers: deduplicated, bounded, and free of self-contradiction."""
    if not items:
        raise InvalidIdentifier("至少需要一个身份标识")
    if len(items) > MAX_IDENTIFIERS_PER_CALL:
        raise TooManyIdentifiers(detail={"max": MAX_IDENTIFIERS_PER_CALL, "got": len(items)})
    merged: dict[tuple[str, str, str], NormalisedIdentifier] = {}
    for item in items:
        normalised = identifier_normalise(item)
        slot = (normalised.type, normalised.scope, normalised.index)
        previous = merged.get(slot)
        if previous is None or (normalised.verified and not previous.verified):
            merged[slot] = normalised
    single: dict[tuple[str, str], str] = {}
    for normalised in merged.values():
        if not rule_for(normalised.type).single_valued:
            continue
        other = single.setdefault((normalised.type, normalised.scope), normalised.index)
        if other != normalised.index:
            raise ConflictingIdentifiers(detail={"type": normalised.type})
    return sorted(merged.values(), key=lambda n: n.key)


_TRAIT_SCALARS = (str, int, float, bool, type(None))


def traits_validate(traits: dict[str, Any]) -> dict[str, Any]:
    """Traits are flat: short names, scalar values (or short lists of strings)."""
    if not isinstance(traits, dict):
        raise InvalidIdentifier("traits 必须是对象")
    if len(traits) > MAX_TRAITS:
        raise InvalidIdentifier("属性过多", detail={"max": MAX_TRAITS})
    for name, value in traits.items():
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise InvalidIdentifier("属性名需为 1-64 个字符", detail={"trait": str(name)[:64]})
        is_list = (
            isinstance(value, list) and len(value) <= 50 and all(isinstance(v, str) for v in value)
        )
        if not (isinstance(value, _TRAIT_SCALARS) or is_list):
            raise InvalidIdentifier(
                "属性值只能是文本、数字、布尔或文本列表", detail={"trait": name}
            )
        if isinstance(value, str) and len(value) > 500:
            raise InvalidIdentifier("属性值过长", detail={"trait": name})
    return dict(traits)


# --- locking and loading ----------------------------------------------------------------


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


def people_lock(person_ids: Iterable[int]) -> dict[int, Person]:
    """Lock people rows in primary-key order (the module's one locking helper)."""
    ids = sorted(set(person_ids))
    return {
        person.pk: person
        for person in Person.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }


@dataclass
class Component:
    identifiers: dict[int, Identifier] = field(default_factory=dict)
    links: list[tuple[int, int]] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)
    # (left, right) -> where the link came from: the identify call's source, "operator"…
    link_sources: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def person_ids(self) -> set[int]:
        return {identifier.person_id for identifier in self.identifiers.values()}

    def nodes(self) -> dict[int, Node]:
        return {
            pk: Node(
                id=pk,
                key=identifier_key(i.type, i.scope, i.value_index),
                type=i.type,
                scope=i.scope,
            )
            for pk, i in self.identifiers.items()
        }


def component_load(seed_identifier_ids: Iterable[int]) -> Component:
    """The evidence component around the seeds: everything reachable through links or
    through sharing a person (so people are always whole), plus the splits that touch it."""
    component = Component()
    frontier = set(seed_identifier_ids)
    seen_people: set[int] = set()
    links: dict[tuple[int, int], str] = {}
    while frontier:
        batch = Identifier.objects.filter(pk__in=frontier).exclude(pk__in=component.identifiers)
        new_people: set[int] = set()
        for identifier in batch:
            component.identifiers[identifier.pk] = identifier
            if identifier.person_id not in seen_people:
                new_people.add(identifier.person_id)
        seen_people |= new_people
        ids = list(frontier)
        next_ids: set[int] = set()
        for left, right, source in IdentifierLink.objects.filter(left_id__in=ids).values_list(
            "left_id", "right_id", "source"
        ):
            links[(left, right)] = source
            next_ids.add(right)
        for left, right, source in IdentifierLink.objects.filter(right_id__in=ids).values_list(
            "left_id", "right_id", "source"
        ):
            links[(left, right)] = source
            next_ids.add(left)
        if new_people:
            next_ids |= set(
                Identifier.objects.filter(person_id__in=new_people).values_list("pk", flat=True)
            )
        frontier = next_ids - set(component.identifiers)
    component.links = sorted(links)
    component.link_sources = links
    split_rows = IdentitySplitMember.objects.filter(
        identifier_id__in=component.identifiers
    ).values_list("split_id", flat=True)
    split_ids = set(split_rows)
    if split_ids:
        sides: dict[int, dict[str, set[int]]] = defaultdict(lambda: {"a": set(), "b": set()})
        for split_id, identifier_id, side in IdentitySplitMember.objects.filter(
            split_id__in=split_ids
        ).values_list("split_id", "identifier_id", "side"):
            sides[split_id][side].add(identifier_id)
        component.splits = [
            Split(id=split_id, side_a=frozenset(s["a"]), side_b=frozenset(s["b"]))
            for split_id, s in sorted(sides.items())
        ]
    return component


def component_load_locked(
    seed_identifier_ids: Iterable[int], *, person_ids: Iterable[int] = ()
) -> tuple[Component, dict[int, Person]]:
    """Lock the people we already know are involved, load the component, and lock whoever
    else it turned out to hold; reload until nobody new appears."""
    seeds = set(seed_identifier_ids)
    locked: dict[int, Person] = people_lock(person_ids) if person_ids else {}
    for _ in range(5):
        component = component_load(seeds)
        missing = component.person_ids - set(locked)
        if not missing:
            return component, locked
        locked.update(people_lock(component.person_ids))
    return component, locked


# --- applying a partition ---------------------------------------------------------------


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
    opened = 0
    for blocked in result.blocked:
        left, right = sorted((blocked.left, blocked.right))
        # A link refused because of an operator's split was already decided: keep it as
        # history, not as work in the review queue.
        decided = blocked.reason == "split"
        _, created = IdentityConflict.objects.get_or_create(
            left_id=left,
            right_id=right,
            defaults={
                "reason": blocked.reason,
                "detail": blocked.detail[:200],
                "status": ConflictStatus.DISMISSED if decided else ConflictStatus.OPEN,
                "created_at": now,
            },
        )
        opened += int(created and not decided)
    return opened


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
) -> IdentifyResult:
    started = clock.now()
    with transaction.atomic():
        advisory_lock(n.key for n in normalised)
        call_identifiers, provisional = _store_call_identifiers(
            normalised, source=source, display_name=display_name
        )
        new_links = _link_star(call_identifiers, source=source)
        answer = min(call_identifiers, key=lambda i: (rule_for(i.type).priority, i.pk))
        holders = {identifier.person_id for identifier in call_identifiers}
        if (
            provisional is None
            and new_links == 0
            and len(holders) == 1
            and all(identifier.created_at < started for identifier in call_identifiers)
        ):
            # Nothing new was learnt: the evidence, hence the partition, is unchanged, so the
            # call only refreshes traits (the common case: a known customer comes back).
            person = people_lock(holders)[answer.person_id]
            _traits_save(
                person, traits, source=source, occurred_at=occurred_at, display_name=display_name
            )
            return IdentifyResult(person=person, created=False, merged_from=[], conflicts=0)

        component, people = component_load_locked(
            (i.pk for i in call_identifiers), person_ids=holders
        )
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
        person = outcome.group_person[answer.pk]
        person.refresh_from_db()
        _traits_save(
            person, traits, source=source, occurred_at=occurred_at, display_name=display_name
        )
        fresh_people = list(outcome.created)
        if provisional is not None and any(
            owner.pk == provisional.pk for owner in outcome.group_person.values()
        ):
            fresh_people.append(provisional)
        for fresh in fresh_people:
            audit_record(
                actor=actor,
                action="person.create",
                target=fresh,
                after={"one_id": fresh.one_id, "source": source},
            )
            publish(PersonCreated(one_id=fresh.one_id, source=source, person_id=fresh.pk))
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
) -> None:
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


def _store_call_identifiers(
    normalised: list[NormalisedIdentifier], *, source: str, display_name: str
) -> tuple[list[Identifier], Person | None]:
    now = clock.now()
    existing = {
        identifier_key(i.type, i.scope, i.value_index): i
        for i in Identifier.objects.filter(value_index__in=[n.index for n in normalised])
    }
    result: list[Identifier] = []
    provisional: Person | None = None
    holders = {identifier.person_id for identifier in existing.values()}
    # With exactly one known holder, new identifiers start with that person (the usual
    # outcome); the partition still checks the rules and moves them out if it must. Only a
    # call with no known identifier, or several holders, needs a provisional person.
    home_id = next(iter(holders)) if len(holders) == 1 else None
    for item in normalised:
        identifier = existing.get(item.key)
        if identifier is None:
            if home_id is None and provisional is None:
                provisional = Person.objects.create(
                    source=source, display_name=display_name[:64], created_at=now, updated_at=now
                )
            identifier = Identifier.objects.create(
                person_id=home_id if home_id is not None else provisional.pk,  # type: ignore[union-attr]
                type=item.type,
                scope=item.scope,
                value=item.value,
                value_index=item.index,
                verified=item.verified,
                source=source,
                created_at=now,
                last_seen_at=now,
            )
        else:
            updates: dict[str, Any] = {}
            # last_seen_at is for people reading the page, not for resolution: refreshing it
            # at most every few minutes keeps returning customers from writing on every call.
            if (
                identifier.last_seen_at is None
                or now - identifier.last_seen_at > LAST_SEEN_RESOLUTION
            ):
                updates["last_seen_at"] = now
            if item.verified and not identifier.verified:
                updates["verified"] = True
            if updates:
                Identifier.objects.filter(pk=identifier.pk).update(**updates)
        result.append(identifier)
    return result, provisional


def _link_star(identifiers: list[Identifier], *, source: str) -> int:
    """One call's evidence: every identifier linked to the call's first (smallest key).
    Returns how many links are new."""
    if len(identifiers) < 2:
        return 0
    now = clock.now()
    hub = identifiers[0]
    pairs = {tuple(sorted((hub.pk, other.pk))) for other in identifiers[1:] if other.pk != hub.pk}
    known = set(
        IdentifierLink.objects.filter(
            left_id__in=[a for a, _ in pairs], right_id__in=[b for _, b in pairs]
        ).values_list("left_id", "right_id")
    )
    missing = sorted(pairs - known)
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
