"""The canonical identity partition: which identifiers belong to the same person.

A pure function of the evidence (identifiers, the links between them, remembered splits),
never of the order in which calls arrived. Online resolution runs it on the evidence
component a call touches; the batch rebuild runs it on every component that needs it.
Because both call this one function, they cannot disagree.

Algorithm: union-find over the links in a fixed order — links between two strong
identifiers first, then links involving a weak one; within a class, by the identifiers'
stable keys. A union is refused (and reported) when the merged group would hold two
different values of a single-valued type in the same scope, or identifiers an operator
split apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from freshloop.identity.rules import IDENTIFIER_RULES

_STRONG = frozenset(name for name, rule in IDENTIFIER_RULES.items() if rule.strong)
_SINGLE_VALUED = frozenset(name for name, rule in IDENTIFIER_RULES.items() if rule.single_valued)


@dataclass(frozen=True, slots=True)
class Node:
    """One identifier as the partition sees it. `key` is stable and unique: type/scope/index."""

    id: int
    key: str
    type: str
    scope: str


@dataclass(frozen=True)
class Split:
    """An operator's decision that identifiers in `side_a` and `side_b` are different people."""

    id: int
    side_a: frozenset[int]
    side_b: frozenset[int]


@dataclass(frozen=True)
class BlockedLink:
    """A link the rules refused: the evidence for a conflict an operator should review."""

    left: int
    right: int
    reason: str  # "cardinality" | "split"
    detail: str


@dataclass
class _Group:
    members: list[int]
    single_values: dict[tuple[str, str], str] = field(default_factory=dict)
    split_sides: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionResult:
    groups: list[list[int]]
    blocked: list[BlockedLink]


def link_order_key(nodes: dict[int, Node], link: tuple[int, int]) -> tuple[int, str, str]:
    left, right = nodes[link[0]], nodes[link[1]]
    weak = 0 if left.type in _STRONG and right.type in _STRONG else 1
    if left.key <= right.key:
        return (weak, left.key, right.key)
    return (weak, right.key, left.key)


def partition(
    nodes: dict[int, Node],
    links: Iterable[tuple[int, int]],
    splits: Sequence[Split] = (),
) -> PartitionResult:
    parent = {node_id: node_id for node_id in nodes}
    groups: dict[int, _Group] = {}
    for node_id, node in nodes.items():
        group = _Group(members=[node_id])
        if node.type in _SINGLE_VALUED:
            group.single_values[(node.type, node.scope)] = node.key
        for split in splits:
            if node_id in split.side_a:
                group.split_sides[split.id] = "a"
            elif node_id in split.side_b:
                group.split_sides[split.id] = "b"
        groups[node_id] = group

    def find(node_id: int) -> int:
        root = node_id
        while parent[root] != root:
            root = parent[root]
        while parent[node_id] != root:  # path compression
            parent[node_id], node_id = root, parent[node_id]
        return root

    unique_links = {(a, b) if a < b else (b, a) for a, b in links if a != b}
    ordered = sorted(unique_links, key=lambda link: link_order_key(nodes, link))
    blocked: list[BlockedLink] = []
    for left, right in ordered:
        left_root, right_root = find(left), find(right)
        if left_root == right_root:
            continue
        a, b = groups[left_root], groups[right_root]
        refusal = _refusal(a, b)
        if refusal is not None:
            blocked.append(
                BlockedLink(left=left, right=right, reason=refusal[0], detail=refusal[1])
            )
            continue
        # Keep the smaller root id as the representative: deterministic, independent of order.
        keep, drop = sorted((left_root, right_root))
        parent[drop] = keep
        kept, dropped = groups[keep], groups.pop(drop)
        kept.members.extend(dropped.members)
        kept.single_values.update(dropped.single_values)
        kept.split_sides.update(dropped.split_sides)

    result = sorted(sorted(group.members, key=lambda i: nodes[i].key) for group in groups.values())
    result.sort(key=lambda members: nodes[members[0]].key)
    return PartitionResult(groups=result, blocked=blocked)


def _refusal(a: _Group, b: _Group) -> tuple[str, str] | None:
    for slot, value in a.single_values.items():
        other = b.single_values.get(slot)
        if other is not None and other != value:
            identifier_type, scope = slot
            where = f"@{scope}" if scope else ""
            return "cardinality", f"{identifier_type}{where}"
    for split_id, side in a.split_sides.items():
        other_side = b.split_sides.get(split_id)
        if other_side is not None and other_side != side:
            return "split", str(split_id)
    return None
