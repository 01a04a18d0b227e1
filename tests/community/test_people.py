"""Check-ins and group messages when OneIDs merge or a person is erased."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.community.checkin import checkin_do
from freshloop.community.events import CommunityCheckedIn
from freshloop.community.inbound import group_messages_store
from freshloop.community.models import CheckIn, GroupMessage
from freshloop.community.people import community_erase, community_follow_merge
from freshloop.community.schemas import InboundMessageIn
from freshloop.core import clock
from freshloop.core.clock import SHANGHAI
from freshloop.core.events import subscribe, unsubscribe
from tests.community.helpers import message
from tests.factories import make_person

pytestmark = pytest.mark.django_db

DAY_ONE = dt.datetime(2027, 3, 1, 9, 0, tzinfo=SHANGHAI)


def spoken_by(person_id: int) -> GroupMessage:
    (saved,) = group_messages_store(
        messages=[InboundMessageIn.model_validate(message("大家好"))]
    ).stored
    GroupMessage.objects.filter(pk=saved.pk).update(sender_person_id=person_id)
    return saved


class TestCommunityFollowMerge:
    def test_checkins_and_messages_move_to_the_survivor_one_a_day(self) -> None:
        merged, survivor = make_person(), make_person()
        with clock.frozen(DAY_ONE):
            checkin_do(person_id=merged.pk)
            checkin_do(person_id=survivor.pk)
        with clock.frozen(DAY_ONE + dt.timedelta(days=1)):
            checkin_do(person_id=merged.pk)
        said = spoken_by(merged.pk)
        community_follow_merge(from_person_id=merged.pk, into_person_id=survivor.pk)
        days = sorted(CheckIn.objects.filter(person=survivor).values_list("day", flat=True))
        assert days == [dt.date(2027, 3, 1), dt.date(2027, 3, 2)]
        assert not CheckIn.objects.filter(person=merged).exists()
        said.refresh_from_db()
        assert said.sender_person_id == survivor.pk


class TestCommunityErase:
    def test_checkins_go_and_messages_lose_text_and_sender(self) -> None:
        person = make_person()
        checkin_do(person_id=person.pk)
        said = spoken_by(person.pk)
        community_erase(person_id=person.pk)
        assert not CheckIn.objects.exists()
        said.refresh_from_db()
        assert (said.sender, said.text, said.sender_person_id) == ("erased", "", None)


class TestCheckedInEvent:
    def test_a_checkin_is_announced_after_commit(self, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
        seen: list[CommunityCheckedIn] = []
        subscribe(CommunityCheckedIn)(seen.append)
        try:
            person = make_person()
            with django_capture_on_commit_callbacks(execute=True):
                checkin_do(person_id=person.pk, chat_id="g1", channel="h5")
                checkin_do(person_id=person.pk, chat_id="g1", channel="h5")  # already: no event
        finally:
            unsubscribe(CommunityCheckedIn, seen.append)
        assert [(e.person_id, e.streak, e.points, e.chat_id) for e in seen] == [
            (person.pk, 1, 5, "g1")
        ]
