from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.identity.errors import SplitInvalid
from freshloop.identity.models import (
    ConflictStatus,
    Identifier,
    IdentifierLink,
    IdentityConflict,
    Person,
    PersonStatus,
)
from freshloop.identity.partition import Split
from freshloop.identity.rebuild import TYPE_CODES, GraphArrays, identity_rebuild, partition_labels
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
