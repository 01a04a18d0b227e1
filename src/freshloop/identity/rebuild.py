"""Batch rebuild of the identity graph: every identifier's person recomputed from the evidence.

Connected components (scipy) give the answer for every component that holds no conflict —
almost all of them — in one vectorised pass. Only components where the merge rules could bite
(two values of a single-valued type, or an operator's split) go through the canonical
partition, the very function online resolution uses, so batch and online always agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from django.db import transaction
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from freshloop.core.audit import Actor, audit_record
from freshloop.identity.models import Identifier, IdentifierLink, IdentitySplitMember
from freshloop.identity.partition import Node, Split, partition
from freshloop.identity.resolver import component_load_locked, partition_apply
from freshloop.identity.rules import IDENTIFIER_RULES

TYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(sorted(IDENTIFIER_RULES))}
SINGLE_VALUED_CODES = np.array(
    [IDENTIFIER_RULES[name].single_valued for name in sorted(IDENTIFIER_RULES)], dtype=bool
)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GraphArrays:
    """The identity graph as arrays: node i has type_codes[i], scope_codes[i], keys[i]."""

    type_codes: npt.NDArray[np.int16]
    scope_codes: npt.NDArray[np.int32]
    keys: Sequence[str]
    left: IntArray
    right: IntArray
    splits: list[Split] = field(default_factory=list)


def partition_labels(graph: GraphArrays) -> tuple[IntArray, int]:
    """Label every node with its person (labels are 0..k-1); returns labels and how many
    components needed the rule-aware partition."""
    node_count = len(graph.type_codes)
    if node_count == 0:
        return np.zeros(0, dtype=np.int64), 0
    adjacency = coo_matrix(
        (np.ones(len(graph.left), dtype=np.int8), (graph.left, graph.right)),
        shape=(node_count, node_count),
    ).tocsr()
    component_count, labels = connected_components(adjacency, directed=False)
    labels = labels.astype(np.int64)

    flagged = _components_needing_rules(graph, labels)
    if len(flagged) == 0:
        return labels, 0

    # Re-partition the flagged components with the merge rules; their extra groups get new
    # labels after the existing ones.
    members_of = _members_by_component(labels, flagged)
    edges_of = _edges_by_component(graph, labels, flagged)
    splits_by_node: dict[int, list[Split]] = defaultdict(list)
    for split in graph.splits:
        for node_id in split.side_a | split.side_b:
            splits_by_node[node_id].append(split)
    next_label = component_count
    for component in flagged.tolist():
        members = members_of[component]
        nodes = {
            int(i): Node(
                id=int(i),
                key=graph.keys[i],
                type=_TYPE_NAMES[graph.type_codes[i]],
                scope=str(graph.scope_codes[i]),
            )
            for i in members
        }
        splits = {split.id: split for i in members for split in splits_by_node.get(int(i), [])}
        result = partition(nodes, edges_of.get(component, []), list(splits.values()))
        for group in result.groups[1:]:
            labels[np.asarray(group, dtype=np.int64)] = next_label
            next_label += 1
    return labels, len(flagged)


_TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}


def _components_needing_rules(graph: GraphArrays, labels: IntArray) -> IntArray:
    """Components holding two single-valued identifiers of one (type, scope), or split members."""
    single = SINGLE_VALUED_CODES[graph.type_codes]
    conflicted = np.zeros(0, dtype=np.int64)
    if single.any():
        component = labels[single]
        type_code = graph.type_codes[single].astype(np.int64)
        scope_code = graph.scope_codes[single].astype(np.int64)
        scope_span = int(scope_code.max()) + 1
        if len(TYPE_CODES) * scope_span <= 4096:
            slot_count, slot = len(TYPE_CODES) * scope_span, type_code * scope_span + scope_code
        else:  # many app ids: compact the (type, scope) pairs first
            uniques, slot = np.unique(type_code * scope_span + scope_code, return_inverse=True)
            slot_count = len(uniques)
        # bincount is linear: a count above one is a conflict in that component and slot.
        counts = np.bincount(component * slot_count + slot)
        conflicted = np.unique(np.flatnonzero(counts > 1) // slot_count)
    split_nodes = [node for split in graph.splits for node in (*split.side_a, *split.side_b)]
    if split_nodes:
        conflicted = np.union1d(
            conflicted, np.unique(labels[np.asarray(split_nodes, dtype=np.int64)])
        )
    return conflicted.astype(np.int64)


def _members_by_component(labels: IntArray, components: IntArray) -> dict[int, IntArray]:
    mask = np.isin(labels, components)
    nodes = np.nonzero(mask)[0]
    order = np.argsort(labels[nodes], kind="stable")
    nodes = nodes[order]
    boundaries = np.flatnonzero(np.diff(labels[nodes])) + 1
    return {int(labels[chunk[0]]): chunk for chunk in np.split(nodes, boundaries) if len(chunk)}


def _edges_by_component(
    graph: GraphArrays, labels: IntArray, components: IntArray
) -> dict[int, list[tuple[int, int]]]:
    edge_component = labels[graph.left]
    mask = np.isin(edge_component, components)
    result: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for component, left, right in zip(
        edge_component[mask].tolist(),
        graph.left[mask].tolist(),
        graph.right[mask].tolist(),
        strict=True,
    ):
        result[component].append((left, right))
    return result


# --- against the database ---------------------------------------------------------------


@dataclass(frozen=True)
class RebuildReport:
    identifiers: int
    people_before: int
    people_after: int
    components_with_rules: int
    components_changed: int
    merges: int
    new_people: int
    conflicts_opened: int
    dry_run: bool


def identity_rebuild(*, actor: Actor, dry_run: bool = False) -> RebuildReport:
    """Recompute every person from the stored evidence and apply the differences.

    Safe while the system is live: each changed component is re-read, locked and applied in
    its own short transaction with the same code online resolution uses; components nobody
    touched are left alone.
    """
    rows = list(
        Identifier.objects.order_by("pk").values_list(
            "pk", "type", "scope", "value_index", "person_id"
        )
    )
    position = {row[0]: index for index, row in enumerate(rows)}
    scope_codes: dict[str, int] = {"": 0}
    links = list(IdentifierLink.objects.values_list("left_id", "right_id"))
    sides: dict[int, dict[str, set[int]]] = defaultdict(lambda: {"a": set(), "b": set()})
    for split_id, identifier_id, side in IdentitySplitMember.objects.values_list(
        "split_id", "identifier_id", "side"
    ):
        if identifier_id in position:
            sides[split_id][side].add(position[identifier_id])
    graph = GraphArrays(
        type_codes=np.array([TYPE_CODES[row[1]] for row in rows], dtype=np.int16),
        scope_codes=np.array(
            [scope_codes.setdefault(row[2], len(scope_codes)) for row in rows], dtype=np.int32
        ),
        keys=[f"{row[1]}\x00{row[2]}\x00{row[3]}" for row in rows],
        left=np.array([position[left] for left, _ in links], dtype=np.int64),
        right=np.array([position[right] for _, right in links], dtype=np.int64),
        splits=[
            Split(id=split_id, side_a=frozenset(s["a"]), side_b=frozenset(s["b"]))
            for split_id, s in sides.items()
        ],
    )
    labels, with_rules = partition_labels(graph)
    people_now = np.array([row[4] for row in rows], dtype=np.int64)

    # A label whose identifiers sit with several people, or a person spread over several
    # labels, is a component whose stored people differ from the evidence.
    changed_seeds: list[int] = []
    people_per_label: dict[int, set[int]] = defaultdict(set)
    labels_per_person: dict[int, set[int]] = defaultdict(set)
    first_identifier_of_label: dict[int, int] = {}
    for index, (label, person_id) in enumerate(
        zip(labels.tolist(), people_now.tolist(), strict=True)
    ):
        people_per_label[label].add(person_id)
        labels_per_person[person_id].add(label)
        first_identifier_of_label.setdefault(label, rows[index][0])
    for label, holders in people_per_label.items():
        if len(holders) > 1 or any(len(labels_per_person[p]) > 1 for p in holders):
            changed_seeds.append(first_identifier_of_label[label])

    merges = new_people = opened = 0
    if not dry_run:
        done: set[int] = set()
        for seed in changed_seeds:
            if seed in done:
                continue
            with transaction.atomic():
                component, people = component_load_locked([seed])
                done |= set(component.identifiers)
                result = partition(component.nodes(), component.links, component.splits)
                outcome = partition_apply(
                    component=component,
                    result=result,
                    people=people,
                    reason="rebuild",
                    source="rebuild",
                    actor=actor,
                )
                merges += len(outcome.merged)
                new_people += len(outcome.created)
                opened += outcome.conflicts_opened
    people_after = (
        len(set(Identifier.objects.values_list("person_id", flat=True)))
        if not dry_run
        else len(np.unique(labels))
    )
    report = RebuildReport(
        identifiers=len(rows),
        people_before=len(set(people_now.tolist())),
        people_after=people_after,
        components_with_rules=with_rules,
        components_changed=len(changed_seeds),
        merges=merges,
        new_people=new_people,
        conflicts_opened=opened,
        dry_run=dry_run,
    )
    audit_record(
        actor=actor,
        action="identity.rebuild" + (".dry_run" if dry_run else ""),
        target_type="identity.Graph",
        target_id="all",
        after=report.__dict__,
    )
    return report
