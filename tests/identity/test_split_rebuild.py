from __future__ import annotations

import json
from collections import defaultdict
from io import StringIO
from unittest import mock

import numpy as np
import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.identity import rebuild
from freshloop.identity.errors import SplitInvalid
from freshloop.identity.models import (
    ConflictStatus,
    Identifier,
    IdentifierLink,
    IdentityConflict,
    MergeRecord,
    Person,
    PersonStatus,
)
from freshloop.identity.partition import Node, Split, partition
from freshloop.identity.rebuild import (
    TYPE_CODES,
    GraphArrays,
    changed_component_rows,
    graph_from_rows,
    identity_rebuild,
    partition_labels,
)
from freshloop.identity.resolver import IdentifierInput, identify, person_split

OPERATOR = Actor(type="user", id="1", label="客服小王")


def phone(number: str) -> IdentifierInput:
    return IdentifierInput(type="phone", value=number, verified=True)


def device(value: str) -> IdentifierInput:
    return IdentifierInput(type="device_id", value=value)


def email(value: str) -> IdentifierInput:
    return IdentifierInput(type="email", value=value)


def _held(person: Person) -> set[str]:
    return {f"{i.type}:{i.value}" for i in Identifier.objects.filter(person=person)}


@pytest.mark.django_db
class TestPersonSplit:
    def test_split_moves_identifiers_and_is_remembered(self) -> None:
        # given a wrong merge: a shared store computer's device joined a stranger's email
        person = identify(
            identifiers=[phone("13800138000"), device("store-pc")], source="store_pos"
        ).person
        identify(
            identifiers=[device("store-pc"), email("stranger@example.com")], source="store_pos"
        )
        assert _held(person) == {
            "phone:+8613800138000",
            "device_id:store-pc",
            "email:stranger@example.com",
        }
        wrong = Identifier.objects.filter(type__in=["device_id", "email"]).values_list(
            "pk", flat=True
        )
        # when an operator splits the device and email off
        new_person = person_split(
            actor=OPERATOR, person=person, identifier_ids=list(wrong), reason="门店公用电脑"
        )
        # then they form a new person, audited
        assert _held(person) == {"phone:+8613800138000"}
        assert _held(new_person) == {"device_id:store-pc", "email:stranger@example.com"}
        assert AuditLog.objects.filter(action="person.split", actor_label="客服小王").exists()
        # and the same evidence arriving again does not re-merge them
        again = identify(identifiers=[phone("13800138000"), device("store-pc")], source="store_pos")
        assert again.person.pk == person.pk
        assert _held(person) == {"phone:+8613800138000"}
        assert IdentityConflict.objects.filter(
            reason="split", status=ConflictStatus.DISMISSED
        ).exists()
        assert not IdentityConflict.objects.filter(status=ConflictStatus.OPEN).exists()
        # nor does a full rebuild
        identity_rebuild(actor=Actor.system("test"))
        assert _held(person) == {"phone:+8613800138000"}

    @pytest.mark.parametrize("choice", ["none", "all", "foreign"])
    def test_invalid_choices_are_refused(self, choice: str) -> None:
        person = identify(identifiers=[phone("13800138000"), device("d")], source="shop").person
        other = identify(identifiers=[phone("13900139000")], source="shop").person
        ids = {
            "none": [],
            "all": list(person.identifiers.values_list("pk", flat=True)),
            "foreign": list(other.identifiers.values_list("pk", flat=True)),
        }[choice]
        with pytest.raises(SplitInvalid):
            person_split(actor=OPERATOR, person=person, identifier_ids=ids, reason="测试")
        assert Person.objects.filter(status=PersonStatus.ACTIVE).count() == 2


class TestPartitionLabels:
    def _graph(
        self, types: list[str], links: list[tuple[int, int]], splits: list[Split] | None = None
    ) -> GraphArrays:
        return GraphArrays(
            type_codes=np.array([TYPE_CODES[t] for t in types], dtype=np.int16),
            scope_codes=np.zeros(len(types), dtype=np.int32),
            keys=[f"{t}:{i:04d}" for i, t in enumerate(types)],
            left=np.array([a for a, _ in links], dtype=np.int64),
            right=np.array([b for _, b in links], dtype=np.int64),
            splits=splits or [],
        )

    def test_plain_components_need_no_rules(self) -> None:
        graph = self._graph(["phone", "device_id", "phone", "email"], [(0, 1), (2, 3)])
        labels, with_rules = partition_labels(graph)
        assert with_rules == 0
        assert labels[0] == labels[1]
        assert labels[2] == labels[3]
        assert labels[0] != labels[2]

    def test_conflicting_component_is_split_by_the_rules(self) -> None:
        graph = self._graph(["phone", "device_id", "phone"], [(0, 1), (1, 2)])
        labels, with_rules = partition_labels(graph)
        assert with_rules == 1
        assert len(set(labels.tolist())) == 2
        assert labels[0] != labels[2]

    def test_a_component_with_many_links_takes_the_canonical_partition(self) -> None:
        # given a store iPad seen with more phones than the vectorised replay takes on
        phones = rebuild.MAX_REPLAY_LINKS + 5
        types = ["device_id"] + ["phone"] * phones
        graph = self._graph(types, [(0, i) for i in range(1, phones + 1)])
        labels, with_rules = partition_labels(graph)
        # then the iPad joins the phone with the smallest key and every other phone stands alone
        assert with_rules == 1
        assert len(set(labels.tolist())) == phones
        assert labels[0] == labels[1]


