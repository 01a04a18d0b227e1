"""Loads of the identity graph: the connected component an identify call touches, and its
people locked (the locks themselves are in `locks.py`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q

from freshloop.identity.locks import people_lock
from freshloop.identity.models import (
    Identifier,
    IdentifierLink,
    IdentitySplitMember,
    Person,
)
from freshloop.identity.normalise import identifier_key
from freshloop.identity.partition import Node, Split


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
        ids = sorted(frontier)
        next_ids: set[int] = set()
        for left, right, source in IdentifierLink.objects.filter(
            Q(left_id__in=ids) | Q(right_id__in=ids)
        ).values_list("left_id", "right_id", "source"):
            links[(left, right)] = source
            next_ids.add(right)
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
    seed_identifier_ids: Iterable[int],
    *,
    person_ids: Iterable[int] = (),
    locked: dict[int, Person] | None = None,
) -> tuple[Component, dict[int, Person]]:
    """Lock the people we already know are involved (`locked`: people the caller has locked
    in this transaction already), load the component, and lock whoever else it turned out to
    hold; reload until nobody new appears."""
    seeds = set(seed_identifier_ids)
    held: dict[int, Person] = dict(locked or {})
    wanted = set(person_ids) - set(held)
    if wanted:
        held.update(people_lock(wanted))
    # Each round locks at least one more person of a finite graph, so this ends; returning
    # before nobody new appears would repartition people we do not hold.
    while True:
        component = component_load(seeds)
        missing = component.person_ids - set(held)
        if not missing:
            return component, held
        held.update(people_lock(missing))
