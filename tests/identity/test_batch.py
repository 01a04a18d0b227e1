"""identify_many: the answers identify() would give, with the common cases done in bulk."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings

from freshloop.core.errors import DomainError
from freshloop.core.events import subscribe, unsubscribe
from freshloop.core.models import AuditLog
from freshloop.identity.batch import IdentifyCall, identify_many
from freshloop.identity.events import PersonCreated
from freshloop.identity.models import Identifier, Person, PersonStatus
from freshloop.identity.resolver import IdentifierInput, identify
from tests.concurrency import errors_of, run_at_once
from tests.identity.test_resolver import (
    _partition_now,
    _reset_identity_tables,
    calls_strategy,
    device,
    phone,
    unionid,
)

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _calls(*identifier_sets: list[IdentifierInput], source: str = "live") -> list[IdentifyCall]:
    return [IdentifyCall(identifiers=s, source=source, occurred_at=T0) for s in identifier_sets]


def _survivor(person_id: int) -> int:
    person = Person.objects.get(pk=person_id)
    while person.merged_into_id is not None:
        person = Person.objects.get(pk=person.merged_into_id)
    return person.pk


@pytest.mark.django_db
class TestIdentifyMany:
    def test_new_devices_become_people_as_identify_would_make_them(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given three devices nobody has seen, one of them named by two calls
        announced: list[PersonCreated] = []

        def listen(event: PersonCreated) -> None:
            announced.append(event)

        subscribe(PersonCreated)(listen)
        try:
            # when they are resolved together
            with django_capture_on_commit_callbacks(execute=True):
                results = identify_many(
                    _calls([device("d-1")], [device("d-2")], [device("d-1")], [device("d-3")])
                )
        finally:
            unsubscribe(PersonCreated, listen)

        # then each device has a person of its own, the repeated one the same person twice
        assert results[0] == results[2]
        assert len(set(results)) == 3
        assert Person.objects.count() == 3
        assert set(Identifier.objects.values_list("person_id", flat=True)) == set(results)
        # and every new person was audited and announced, with its id
        assert AuditLog.objects.filter(action="person.create").count() == 3
        assert {e.person_id for e in announced} == set(results)
        assert {e.source for e in announced} == {"live"}
        # and identify() now recognises them as the same people
        for call, person_id in zip(_calls([device("d-1")], [device("d-2")]), results, strict=False):
            assert identify(identifiers=call.identifiers, source="shop").person.pk == person_id

    def test_known_identifiers_answer_their_person_without_writing(self) -> None:
        # given a customer known by phone and device (linked), and one known by device only
        known = identify(identifiers=[phone("13800000001"), device("d-1")], source="shop")
        other = identify(identifiers=[device("d-2")], source="shop")
        people_before = Person.objects.count()

        # when both come back, in any shape identify() would not learn anything from
        results = identify_many(
            _calls([device("d-1")], [phone("13800000001"), device("d-1")], [device("d-2")])
        )

        # then they get their own people and nothing new is stored
        assert results == [known.person.pk, known.person.pk, other.person.pk]
        assert Person.objects.count() == people_before

    def test_a_known_identifier_proven_verified_is_marked_as_identify_marks_it(self) -> None:
        # given a customer known by an unverified phone
        known = identify(identifiers=[phone("13800000001", verified=False)], source="shop")

        # when a batch carries the same phone, verified (an OTP login upstream)
        results = identify_many(_calls([phone("13800000001")]))

        # then it is the same person and the phone is now verified
        assert results == [known.person.pk]
        assert Identifier.objects.get(person=known.person).verified is True

    def test_a_set_proving_two_people_are_one_goes_through_identify(self) -> None:
        # given two people, each known by one device
        first = identify(identifiers=[device("d-1")], source="shop").person
        second = identify(identifiers=[phone("13800000001"), device("d-2")], source="shop").person

        # when a set links them (new evidence), beside a new device
        results = identify_many(_calls([device("d-1"), device("d-2")], [device("d-9")]))

        # then they are merged as identify() merges them, and the answer is the survivor
        survivors = {_survivor(first.pk), _survivor(second.pk)}
        assert len(survivors) == 1
        assert _survivor(results[0]) == survivors.pop()
        assert Person.objects.filter(status=PersonStatus.ACTIVE).count() == 2

    def test_a_bad_set_gets_its_error_and_the_others_their_people(self) -> None:
        # given a batch with an unknown identifier type in the middle
        bad = IdentifierInput(type="fax", value="1")

        # when it is resolved
        results = identify_many(_calls([device("d-1")], [bad], [unionid("u-1")]))

        # then the bad one carries its error and the good ones were resolved
        assert isinstance(results[1], DomainError)
        assert isinstance(results[0], int)
        assert isinstance(results[2], int)
        assert Person.objects.count() == 2

    def test_a_thousand_new_devices_cost_a_handful_of_statements(self) -> None:
        # given a wave of new viewers
        calls = _calls(*[[device(f"wave-{n}")] for n in range(1000)])

        # when they are resolved together
        with CaptureQueriesContext(connection) as queries:
            results = identify_many(calls)

        # then each has a person, with a bounded number of statements (not several per person)
        assert len(set(results)) == 1000
        assert len(queries) < 40

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(calls=calls_strategy)
    def test_same_people_as_identify_one_call_at_a_time(
        self, calls: list[list[IdentifierInput]]
    ) -> None:
        # given a set of calls resolved one by one with identify()
        _reset_identity_tables()
        for call in calls:
            identify(identifiers=call, source="shop")
        expected = _partition_now()

        # when the same calls are resolved together
        _reset_identity_tables()
        results = identify_many(_calls(*calls, source="shop"))

        # then the people (as sets of identifiers) are the same, and every call was answered
        # with a person
        assert _partition_now() == expected
        assert all(isinstance(result, int) for result in results)
        assert Person.objects.filter(pk__in=results).count() == len(set(results))


@pytest.mark.django_db(transaction=True)
class TestIdentifyManyConcurrency:
    def test_a_batch_and_single_calls_on_the_same_new_devices_leave_one_person_each(
        self,
    ) -> None:
        # given a batch of new devices, and identify() calls naming the same devices at once
        devices = [f"race-{n}" for n in range(30)]

        def singles(chosen: list[str]) -> list[int]:
            return [identify(identifiers=[device(d)], source="shop").person.pk for d in chosen]

        # when they all run together
        batch, evens, reversed_all = run_at_once(
            [
                lambda: identify_many(_calls(*[[device(d)] for d in devices])),
                lambda: singles(devices[::2]),
                lambda: singles(list(reversed(devices))),
            ]
        )
        errors = errors_of([batch, evens, reversed_all])
        answers: dict[str, Any] = {"batch": batch.value, devices[-1]: reversed_all.value}

        # then nothing failed and every device belongs to exactly one person, the same one
        # whichever path answered
        assert errors == []
        assert Identifier.objects.count() == 30
        assert Person.objects.count() == 30
        by_device = dict(zip(devices, answers["batch"], strict=True))
        for d, person_id in zip(list(reversed(devices)), answers[devices[-1]], strict=True):
            assert by_device[d] == person_id
