"""The canonical partition, as a pure function of the evidence."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from freshloop.identity.partition import Node, Split, partition

TYPES = ["phone", "wechat_unionid", "device_id", "store_card", "email"]


def _node(node_id: int, identifier_type: str, value: str, scope: str = "") -> Node:
    return Node(
        id=node_id, key=f"{identifier_type}:{scope}:{value}", type=identifier_type, scope=scope
    )


class TestPartition:
    def test_links_join_identifiers(self) -> None:
        nodes = {
            1: _node(1, "phone", "p1"),
            2: _node(2, "wechat_unionid", "u1"),
            3: _node(3, "device_id", "d1"),
        }
        result = partition(nodes, [(1, 2), (2, 3)])
        assert [sorted(group) for group in result.groups] == [[1, 2, 3]]
        assert result.blocked == []

    def test_shared_device_never_merges_two_verified_phones(self) -> None:
        # given two people with different phones who used the same device
        nodes = {
            1: _node(1, "phone", "p1"),
            2: _node(2, "phone", "p2"),
            3: _node(3, "device_id", "d"),
        }
        result = partition(nodes, [(1, 3), (2, 3)])
        # then they stay two people and the refused link is reported as a conflict
        assert len(result.groups) == 2
        assert len(result.blocked) == 1
        assert result.blocked[0].reason == "cardinality"
        assert result.blocked[0].detail == "phone"

    def test_strong_evidence_is_used_before_weak(self) -> None:
        # given phone p2 and unionid u are one person (strong link) and a device links p1 and u
        nodes = {
            1: _node(1, "phone", "a-p1"),
            2: _node(2, "phone", "z-p2"),
            3: _node(3, "wechat_unionid", "u"),
            4: _node(4, "device_id", "0-dev"),
        }
        result = partition(nodes, [(1, 4), (4, 3), (2, 3)])
        groups = {frozenset(group) for group in result.groups}
        # then the strong pair stays together, whatever the weak device's key says
        assert frozenset({2, 3}) <= next(group for group in groups if 3 in group)
        assert 1 not in next(group for group in groups if 3 in group)

    def test_openids_are_single_valued_per_app_only(self) -> None:
        nodes = {
            1: _node(1, "wechat_openid", "o1", "wx-app-a"),
            2: _node(2, "wechat_openid", "o2", "wx-app-b"),
            3: _node(3, "wechat_unionid", "u"),
        }
        result = partition(nodes, [(1, 3), (2, 3)])
        assert len(result.groups) == 1

    def test_split_is_remembered(self) -> None:
        nodes = {
            1: _node(1, "phone", "p1"),
            2: _node(2, "device_id", "d1"),
            3: _node(3, "email", "e"),
        }
        split = Split(id=7, side_a=frozenset({1}), side_b=frozenset({2}))
        result = partition(nodes, [(1, 2), (2, 3), (1, 3)], [split])
        assert {frozenset(group) for group in result.groups} in (
            {frozenset({1}), frozenset({2, 3})},
            {frozenset({1, 3}), frozenset({2})},
        )
        assert {blocked.reason for blocked in result.blocked} == {"split"}


@st.composite
def evidence(draw: st.DrawFn) -> tuple[dict[int, Node], list[tuple[int, int]]]:
    count = draw(st.integers(min_value=1, max_value=14))
    nodes = {}
    for node_id in range(count):
        identifier_type = draw(st.sampled_from(TYPES))
        nodes[node_id] = _node(node_id, identifier_type, f"v{node_id}")
    links = draw(
        st.lists(
            st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)),
            max_size=3 * count,
        )
    )
    return nodes, links


class TestPartitionProperties:
    @settings(max_examples=300, deadline=None)
    @given(data=evidence(), seed=st.integers(0, 10**6))
    def test_independent_of_link_order(
        self, data: tuple[dict[int, Node], list[tuple[int, int]]], seed: int
    ) -> None:
        nodes, links = data
        shuffled = [
            (b, a) if random.Random(seed + i).random() < 0.5 else (a, b)
            for i, (a, b) in enumerate(links)
        ]
        random.Random(seed).shuffle(shuffled)
        assert partition(nodes, links).groups == partition(nodes, shuffled).groups

    @settings(max_examples=300, deadline=None)
    @given(data=evidence())
    def test_groups_cover_every_identifier_once_and_respect_cardinality(
        self, data: tuple[dict[int, Node], list[tuple[int, int]]]
    ) -> None:
        nodes, links = data
        groups = partition(nodes, links).groups
        members = [member for group in groups for member in group]
        assert sorted(members) == sorted(nodes)
        for group in groups:
            phones = [m for m in group if nodes[m].type == "phone"]
            unionids = [m for m in group if nodes[m].type == "wechat_unionid"]
            assert len(phones) <= 1
            assert len(unionids) <= 1
