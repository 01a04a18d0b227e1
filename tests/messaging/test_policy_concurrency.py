"""Marketing sends racing for one person, on real threads and connections (run on SQLite and
on PostgreSQL): the person's consent row serialises them, so a cap of one lets one through."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any

import pytest

from config.env import FrequencyCap, MarketingPolicySettings
from freshloop.core import clock
from freshloop.core.clock import SHANGHAI
from freshloop.core.models import OutboxMessage
from freshloop.messaging.models import DispatchStatus, MarketingDispatch
from freshloop.messaging.services import marketing_send
from tests.concurrency import errors_of, run_at_once, values_of
from tests.factories import make_person

TEN_AM = dt.datetime(2027, 3, 2, 10, 0, tzinfo=SHANGHAI)


def _send(person_id: int, key: str) -> str:
    return marketing_send(
        person_id=person_id,
        channel="wecom",
        payload={"text": "春笋上新"},
        purpose="spring_promo",
        source="journey:12:step:3",
        dedupe_key=key,
    ).status


@pytest.mark.django_db(transaction=True)
class TestMarketingSendConcurrency:
    @pytest.mark.parametrize("messaged_before", [False, True])
    def test_two_sends_racing_for_a_cap_of_one_let_exactly_one_through(
        self, settings: Any, messaged_before: bool
    ) -> None:
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP,
            marketing_policy=MarketingPolicySettings(caps=(FrequencyCap(limit=1, days=1),)),
        )
        with clock.frozen(TEN_AM):
            for round_number in range(5):
                # given a person never messaged before (no consent row yet: the first send
                # creates it), or one whose consent row exists (a send a week ago)
                person = make_person()
                if messaged_before:
                    with clock.frozen(TEN_AM - dt.timedelta(days=7)):
                        _send(person.pk, f"last-week:{round_number}")
                # when two journeys message them at the same instant
                outcomes = run_at_once(
                    [
                        functools.partial(_send, person.pk, f"a:{round_number}"),
                        functools.partial(_send, person.pk, f"b:{round_number}"),
                    ]
                )
                # then one is queued and one suppressed by the cap, never both queued
                assert errors_of(outcomes) == []
                assert sorted(values_of(outcomes)) == [
                    DispatchStatus.QUEUED,
                    DispatchStatus.SUPPRESSED,
                ]
                today = MarketingDispatch.objects.filter(person=person, created_at=TEN_AM)
                queued = today.get(status=DispatchStatus.QUEUED)
                assert queued.outbox_message_id is not None
                assert OutboxMessage.objects.filter(
                    marketing_dispatch__person=person
                ).count() == 1 + int(messaged_before)

    def test_the_same_step_delivered_twice_at_once_sends_once(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP, marketing_policy=MarketingPolicySettings(caps=())
        )
        with clock.frozen(TEN_AM):
            person = make_person()
            outcomes = run_at_once([functools.partial(_send, person.pk, "same-step")] * 2)
        assert errors_of(outcomes) == []
        assert values_of(outcomes) == [DispatchStatus.QUEUED, DispatchStatus.QUEUED]
        assert MarketingDispatch.objects.filter(person=person).count() == 1
        assert OutboxMessage.objects.filter(marketing_dispatch__person=person).count() == 1