TYPE_NAMES = sorted(TYPE_CODES)


@st.composite
def graphs(draw: st.DrawFn) -> GraphArrays:
    """Random identity graphs: any types, a few app scopes, duplicate and self links, splits."""
    count = draw(st.integers(1, 40))
    types = draw(st.lists(st.sampled_from(TYPE_NAMES), min_size=count, max_size=count))
    scopes = draw(st.lists(st.integers(0, 2), min_size=count, max_size=count))
    # Unique keys whose order is unrelated to node ids, as in the database.
    order = draw(st.permutations(range(count)))
    links = draw(
        st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)), max_size=80)
    )
    splits = []
    for split_id in range(draw(st.integers(0, 2 if count > 1 else 0))):
        chosen = draw(st.lists(st.integers(0, count - 1), min_size=2, max_size=4, unique=True))
        cut = draw(st.integers(1, len(chosen) - 1))
        splits.append(
            Split(id=split_id + 1, side_a=frozenset(chosen[:cut]), side_b=frozenset(chosen[cut:]))
        )
    return GraphArrays(
        type_codes=np.array([TYPE_CODES[t] for t in types], dtype=np.int16),
        scope_codes=np.array(scopes, dtype=np.int32),
        keys=[
            f"{t}\x00{s}\x00{order[i]:04d}"
            for i, (t, s) in enumerate(zip(types, scopes, strict=True))
        ],
        left=np.array([a for a, _ in links], dtype=np.int64),
        right=np.array([b for _, b in links], dtype=np.int64),
        splits=splits,
    )


def _canonical_groups(graph: GraphArrays) -> set[frozenset[int]]:
    nodes = {
        i: Node(
            id=i,
            key=graph.keys[i],
            type=TYPE_NAMES[int(graph.type_codes[i])],
            scope=str(int(graph.scope_codes[i])),
        )
        for i in range(len(graph.type_codes))
    }
    links = list(zip(graph.left.tolist(), graph.right.tolist(), strict=True))
    return {frozenset(group) for group in partition(nodes, links, graph.splits).groups}


def _groups(labels: np.ndarray) -> set[frozenset[int]]:
    members: dict[int, set[int]] = defaultdict(set)
    for node, label in enumerate(labels.tolist()):
        members[label].add(node)
    return {frozenset(group) for group in members.values()}


class TestPartitionLabelsProperties:
    @settings(max_examples=300, deadline=None)
    @given(graph=graphs())
    def test_agrees_with_the_canonical_partition(self, graph: GraphArrays) -> None:
        labels, _ = partition_labels(graph)
        assert sorted(set(labels.tolist())) == list(range(len(set(labels.tolist()))))
        assert _groups(labels) == _canonical_groups(graph)

    @settings(max_examples=200, deadline=None)
    @given(graph=graphs())
    def test_replay_and_canonical_partition_give_the_same_labels(self, graph: GraphArrays) -> None:
        replayed, with_rules = partition_labels(graph)
        with mock.patch.object(rebuild, "MAX_REPLAY_LINKS", -1):
            canonical, with_rules_canonical = partition_labels(graph)
        assert replayed.tolist() == canonical.tolist()
        assert with_rules == with_rules_canonical


def _changed_rows_reference(labels: list[int], people: list[int]) -> list[int]:
    people_per_label: dict[int, set[int]] = defaultdict(set)
    labels_per_person: dict[int, set[int]] = defaultdict(set)
    first_row: dict[int, int] = {}
    for row, (label, person) in enumerate(zip(labels, people, strict=True)):
        people_per_label[label].add(person)
        labels_per_person[person].add(label)
        first_row.setdefault(label, row)
    return sorted(
        first_row[label]
        for label, holders in people_per_label.items()
        if len(holders) > 1 or any(len(labels_per_person[p]) > 1 for p in holders)
    )


