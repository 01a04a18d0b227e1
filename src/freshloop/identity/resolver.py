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

from django.db import transaction

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
from freshloop.identity.locks import advisory_lock, people_lock
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
