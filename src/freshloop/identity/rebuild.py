"""Batch rebuild of the identity graph: every identifier's person recomputed from the evidence.

Connected components (scipy) give the answer for every component that holds no conflict —
almost all of them — in one vectorised pass. Components where the merge rules could bite (two
values of a single-valued type, or an operator's split) get the canonical partition's answer:
small conflict-only components through a vectorised replay of its union-find (one step per
link position, every component at once), the rest — splits and very large components —
through the canonical partition itself, the very function online resolution uses. The replay
takes the same links in the same order with the same refusals, so batch and online agree
(tests/identity compares the two on random graphs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from django.db import transaction
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from freshloop.core.audit import Actor, audit_record
from freshloop.identity.models import Identifier, IdentifierLink, IdentitySplitMember
from freshloop.identity.partition import Node, Split, partition
from freshloop.identity.resolver import component_load_locked, identifier_key, partition_apply
from freshloop.identity.rules import IDENTIFIER_RULES

TYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(sorted(IDENTIFIER_RULES))}
SINGLE_VALUED_CODES = np.array(
    [IDENTIFIER_RULES[name].single_valued for name in sorted(IDENTIFIER_RULES)], dtype=bool
)
STRONG_CODES = np.array(
    [IDENTIFIER_RULES[name].strong for name in sorted(IDENTIFIER_RULES)], dtype=bool
)
# The vectorised replay takes one numpy step per link position; a component with more links
# than this (a store iPad seen with thousands of customers) is cheaper in the partition itself.
MAX_REPLAY_LINKS = 64

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class GraphArrays:
    """The identity graph as arrays: node i has type_codes[i], scope_codes[i], keys[i].

    Keys are unique (type, scope, blind index), as `partition.Node.key` requires.
    """

    type_codes: npt.NDArray[np.int16]
    scope_codes: npt.NDArray[np.int32]
    keys: Sequence[str]
    left: IntArray
    right: IntArray
    splits: list[Split] = field(default_factory=list)


def partition_labels(graph: GraphArrays) -> tuple[IntArray, int]:
    """Label every node with its person (labels are 0..k-1); returns labels and how many
    components needed the rule-aware partition.

    A component the rules split keeps its connected-components label for the group whose
    smallest key comes first; its other groups get new labels after the existing ones, in
    (component, group key) order.
    """
    node_count = len(graph.type_codes)
    if node_count == 0:
        return np.zeros(0, dtype=np.int64), 0
    adjacency = coo_matrix(
        (np.ones(len(graph.left), dtype=np.int8), (graph.left, graph.right)),
        shape=(node_count, node_count),
    ).tocsr()
    component_count, labels32 = connected_components(adjacency, directed=False)
    flagged = _components_needing_rules(graph, labels32, component_count)
    labels = labels32.astype(np.int64)
    if len(flagged) == 0:
        return labels, 0

    is_flagged = np.zeros(component_count, dtype=bool)
    is_flagged[flagged] = True
    members = np.flatnonzero(is_flagged[labels])  # ascending node ids
    member_component = np.searchsorted(flagged, labels[members])  # index into `flagged`
    low, high = _links_among(adjacency, members)
    link_component = member_component[low]

    # Splits and very large components go through the canonical partition one by one.
    by_partition = np.bincount(link_component, minlength=len(flagged)) > MAX_REPLAY_LINKS
    split_nodes = _split_nodes(graph)
    if len(split_nodes):
        by_partition[np.searchsorted(flagged, labels[split_nodes])] = True

    # Per member: the position of its group among its component's groups in key order.
    group_position = np.zeros(len(members), dtype=np.int64)
    replayed = ~by_partition[member_component]
    replayed_links = ~by_partition[link_component]
    if replayed.any():
        group_position[replayed] = _replay_positions(
            graph,
            members=members[replayed],
            member_component=member_component[replayed],
            local_of=np.cumsum(replayed) - 1,
            low=low[replayed_links],
            high=high[replayed_links],
        )
    if by_partition.any():
        _partition_positions(
            graph,
            members=members,
            member_component=member_component,
            low=low[~replayed_links],
            high=high[~replayed_links],
            components=np.flatnonzero(by_partition),
            out=group_position,
        )

    extra = group_position > 0
    if extra.any():
        span = int(group_position.max()) + 1
        codes = labels[members[extra]] * span + group_position[extra]
        _, new_label = np.unique(codes, return_inverse=True)
        labels[members[extra]] = component_count + new_label.reshape(-1)
    return labels, len(flagged)


_TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}


def _split_nodes(graph: GraphArrays) -> IntArray:
    nodes = [node for split in graph.splits for node in (*split.side_a, *split.side_b)]
    return np.unique(np.asarray(nodes, dtype=np.int64))


def _components_needing_rules(
    graph: GraphArrays, labels: npt.NDArray[np.int32], component_count: int
) -> IntArray:
    """Components holding two single-valued identifiers of one (type, scope), or split members.

    Linear passes over the single-valued identifiers only, in 32-bit integers where they fit:
    at a million people this runs next to connected_components, so every pass shows.
    """
    conflicted = np.zeros(0, dtype=np.int64)
    single = np.flatnonzero(SINGLE_VALUED_CODES[graph.type_codes])
    if len(single):
        scope = graph.scope_codes[single]
        span = int(scope.max()) + 1
        # Number only the (type, scope) slots that occur, so the count table stays small.
        if len(TYPE_CODES) * span < 1 << 16:
            slot = graph.type_codes[single].astype(np.int32) * np.int32(span) + scope
            present = np.bincount(slot) > 0
            slot = (np.cumsum(present, dtype=np.int32) - 1)[slot]
            slot_count = int(present.sum())
        else:  # many app ids
            wide = graph.type_codes[single].astype(np.int64) * span + scope
            uniques, inverse = np.unique(wide, return_inverse=True)
            slot, slot_count = inverse.reshape(-1), len(uniques)
        narrow = component_count * slot_count < 1 << 31
        codes = labels[single].astype(np.int32 if narrow else np.int64) * slot_count + slot
        # bincount is linear: a count above one is a conflict in that component and slot.
        counts = np.bincount(codes)
        conflicted = np.unique(np.flatnonzero(counts > 1) // slot_count)
    split_nodes = _split_nodes(graph)
    if len(split_nodes):
        conflicted = np.union1d(conflicted, labels[split_nodes])
    return conflicted.astype(np.int64)


def _links_among(adjacency: csr_matrix, members: IntArray) -> tuple[IntArray, IntArray]:
    """Every distinct link of the members' components, as (low, high) indices into `members`
    (low < high, no self-links). A link's row is its left node, which is in the component."""
    starts = adjacency.indptr[members].astype(np.int64)
    counts = adjacency.indptr[members + 1].astype(np.int64) - starts
    total = int(counts.sum())
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
    left = np.repeat(np.arange(len(members), dtype=np.int64), counts)
    right = np.searchsorted(members, adjacency.indices[offsets].astype(np.int64))
    low, high = np.minimum(left, right), np.maximum(left, right)
    distinct = np.unique((low * len(members) + high)[low != high])
    return distinct // len(members), distinct % len(members)