class TestGraphFromRows:
    def test_links_and_split_members_naming_unread_identifiers_are_left_out(self) -> None:
        # given identifiers 10 and 20 read, then a link and a split member naming 30, created
        # in between the queries by a live call
        rows = [(10, "phone", "", "idx-a", 1), (20, "device_id", "", "idx-b", 2)]
        snapshot = graph_from_rows(
            rows, [(10, 20), (20, 30)], [(5, 10, "a"), (5, 30, "b"), (5, 20, "b")]
        )
        # then the graph holds what was read, by position, and nothing else
        assert snapshot.identifier_ids.tolist() == [10, 20]
        assert snapshot.people.tolist() == [1, 2]
        assert list(
            zip(snapshot.graph.left.tolist(), snapshot.graph.right.tolist(), strict=True)
        ) == [(0, 1)]
        assert snapshot.graph.splits == [Split(id=5, side_a=frozenset({0}), side_b=frozenset({1}))]
        assert snapshot.graph.keys[1] == "device_id\x00\x00idx-b"

    def test_no_rows(self) -> None:
        snapshot = graph_from_rows([], [], [])
        assert len(snapshot.graph.type_codes) == 0
        assert partition_labels(snapshot.graph)[0].tolist() == []
        assert (
            changed_component_rows(*partition_labels(snapshot.graph)[:1], snapshot.people).tolist()
            == []
        )


class TestChangedComponentRows:
    @settings(max_examples=300, deadline=None)
    @given(
        rows=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=40),
        sparse_ids=st.booleans(),
    )
    def test_agrees_with_the_row_by_row_definition(
        self, rows: list[tuple[int, int]], sparse_ids: bool
    ) -> None:
        # labels are 0..k-1, as partition_labels returns them
        distinct = sorted({label for label, _ in rows})
        labels = [distinct.index(label) for label, _ in rows]
        people = [person * (10**9 if sparse_ids else 1) + 1 for _, person in rows]
        found = changed_component_rows(
            np.array(labels, dtype=np.int64), np.array(people, dtype=np.int64)
        )
        assert found.tolist() == _changed_rows_reference(labels, people)


@pytest.mark.django_db
class TestIdentityRebuild:
    def test_rebuild_repairs_people_that_disagree_with_the_evidence(self) -> None:
        # given two people whose identifiers the links say are one (e.g. links imported in bulk)
        a = identify(identifiers=[phone("13800138000")], source="shop").person
        b = identify(identifiers=[device("d-9")], source="live").person
        left, right = sorted(Identifier.objects.values_list("pk", flat=True))
        IdentifierLink.objects.create(
            left_id=left, right_id=right, source="import", first_seen_at=a.created_at
        )
        # when the rebuild runs
        out = StringIO()
        call_command("identity_rebuild", stdout=out)
        report = json.loads(out.getvalue())
        # then the graph is whole again and the change is reported and audited
        assert report["components_changed"] == 1
        assert report["merges"] == 1
        b.refresh_from_db()
        assert b.status == PersonStatus.MERGED
        assert b.merged_into_id == a.pk
        assert AuditLog.objects.filter(action="identity.rebuild").exists()
        # and the merge names the imported link's ends: a's phone proved it, b's device joined
        record = MergeRecord.objects.get()
        assert (record.from_person_id, record.into_person_id) == (b.pk, a.pk)
        assert record.reason == "rebuild"
        assert record.evidence_id == left
        assert record.evidence_detail == {
            "kind": "link",
            "identifier": {"id": left, "type": "phone"},
            "linked_with": {"id": right, "type": "device_id"},
            "via": [],
            "link_source": "import",
        }

    def test_rebuild_of_a_consistent_graph_changes_nothing(self) -> None:
        identify(identifiers=[phone("13800138000"), device("d-1")], source="shop")
        identify(identifiers=[phone("13900139000"), device("d-1")], source="shop")  # conflict
        before = sorted(Identifier.objects.values_list("pk", "person_id"))
        report = identity_rebuild(actor=Actor.system("test"))
        assert report.components_changed == 0
        assert sorted(Identifier.objects.values_list("pk", "person_id")) == before

    def test_dry_run_changes_nothing(self) -> None:
        identify(identifiers=[phone("13800138000")], source="shop")
        identify(identifiers=[device("d-9")], source="live")
        left, right = sorted(Identifier.objects.values_list("pk", flat=True))
        IdentifierLink.objects.create(
            left_id=left, right_id=right, source="import", first_seen_at="2026-01-01T00:00Z"
        )
        report = identity_rebuild(actor=Actor.system("test"), dry_run=True)
        assert report.components_changed == 1
        assert Person.objects.filter(status=PersonStatus.ACTIVE).count() == 2
