"""Group buying following its people: OneID merges, PIPL erasure and the PIPL export."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.groupbuy.models import (
    AttachmentReason,
    GroupLeader,
    LeaderAttachmentLog,
    LeaderCustomer,
    LeaderStatus,
)
from freshloop.groupbuy.services import customer_attach
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.models import Person
from freshloop.identity.services import person_export
from tests.factories import make_person
from tests.groupbuy.factories import make_applicant, make_leader

pytestmark = pytest.mark.django_db
Committed = Callable[[], AbstractContextManager[Any]]


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Committed:
    """`with committed():` runs what the block queued for after commit (durable handlers)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _merge(committed: Committed, merged: Person, survivor: Person) -> None:
    event = IdentityMerged(
        from_person_id=merged.pk,
        into_person_id=survivor.pk,
        from_one_id=merged.one_id,
        into_one_id=survivor.one_id,
        reason="test",
    )
    for _ in range(2):  # delivered at least once: a repeat must change nothing
        with committed():
            publish(event)


def _attach(person: Person, leader: GroupLeader) -> None:
    customer_attach(person=person, invite_code=leader.invite_code, source="qr")


class TestOneIdMerge:
    def test_the_attachment_moves_when_the_survivor_has_none(self, committed: Committed) -> None:
        leader, merged, survivor = make_leader(), make_person(), make_person()
        _attach(merged, leader)
        _merge(committed, merged, survivor)
        assert LeaderCustomer.objects.get().person_id == survivor.pk
        assert LeaderCustomer.objects.get().leader == leader

    def test_the_survivors_own_attachment_wins(self, committed: Committed) -> None:
        theirs, ours = make_leader(), make_leader()
        merged, survivor = make_person(), make_person()
        _attach(merged, theirs)
        _attach(survivor, ours)
        _merge(committed, merged, survivor)
        assert list(LeaderCustomer.objects.values_list("person_id", "leader_id")) == [
            (survivor.pk, ours.pk)
        ]
        reasons = (
            LeaderAttachmentLog.objects.filter(person=merged)
            .order_by("pk")
            .values_list("reason", flat=True)
        )
        assert list(reasons) == [AttachmentReason.ATTACH, AttachmentReason.MERGE]

    def test_the_leadership_moves_when_the_survivor_has_none(self, committed: Committed) -> None:
        leader, survivor = make_leader(), make_person()
        _merge(committed, leader.person, survivor)
        leader.refresh_from_db()
        assert leader.person_id == survivor.pk

    def test_the_survivors_own_leadership_stays_theirs(self, committed: Committed) -> None:
        merged_leader, survivor_leader = make_leader(), make_leader()
        _merge(committed, merged_leader.person, survivor_leader.person)
        merged_leader.refresh_from_db()
        survivor_leader.refresh_from_db()
        assert merged_leader.person_id != survivor_leader.person_id

    def test_no_one_becomes_their_own_customer(self, committed: Committed) -> None:
        # given a leader whose other OneID was their own customer
        leader, other_self = make_leader(), make_person()
        _attach(other_self, leader)
        # when the customer OneID is merged into the leader's
        _merge(committed, other_self, leader.person)
        # then the self-attachment is gone
        assert not LeaderCustomer.objects.exists()


class TestErasure:
    def test_erasure_removes_the_attachment_and_suspends_the_leader(
        self, committed: Committed
    ) -> None:
        leader, customer = make_leader(), make_person()
        _attach(customer, leader)
        with committed():
            publish(PersonErased(person_id=customer.pk, one_id=customer.one_id))
            publish(PersonErased(person_id=leader.person_id, one_id=leader.person.one_id))
        assert not LeaderCustomer.objects.exists()
        leader.refresh_from_db()
        assert leader.status == LeaderStatus.SUSPENDED
        assert (leader.real_name, leader.id_number, leader.id_number_index) == ("", "", "")
        assert leader.pickup_address == {}

    def test_an_erased_applicant_is_rejected_and_their_id_released(
        self, committed: Committed
    ) -> None:
        applicant = make_applicant(id_number="32058319921130456X")
        with committed():
            publish(PersonErased(person_id=applicant.person_id, one_id=applicant.person.one_id))
        applicant.refresh_from_db()
        assert applicant.status == LeaderStatus.REJECTED
        assert make_applicant(id_number="32058319921130456X").status == LeaderStatus.APPLIED


class TestExport:
    def test_the_export_lists_the_leadership_with_a_masked_id_and_the_leader(self) -> None:
        leader = make_leader(id_number="11010519491231002X", real_name="王美丽")
        recruit = make_leader()
        _attach(recruit.person, leader)
        section = person_export(actor=Actor.system("tests"), one_id=recruit.person.one_id)
        section = section["sections"]["groupbuy"]
        assert section["leadership"]["leader_no"] == recruit.leader_no
        assert section["attached_to"]["leader_display_name"] == leader.display_name
        own = person_export(actor=Actor.system("tests"), one_id=leader.person.one_id)
        own = own["sections"]["groupbuy"]
        assert own["leadership"]["real_name"] == "王美丽"
        assert own["leadership"]["id_number_masked"] == "1101**********002X"
        assert "11010519491231002X" not in str(own)
        assert own["attached_to"] is None
