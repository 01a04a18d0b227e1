"""Live's row locks where several rows are locked at once: a merge locks the viewer rows of
both people in one primary-key order, so two merges into one survivor queue up."""

from __future__ import annotations

import pytest
from django.db import transaction

from freshloop.identity.events import IdentityMerged
from freshloop.identity.models import Person
from freshloop.live.locks import live_viewers_lock
from freshloop.live.models import LiveSession, LiveViewer
from freshloop.live.room.services import viewer_join
from freshloop.live.room.subscribers import viewers_follow_merge
from tests.concurrency import run_at_once
from tests.factories import make_person
from tests.live.helpers import make_session


def merged(old: Person, into: Person) -> IdentityMerged:
    return IdentityMerged(
        from_person_id=old.pk,
        into_person_id=into.pk,
        from_one_id=old.one_id,
        into_one_id=into.one_id,
        reason="test",
    )


def crossed_viewing() -> tuple[list[LiveSession], Person, Person, Person]:
    """Two sessions watched by a survivor and two people about to merge into it, who joined
    them in opposite orders (so their viewer rows list the sessions the other way round)."""
    first, second = make_session(skus=[]), make_session(skus=[])
    x, y, survivor = make_person(), make_person(), make_person()
    for session, person in (
        (first, x),
        (second, y),
        (first, survivor),
        (second, survivor),
        (second, x),
        (first, y),
    ):
        viewer_join(session=session, person=person)
    LiveViewer.objects.update(dwell_seconds=10)
    return [first, second], x, y, survivor


@pytest.mark.django_db
class TestLiveViewersLock:
    def test_both_peoples_rows_in_primary_key_order_and_nobody_elses(self) -> None:
        # given three viewers of two sessions
        _, x, _, survivor = crossed_viewing()
        # when x's and the survivor's rows are locked
        with transaction.atomic():
            locked = live_viewers_lock([survivor.pk, x.pk])
        # then all four rows, by primary key, none of y's
        expected = LiveViewer.objects.filter(person__in=[x, survivor]).order_by("pk")
        assert [viewer.pk for viewer in locked] == [viewer.pk for viewer in expected]
        assert {viewer.person_id for viewer in locked} == {x.pk, survivor.pk}


@pytest.mark.django_db(transaction=True)
class TestViewersFollowMergeTwoAtOnce:
    def test_two_people_merged_into_one_at_once_both_arrive(self) -> None:
        # given two people who watched the survivor's sessions, joined in opposite orders
        sessions, x, y, survivor = crossed_viewing()
        # when both are merged into the survivor at the same instant
        outcomes = run_at_once(
            [
                lambda: viewers_follow_merge(merged(x, survivor)),
                lambda: viewers_follow_merge(merged(y, survivor)),
            ]
        )
        # then both merges finished and the survivor has one row per session with all dwell
        assert [outcome.error for outcome in outcomes] == [None, None]
        for session in sessions:
            rows = LiveViewer.objects.filter(session=session)
            assert [(row.person_id, row.dwell_seconds) for row in rows] == [(survivor.pk, 30)]
