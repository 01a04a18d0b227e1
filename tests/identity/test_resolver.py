"""identify(): online OneID resolution against the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import random
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.identity.errors import ConflictingIdentifiers, InvalidIdentifier, TooManyIdentifiers
from freshloop.identity.events import IdentityMerged
from freshloop.identity.models import (
    ConsumerToken,
    Identifier,
    IdentifierLink,
    IdentityConflict,
    MergeRecord,
    Person,
    PersonStatus,
)
from freshloop.identity.normalise import identifier_key
from freshloop.identity.partition import Node, partition
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.identity.services import consumer_token_issue
from tests.concurrency import errors_of, run_at_once

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def phone(number: str, verified: bool = True) -> IdentifierInput:
    return IdentifierInput(type="phone", value=number, verified=verified)


def device(value: str) -> IdentifierInput:
    return IdentifierInput(type="device_id", value=value)


def unionid(value: str) -> IdentifierInput:
    return IdentifierInput(type="wechat_unionid", value=value, verified=True)


def openid(value: str, app: str = "wx-app") -> IdentifierInput:
    return IdentifierInput(type="wechat_openid", value=value, scope=app, verified=True)


def active_people() -> int:
    return Person.objects.filter(status=PersonStatus.ACTIVE).count()


@pytest.mark.django_db
class TestIdentifyLinking:
    def test_first_sighting_creates_a_person(self) -> None:
        result = identify(identifiers=[phone("13800138000")], source="shop")
        assert result.created is True
        assert result.person.one_id.startswith("P_")
        assert Identifier.objects.get().value == "+8613800138000"

    def test_same_identifier_returns_the_same_person(self) -> None:
        first = identify(identifiers=[phone("13800138000")], source="shop")
        again = identify(identifiers=[phone("+86 138 0013 8000")], source="live")
        assert again.created is False
        assert again.person.pk == first.person.pk

    def test_new_identifier_in_a_known_call_is_linked(self) -> None:
        first = identify(identifiers=[phone("13800138000")], source="shop")
        linked = identify(identifiers=[phone("13800138000"), device("dev-1")], source="live")
        assert linked.person.pk == first.person.pk
        assert linked.created is False
        assert Identifier.objects.filter(person=first.person).count() == 2
        assert IdentifierLink.objects.count() == 1

    def test_identifier_proving_two_people_are_one_merges_them(self) -> None:
        # given a shop customer (phone) and a WeChat visitor (unionid + device)
        shopper = identify(identifiers=[phone("13800138000")], source="shop").person
        visitor = identify(
            identifiers=[unionid("u-1"), device("dev-1")], source="wechat_oauth"
        ).person
        consumer_token_issue(person=visitor, method="wechat")
        # when one call shows the phone together with the unionid
        result = identify(identifiers=[phone("13800138000"), unionid("u-1")], source="h5_otp")
        # then they are one person, the merge is recorded and audited, references re-pointed
        assert result.person.pk == shopper.pk
        assert result.merged_from == [visitor.one_id]
        visitor.refresh_from_db()
        assert visitor.status == PersonStatus.MERGED
        assert visitor.merged_into_id == shopper.pk
        assert MergeRecord.objects.get().into_person_id == shopper.pk
        assert AuditLog.objects.filter(action="person.merge").count() == 1
        assert ConsumerToken.objects.get().person_id == shopper.pk
        assert active_people() == 1
        # and the record names the identifier that proved it: the shopper's phone, which the
        # visitor's unionid arrived with — by id and type, never by value
        the_phone = Identifier.objects.get(type="phone")
        the_unionid = Identifier.objects.get(type="wechat_unionid")
        record = MergeRecord.objects.get()
        assert record.evidence_id == the_phone.pk
        assert record.evidence_detail == {
            "kind": "link",
            "identifier": {"id": the_phone.pk, "type": "phone"},
            "linked_with": {"id": the_unionid.pk, "type": "wechat_unionid"},
            "via": [],
            "link_source": "h5_otp",
        }
        assert record.match_candidate is None
        audit = AuditLog.objects.get(action="person.merge")
        assert audit.after["evidence"] == record.evidence_detail
        stored = json.dumps([record.evidence_detail, audit.after], ensure_ascii=False)
        assert "13800138000" not in stored
        assert "138****8000" not in stored  # not even masked: screens mask the live row
        assert "u-1" not in stored

    def test_two_people_merged_by_one_call_each_name_their_evidence(self) -> None:
        # given three people: a shopper (phone), a WeChat visitor (unionid), a live viewer (device)
        shopper = identify(identifiers=[phone("13800138000")], source="shop").person
        visitor = identify(identifiers=[unionid("u-1")], source="wechat_oauth").person
        viewer = identify(identifiers=[device("dev-1")], source="live").person
        # when one call shows all three identifiers (linked in a star on the device)
        result = identify(
            identifiers=[phone("13800138000"), unionid("u-1"), device("dev-1")], source="h5_otp"
        )
        # then both merge into the oldest, and each record names the shopper's phone: directly
        # for the device, through the device for the unionid
        assert result.person.pk == shopper.pk
        ids = {i.type: i.pk for i in Identifier.objects.all()}
        records = {r.from_person_id: r for r in MergeRecord.objects.all()}
        assert set(records) == {visitor.pk, viewer.pk}
        assert {r.evidence_id for r in records.values()} == {ids["phone"]}
        assert records[viewer.pk].evidence_detail["linked_with"] == {
            "id": ids["device_id"],
            "type": "device_id",
        }
        assert records[viewer.pk].evidence_detail["via"] == []
        assert records[visitor.pk].evidence_detail["linked_with"] == {
            "id": ids["wechat_unionid"],
            "type": "wechat_unionid",
        }
        assert records[visitor.pk].evidence_detail["via"] == [
            {"id": ids["device_id"], "type": "device_id"}
        ]
        assert {r.evidence_detail["link_source"] for r in records.values()} == {"h5_otp"}

    def test_scoped_evidence_names_its_app_but_not_its_value(self) -> None:
        shopper = identify(identifiers=[phone("13800138000")], source="shop").person
        identify(identifiers=[openid("o-secret", app="wx-mall")], source="wechat_oauth")
        identify(
            identifiers=[phone("13800138000"), openid("o-secret", app="wx-mall")],
            source="wechat_oauth",
        )
        record = MergeRecord.objects.get()
        assert record.into_person_id == shopper.pk
        assert record.evidence_detail["linked_with"]["scope"] == "wx-mall"
        assert "o-secret" not in json.dumps(record.evidence_detail)

    def test_merge_event_is_published_after_commit(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        heard: list[IdentityMerged] = []
        from freshloop.core.events import subscribe, unsubscribe

        subscribe(IdentityMerged)(heard.append)
        try:
            identify(identifiers=[phone("13800138000")], source="shop")
            identify(identifiers=[device("d")], source="live")
            with django_capture_on_commit_callbacks(execute=True):
                identify(identifiers=[phone("13800138000"), device("d")], source="live")
        finally:
            unsubscribe(IdentityMerged, heard.append)
        assert len(heard) == 1
        assert heard[0].reason == "identify"


@pytest.mark.django_db
class TestIdentifyMergeRules:
    def test_shared_device_does_not_merge_two_verified_phones(self) -> None:
        # given two people, each with their own verified phone, using one family tablet
        identify(identifiers=[phone("13800138000"), device("family-tablet")], source="live")
        second = identify(
            identifiers=[phone("13900139000"), device("family-tablet")], source="live"
        )
        # then they remain two people and the collision waits for review
        assert active_people() == 2
        conflict = IdentityConflict.objects.get()
        assert conflict.reason == "cardinality"
        assert conflict.detail == "phone"
        assert second.conflicts == 1

    def test_two_phones_in_one_call_are_refused(self) -> None:
        with pytest.raises(ConflictingIdentifiers):
            identify(identifiers=[phone("13800138000"), phone("13900139000")], source="shop")
        assert Person.objects.count() == 0

    def test_openid_per_app_and_unionid_across_apps(self) -> None:
        a = identify(
            identifiers=[openid("o-a", "wx-mp"), unionid("u")], source="wechat_oauth"
        ).person
        b = identify(
            identifiers=[openid("o-b", "wx-mini"), unionid("u")], source="wechat_oauth"
        ).person
        assert a.pk == b.pk
        assert Identifier.objects.filter(person=a).count() == 3

    def test_unverified_duplicate_is_upgraded_to_verified(self) -> None:
        identify(identifiers=[phone("13800138000", verified=False)], source="shop")
        identify(identifiers=[phone("13800138000", verified=True)], source="h5_otp")
        assert Identifier.objects.get().verified is True


@pytest.mark.django_db
class TestIdentifyTraits:
    def test_last_write_wins_by_occurred_at_not_arrival(self) -> None:
        identify(
            identifiers=[phone("13800138000")],
            traits={"city": "杭州"},
            source="shop",
            occurred_at=T0,
        )
        late_but_old = identify(
            identifiers=[phone("13800138000")],
            traits={"city": "宁波"},
            source="shop",
            occurred_at=T0 - dt.timedelta(days=1),
        )
        assert late_but_old.person.traits["city"] == "杭州"
        newer = identify(
            identifiers=[phone("13800138000")],
            traits={"city": "上海"},
            source="shop",
            occurred_at=T0 + dt.timedelta(days=1),
        )
        assert newer.person.traits["city"] == "上海"

    def test_at_the_same_instant_the_higher_priority_source_wins(self) -> None:
        identify(
            identifiers=[phone("13800138000")],
            traits={"gender": "f"},
            source="operator",
            occurred_at=T0,
        )
        result = identify(
            identifiers=[phone("13800138000")],
            traits={"gender": "m"},
            source="live",
            occurred_at=T0,
        )
        assert result.person.traits["gender"] == "f"

    def test_merge_combines_traits_by_the_same_rule(self) -> None:
        identify(
            identifiers=[phone("13800138000")],
            traits={"city": "北京"},
            source="shop",
            occurred_at=T0,
        )
        identify(
            identifiers=[device("d")],
            traits={"city": "天津", "likes": "酸奶"},
            source="live",
            occurred_at=T0 + dt.timedelta(hours=1),
        )
        merged = identify(identifiers=[phone("13800138000"), device("d")], source="live").person
        assert merged.traits == {"city": "天津", "likes": "酸奶"}


@pytest.mark.django_db
class TestIdentifyBadInput:
    @pytest.mark.parametrize(
        ("identifiers", "error"),
        [
            ([], InvalidIdentifier),
            ([IdentifierInput(type="passport", value="E123")], InvalidIdentifier),
            ([IdentifierInput(type="phone", value="12345")], InvalidIdentifier),
            ([IdentifierInput(type="wechat_openid", value="o-1")], InvalidIdentifier),
            ([IdentifierInput(type="email", value="not-an-email")], InvalidIdentifier),
            ([IdentifierInput(type="device_id", value="x" * 300)], InvalidIdentifier),
            ([device(f"d-{n}") for n in range(10_000)], TooManyIdentifiers),
        ],
    )
    def test_refused_with_a_clear_error_and_nothing_written(
        self, identifiers: list[IdentifierInput], error: type
    ) -> None:
        with pytest.raises(error):
            identify(identifiers=identifiers, source="shop")
        assert Person.objects.count() == 0
        assert Identifier.objects.count() == 0

    def test_naive_occurred_at_is_refused(self) -> None:
        with pytest.raises(InvalidIdentifier):
            identify(identifiers=[device("d")], source="shop", occurred_at=dt.datetime(2026, 1, 1))


# --- order independence -------------------------------------------------------------------

POOL = [
    phone("13800000001"),
    phone("13800000002"),
    phone("13800000003"),
    unionid("u-1"),
    unionid("u-2"),
    openid("o-1"),
    device("dev-1"),
    device("dev-2"),
    IdentifierInput(type="store_card", value="card-1"),
    IdentifierInput(type="email", value="a@example.com"),
]


def _valid_call(indices: list[int]) -> list[IdentifierInput]:
    call: list[IdentifierInput] = []
    taken: set[str] = set()
    for index in indices:
        item = POOL[index]
        single = item.type in {"phone", "wechat_unionid", "wechat_openid"}
        if single and item.type in taken:
            continue
        taken.add(item.type)
        call.append(item)
    return call


def _partition_now() -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for identifier in Identifier.objects.all():
        groups.setdefault(identifier.person_id, set()).add(f"{identifier.type}:{identifier.value}")
    assert all(Person.objects.get(pk=pk).status == PersonStatus.ACTIVE for pk in groups), (
        "identifiers only ever belong to active people"
    )
    return {frozenset(members) for members in groups.values()}


def _reset_identity_tables() -> None:
    IdentityConflict.objects.all().delete()
    IdentifierLink.objects.all().delete()
    Identifier.objects.all().delete()
    MergeRecord.objects.all().delete()
    Person.objects.update(merged_into=None)
    Person.objects.all().delete()


calls_strategy = st.lists(
    st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=4).map(_valid_call),
    min_size=1,
    max_size=7,
)


@pytest.mark.django_db
class TestIdentifyOrderIndependence:
    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(calls=calls_strategy, seed=st.integers(0, 10**6))
    def test_final_people_do_not_depend_on_call_order(
        self, calls: list[list[IdentifierInput]], seed: int
    ) -> None:
        # given a set of identify calls, when they arrive in one order and then in another
        outcomes = []
        orders = [list(calls), random.Random(seed).sample(calls, len(calls)), list(reversed(calls))]
        for order in orders:
            _reset_identity_tables()
            for call in order:
                identify(identifiers=call, source="shop")
            outcomes.append(_partition_now())
        # then the people (as sets of identifiers) are the same
        assert outcomes[0] == outcomes[1] == outcomes[2]

    def test_every_permutation_of_a_known_tricky_case(self) -> None:
        # the device links both phones; the unionid sits with phone 2 — strong evidence first
        calls = [
            [phone("13800000001"), device("dev-1")],
            [phone("13800000002"), device("dev-1")],
            [device("dev-1"), unionid("u-1")],
            [phone("13800000002"), unionid("u-1")],
        ]
        seen = set()
        for order in itertools.permutations(calls):
            _reset_identity_tables()
            for call in order:
                identify(identifiers=list(call), source="shop")
            seen.add(frozenset(_partition_now()))
        assert len(seen) == 1
        (partition,) = seen
        assert frozenset({"phone:+8613800000002", "wechat_unionid:u-1"}) <= next(
            group for group in partition if "wechat_unionid:u-1" in group
        )


# --- concurrency ----------------------------------------------------------------------------


def _run_concurrently(calls: list[list[IdentifierInput]]) -> list[BaseException]:
    """Start every call at the same instant, each on its own connection; collect failures."""
    return errors_of(
        run_at_once(
            [functools.partial(identify, identifiers=call, source="live") for call in calls]
        )
    )


@pytest.mark.django_db(transaction=True)
class TestIdentifyConcurrency:
    def test_concurrent_calls_proving_one_person_leave_one_oneid(self) -> None:
        # given several calls that each hold part of the proof that they are one person
        calls = [
            [phone("13800000001"), device("dev-1")],
            [device("dev-1"), unionid("u-1")],
            [unionid("u-1"), openid("o-1")],
            [openid("o-1"), IdentifierInput(type="email", value="x@example.com")],
            [phone("13800000001")],
            [IdentifierInput(type="email", value="x@example.com"), device("dev-2")],
        ]
        for _round in range(3):
            _reset_identity_tables()
            errors = _run_concurrently(calls)
            assert errors == []
            # then exactly one active person holds all six identifiers
            assert active_people() == 1
            assert Identifier.objects.values("person_id").distinct().count() == 1
            assert Identifier.objects.count() == 6

    @pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="SQLite runs writers one at a time"
    )
    def test_a_call_waiting_on_a_person_that_a_merge_empties_follows_its_identifiers(self) -> None:
        # given A (a phone) and B (an openid and an email) — and a call merging B into A that
        # holds B's row until another call, bringing B's email and a new device, waits on it
        identify(identifiers=[phone("13800000001")], source="shop")
        identify(
            identifiers=[openid("o-1"), IdentifierInput(type="email", value="x@example.com")],
            source="shop",
        )
        merged_uncommitted = threading.Event()
        waiter_blocked = threading.Event()

        def merge_and_hold() -> None:
            with transaction.atomic():
                identify(identifiers=[phone("13800000001"), openid("o-1")], source="live")
                merged_uncommitted.set()
                waiter_blocked.wait(timeout=10)

        def bring_email_and_device() -> None:
            merged_uncommitted.wait(timeout=10)
            identify(
                identifiers=[IdentifierInput(type="email", value="x@example.com"), device("d-2")],
                source="live",
            )

        def report_when_blocked() -> None:
            merged_uncommitted.wait(timeout=10)
            with connection.cursor() as cursor:
                for _ in range(500):
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.01)
            waiter_blocked.set()

        # when the merge commits while the other call waits for B
        errors = errors_of(
            run_at_once([merge_and_hold, bring_email_and_device, report_when_blocked])
        )

        # then the device joined the person who holds the email now, and B holds nothing
        assert errors == []
        assert active_people() == 1
        assert Identifier.objects.values("person_id").distinct().count() == 1


# --- the stored people are the canonical partition ------------------------------------------


def _canonical_groups() -> set[frozenset[int]]:
    """The partition of all the stored evidence, computed from scratch."""
    nodes = {
        i.pk: Node(
            id=i.pk, key=identifier_key(i.type, i.scope, i.value_index), type=i.type, scope=i.scope
        )
        for i in Identifier.objects.all()
    }
    links = list(IdentifierLink.objects.values_list("left_id", "right_id"))
    return {frozenset(group) for group in partition(nodes, links).groups}


def _stored_groups() -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for pk, person_id in Identifier.objects.values_list("pk", "person_id"):
        groups.setdefault(person_id, set()).add(pk)
    return {frozenset(group) for group in groups.values()}


@pytest.mark.django_db
class TestIdentifyKeepsTheCanonicalPartition:
    """identify takes a shortcut when a call's new identifiers can only join the one person
    holding the rest (or form a new person); after every call, shortcut or not, the people
    must still be exactly the partition of all the evidence stored so far."""

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(calls=calls_strategy)
    def test_after_every_call(self, calls: list[list[IdentifierInput]]) -> None:
        # given the tables empty
        _reset_identity_tables()
        for call in calls:
            # when a call arrives
            identify(identifiers=call, source="shop")
            # then the stored people are the partition of the stored evidence
            assert _stored_groups() == _canonical_groups()

    def test_a_new_phone_never_joins_a_person_who_has_one(self) -> None:
        # given a person with a phone and a unionid
        first = identify(identifiers=[phone("13800000001"), unionid("u-1")], source="shop")
        # when the unionid comes back with another phone
        second = identify(identifiers=[unionid("u-1"), phone("13800000002")], source="shop")
        # then the new phone is someone else, and the refusal is recorded
        new_phone = Identifier.objects.get(type="phone", person=second.person)
        assert second.person.pk == first.person.pk or new_phone.person_id != first.person.pk
        assert Identifier.objects.filter(person=first.person, type="phone").count() == 1
        assert IdentityConflict.objects.count() == 1
        assert _stored_groups() == _canonical_groups()


# --- statements per call ------------------------------------------------------------------


def _statements_of(**call: Any) -> list[str]:
    """The SQL one identify call sends in its own transaction, BEGIN to COMMIT (the
    after-commit handlers of other modules are theirs to count)."""
    with CaptureQueriesContext(connection) as captured:
        identify(source="live", **call)
    sqls = [query["sql"] for query in captured.captured_queries]
    commit = next(index for index, sql in enumerate(sqls) if sql.startswith("COMMIT"))
    return sqls[: commit + 1]


# (SQLite, PostgreSQL): BEGIN and COMMIT included. PostgreSQL adds the advisory lock on the
# call's identifiers, a second read of their holders when any is known (a lock that waited
# may have returned a holder a concurrent merge has since replaced: locks.call_identifiers_lock),
# and a known customer's call that only refreshes last_seen_at says it need not wait for the
# disk (SET LOCAL synchronous_commit).
STATEMENTS = {
    "known, seen a minute ago": (3, 5),
    "known, last seen long ago": (4, 7),
    "known, with a new trait": (4, 6),
    "known phone with a new device": (5, 7),
    "known phone and device, linked before": (4, 6),
    "new person": (6, 7),
    "new person with two identifiers": (7, 8),
    # A merge also writes its handlers' effect rows (one INSERT in a savepoint: three
    # statements), so every module's re-pointing survives a crash right after the commit.
    # Merges are rare; a login never pays this.
    "merge of two people": (21, 23),
    # A conflict repartitions the component: whether an identifier changes person (one UPDATE
    # more) depends on which of the people was created first, i.e. on ids the test does not
    # choose (they differ between a fresh database and a long run).
    "conflict": ((13, 14), (15, 16)),
}


@pytest.mark.django_db(transaction=True)
class TestIdentifyStatements:
    """How many statements each kind of identify call sends: a regression here is a round
    trip every login pays."""

    def _expect(self, case: str, statements: list[str]) -> None:
        sqlite, postgresql = STATEMENTS[case]
        expected = postgresql if connection.vendor == "postgresql" else sqlite
        allowed = expected if isinstance(expected, tuple) else (expected,)
        assert len(statements) in allowed, "\n".join(statements)

    def test_known_customer(self) -> None:
        # given a known customer
        with clock.frozen(T0):
            identify(identifiers=[phone("13800000001")], source="live")
        # when they come back a minute later, then an hour later, then with a new trait
        with clock.frozen(T0 + dt.timedelta(minutes=1)):
            soon = _statements_of(identifiers=[phone("13800000001")])
        with clock.frozen(T0 + dt.timedelta(hours=1)):
            later = _statements_of(identifiers=[phone("13800000001")])
            with_trait = _statements_of(identifiers=[phone("13800000001")], traits={"city": "上海"})
        # then one read answers; the refresh and the trait are one write each
        self._expect("known, seen a minute ago", soon)
        self._expect("known, last seen long ago", later)
        self._expect("known, with a new trait", with_trait)
        assert any("synchronous_commit" in sql for sql in later) == (
            connection.vendor == "postgresql"
        )
        assert not any("synchronous_commit" in sql for sql in with_trait)

    def test_link(self) -> None:
        # given a known customer
        identify(identifiers=[phone("13800000001")], source="live")
        # when they come with a new device, and again with the same device
        linked = _statements_of(identifiers=[phone("13800000001"), device("dev-1")])
        again = _statements_of(identifiers=[phone("13800000001"), device("dev-1")])
        # then the device and its link are one insert each; the second call only reads
        self._expect("known phone with a new device", linked)
        self._expect("known phone and device, linked before", again)
        assert not any("synchronous_commit" in sql for sql in linked)

    def test_new_person(self) -> None:
        # when nobody knows the identifiers
        alone = _statements_of(identifiers=[device("dev-1")])
        pair = _statements_of(identifiers=[phone("13800000001"), device("dev-2")])
        # then the person, its identifiers (one insert), its links and its audit row
        self._expect("new person", alone)
        self._expect("new person with two identifiers", pair)

    def test_merge_and_conflict(self) -> None:
        # given two people, and a device known to the first
        identify(identifiers=[phone("13800000001"), device("dev-1")], source="live")
        identify(identifiers=[device("dev-2")], source="live")
        identify(identifiers=[phone("13800000003")], source="live")
        # when a call proves the second is the first, and another ties a third phone to dev-1
        merge = _statements_of(identifiers=[phone("13800000001"), device("dev-2")])
        conflict = _statements_of(identifiers=[phone("13800000003"), device("dev-1")])
        # then each repartitions its component once
        self._expect("merge of two people", merge)
        self._expect("conflict", conflict)
        assert MergeRecord.objects.count() == 1
        assert IdentityConflict.objects.count() == 1