def _key_ranks(graph: GraphArrays, nodes: IntArray) -> IntArray:
    keys = [graph.keys[node] for node in nodes.tolist()]
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys))
    return ranks


def _replay_positions(
    graph: GraphArrays,
    *,
    members: IntArray,
    member_component: IntArray,
    local_of: IntArray,
    low: IntArray,
    high: IntArray,
) -> IntArray:
    """The canonical partition of many small components at once, for components whose only
    rule is cardinality. Returns, per member, its group's position among its component's
    groups in key order (0 keeps the component's label).

    partition() unions links in (weak, smaller key, larger key) order and refuses a union
    whose two groups both hold a single-valued identifier of one (type, scope) slot — with
    unique keys, two such identifiers always differ. Components never interact, so step t
    applies every component's t-th link together; each group's occupied slots are a bit set.
    """
    count = len(members)
    low, high = local_of[low], local_of[high]
    ranks = _key_ranks(graph, members)
    type_codes = graph.type_codes[members]
    strong = STRONG_CODES[type_codes]
    weak = ~(strong[low] & strong[high])
    first, second = np.minimum(ranks[low], ranks[high]), np.maximum(ranks[low], ranks[high])
    component = member_component[low]
    order = np.lexsort((second, first, weak, component))
    low, high, component = low[order], high[order], component[order]
    starts = np.flatnonzero(np.r_[True, component[1:] != component[:-1]])
    step = np.arange(len(component)) - np.repeat(starts, np.diff(np.r_[starts, len(component)]))
    by_step = np.argsort(step, kind="stable")
    low, high = low[by_step], high[by_step]
    step_bounds = np.searchsorted(step[by_step], np.arange(int(step.max(initial=-1)) + 2))

    occupied = _slot_bits(graph, members, type_codes)
    root = np.arange(count, dtype=np.int64)
    remap = np.arange(count, dtype=np.int64)
    for t in range(len(step_bounds) - 1):
        window = slice(step_bounds[t], step_bounds[t + 1])
        a, b = root[low[window]], root[high[window]]
        join = a != b
        a, b = a[join], b[join]
        join = ~(occupied[a] & occupied[b]).any(axis=1)
        keep, drop = np.minimum(a[join], b[join]), np.maximum(a[join], b[join])
        occupied[keep] |= occupied[drop]
        remap[drop] = keep
        root = remap[root]
        remap[drop] = drop

    # Order each component's groups by their smallest key, as partition() does.
    smallest = np.full(count, count, dtype=np.int64)
    np.minimum.at(smallest, root, ranks)
    groups = np.flatnonzero(root == np.arange(count))
    groups = groups[np.lexsort((smallest[groups], member_component[groups]))]
    group_component = member_component[groups]
    first_of = np.flatnonzero(np.r_[True, group_component[1:] != group_component[:-1]])
    position = np.empty(count, dtype=np.int64)
    position[groups] = np.arange(len(groups)) - np.repeat(
        first_of, np.diff(np.r_[first_of, len(groups)])
    )
    return position[root]


def _slot_bits(
    graph: GraphArrays, members: IntArray, type_codes: npt.NDArray[np.int16]
) -> npt.NDArray[np.uint64]:
    """Per member, a bit set of the single-valued (type, scope) slot it occupies."""
    single = np.flatnonzero(SINGLE_VALUED_CODES[type_codes])
    pairs = type_codes[single].astype(np.int64) << 32 | graph.scope_codes[members[single]]
    _, slot = np.unique(pairs, return_inverse=True)
    slot = slot.reshape(-1)
    words = max(1, (int(slot.max(initial=-1)) + 64) // 64)
    bits = np.zeros((len(members), words), dtype=np.uint64)
    bits[single, slot // 64] = np.left_shift(np.uint64(1), (slot % 64).astype(np.uint64))
    return bits


def _partition_positions(
    graph: GraphArrays,
    *,
    members: IntArray,
    member_component: IntArray,
    low: IntArray,
    high: IntArray,
    components: IntArray,
    out: IntArray,
) -> None:
    """The canonical partition, one component at a time (splits, very large components)."""
    splits_by_node: dict[int, list[Split]] = defaultdict(list)
    for split in graph.splits:
        for node_id in split.side_a | split.side_b:
            splits_by_node[node_id].append(split)
    wanted = np.isin(member_component, components)
    node_order = np.flatnonzero(wanted)
    node_order = node_order[np.argsort(member_component[node_order], kind="stable")]
    node_starts = np.searchsorted(member_component[node_order], components)
    node_ends = np.searchsorted(member_component[node_order], components, side="right")
    link_component = member_component[low]
    link_order = np.argsort(link_component, kind="stable")
    link_starts = np.searchsorted(link_component[link_order], components)
    link_ends = np.searchsorted(link_component[link_order], components, side="right")
    for index in range(len(components)):
        local = node_order[node_starts[index] : node_ends[index]]
        ids = members[local].tolist()
        nodes = {
            node_id: Node(
                id=node_id,
                key=graph.keys[node_id],
                type=_TYPE_NAMES[int(graph.type_codes[node_id])],
                scope=str(int(graph.scope_codes[node_id])),
            )
            for node_id in ids
        }
        chosen = link_order[link_starts[index] : link_ends[index]]
        links = list(
            zip(members[low[chosen]].tolist(), members[high[chosen]].tolist(), strict=True)
        )
        splits = {split.id: split for node_id in ids for split in splits_by_node.get(node_id, [])}
        result = partition(nodes, links, list(splits.values()))
        position_of = {
            node_id: position for position, group in enumerate(result.groups) for node_id in group
        }
        out[local] = [position_of[node_id] for node_id in ids]


def changed_component_rows(labels: IntArray, people_now: IntArray) -> IntArray:
    """Rows whose component's stored people differ from the evidence, one per component (its
    first row), ascending: a label held by several people, or a person spread over several
    labels. `people_now[i]` is the person row i belongs to today."""
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    person = people_now
    if int(person.min()) < 0 or int(person.max()) >= 4 * len(person) + 1024:
        person = np.searchsorted(np.unique(person), person)  # sparse ids: number them densely
    changed = _spread(labels, person, int(labels.max()) + 1)
    spread_people = _spread(person, labels, int(person.max()) + 1)
    changed[labels[spread_people[person]]] = True
    rows = np.flatnonzero(changed[labels])
    _, first = np.unique(labels[rows], return_index=True)
    return np.sort(rows[first])


def _spread(groups: IntArray, values: IntArray, size: int) -> BoolArray:
    """Per group: does it see more than one distinct value?"""
    low = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(size, -1, dtype=np.int64)
    np.minimum.at(low, groups, values)
    np.maximum.at(high, groups, values)
    return (high >= 0) & (low != high)


def _positions(sorted_ids: IntArray, ids: IntArray) -> IntArray:
    """Index of each id in `sorted_ids`, or -1 where it is absent."""
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    index = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[index] == ids, index, -1).astype(np.int64)


class IdentifierKeys(Sequence[str]):
    """Partition keys (type, scope, blind index) built on demand: the partition reads the keys
    of the few components the rules decide, so the millions of others are never formatted."""

    def __init__(self, types: Sequence[str], scopes: Sequence[str], indexes: Sequence[str]) -> None:
        self._types, self._scopes, self._indexes = types, scopes, indexes

    def __len__(self) -> int:
        return len(self._types)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return identifier_key(self._types[index], self._scopes[index], self._indexes[index])


# --- against the database ---------------------------------------------------------------


@dataclass(frozen=True)
class GraphSnapshot:
    graph: GraphArrays
    identifier_ids: IntArray  # node i is identifier identifier_ids[i] (ascending)
    people: IntArray  # node i belongs to person people[i] today


def graph_from_rows(
    rows: Sequence[tuple[int, str, str, str, int]],
    links: Sequence[tuple[int, int]],
    split_rows: Sequence[tuple[int, int, str]],
) -> GraphSnapshot:
    """The graph from identifier rows (pk, type, scope, blind index, person; ascending pk),
    link rows (left, right) and split member rows (split, identifier, side).

    Rows are read one query after another while the system is live: a link or split member
    naming an identifier created after the identifiers were read is left out — the call that
    created it resolves it online, and the next rebuild sees it.
    """
    columns: tuple[tuple[Any, ...], ...] = tuple(zip(*rows, strict=True)) or ((),) * 5
    identifier_ids = np.array(columns[0], dtype=np.int64)
    types, scopes, indexes = columns[1], columns[2], columns[3]
    link_ids = np.array(links, dtype=np.int64).reshape(-1, 2)
    left = _positions(identifier_ids, link_ids[:, 0])
    right = _positions(identifier_ids, link_ids[:, 1])
    known = (left >= 0) & (right >= 0)
    sides: dict[int, dict[str, set[int]]] = defaultdict(lambda: {"a": set(), "b": set()})
    member_positions = _positions(
        identifier_ids, np.array([row[1] for row in split_rows], dtype=np.int64)
    ).tolist()
    for (split_id, _identifier_id, side), index in zip(split_rows, member_positions, strict=True):
        if index >= 0:
            sides[split_id][side].add(index)
    scope_codes: dict[str, int] = {"": 0}
    graph = GraphArrays(
        type_codes=np.array([TYPE_CODES[name] for name in types], dtype=np.int16),
        scope_codes=np.array(
            [scope_codes.setdefault(scope, len(scope_codes)) for scope in scopes], dtype=np.int32
        ),
        keys=IdentifierKeys(types, scopes, indexes),
        left=left[known],
        right=right[known],
        splits=[
            Split(id=split_id, side_a=frozenset(s["a"]), side_b=frozenset(s["b"]))
            for split_id, s in sides.items()
        ],
    )
    return GraphSnapshot(
        graph=graph, identifier_ids=identifier_ids, people=np.array(columns[4], dtype=np.int64)
    )


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
    links = list(IdentifierLink.objects.values_list("left_id", "right_id"))
    split_rows = list(IdentitySplitMember.objects.values_list("split_id", "identifier_id", "side"))
    snapshot = graph_from_rows(rows, links, split_rows)
    del rows, links
    graph, identifier_ids, people_now = snapshot.graph, snapshot.identifier_ids, snapshot.people
    labels, with_rules = partition_labels(graph)
    changed_seeds = identifier_ids[changed_component_rows(labels, people_now)].tolist()

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
        identifiers=len(identifier_ids),
        people_before=len(np.unique(people_now)),
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
