"""`marketing_send_many` decides a batch exactly as `marketing_send` decides one send at a
time — consent, quiet hours, caps (sends earlier in the same batch included), WeCom's limit,
dedupe and merges — while reading and writing in bulk."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.models import OutboxMessage
from freshloop.identity.models import Person, PersonStatus
from freshloop.messaging.models import DispatchStatus, MarketingDispatch
from freshloop.messaging.services import (
    MarketingSend,
    marketing_opt_out,
    marketing_send,
    marketing_send_many,
    wecom_payload,
)
from tests.factories import make_person
from tests.messaging.test_policy import STAFF, shanghai

pytestmark = pytest.mark.django_db


def wecom(person: Person, key: str) -> MarketingSend:
    return MarketingSend(
        person_id=person.pk,
        payload=wecom_payload(sender="fl_staff_lin", text="新鲜好奶到货"),
        destination=f"wm_{person.pk}",
        purpose="journey",
        source="journey:1:step:2",
        dedupe_key=key,
    )


def send_many(sends: list[MarketingSend], at: dt.datetime) -> dict[str, MarketingDispatch]:
    with clock.frozen(at):
        return marketing_send_many(channel="wecom", sends=sends)


class TestBatchDecisions:
    def test_each_rule_as_for_a_single_send(self) -> None:
        # given: one fresh customer, one opted out of WeCom, one erased, one already messaged
        # today (cap 1/day by default), and the fresh one listed twice under two keys
        fresh, opted_out, erased, messaged = (make_person() for _ in range(4))
        marketing_opt_out(person_id=opted_out.pk, channel="wecom", source="self", actor=STAFF)
        Person.objects.filter(pk=erased.pk).update(status=PersonStatus.ERASED)
        with clock.frozen(shanghai(1, 9)):
            marketing_send(
                person_id=messaged.pk,
                channel="wecom",
                payload=wecom_payload(sender="fl_staff_lin", text="早上好"),
                destination="wm_x",
                purpose="journey",
                source="journey:9:step:1",
                dedupe_key="earlier",
            )
        # when a batch at 10:00 covers them all
        decided = send_many(
            [
                wecom(fresh, "a"),
                wecom(opted_out, "b"),
                wecom(erased, "c"),
                wecom(messaged, "d"),
                wecom(fresh, "e"),
            ],
            shanghai(1, 10),
        )
        # then only the fresh customer's first message is queued, once, with its outbox row
        assert {key: d.status for key, d in decided.items()} == {
            "a": DispatchStatus.QUEUED,
            "b": DispatchStatus.SUPPRESSED,
            "c": DispatchStatus.SUPPRESSED,
            "d": DispatchStatus.SUPPRESSED,
            "e": DispatchStatus.SUPPRESSED,
        }
        assert decided["b"].reason_code == "opted_out"
        assert decided["c"].reason_code == "person_erased"
        assert decided["d"].reason_code == "frequency_cap"
        assert decided["e"].reason_code == "frequency_cap"
        queued = MarketingDispatch.objects.get(dedupe_key="a")
        assert queued.outbox_message is not None
        assert queued.outbox_message.destination == f"wm_{fresh.pk}"
        assert OutboxMessage.objects.filter(channel="wecom").count() == 2  # "earlier" and "a"

    def test_at_night_everything_allowed_is_held_with_its_payload(self) -> None:
        people = [make_person() for _ in range(3)]
        decided = send_many([wecom(p, f"n{p.pk}") for p in people], shanghai(2, 23))
        assert {d.status for d in decided.values()} == {DispatchStatus.HELD}
        held = MarketingDispatch.objects.get(dedupe_key=f"n{people[0].pk}")
        assert held.held_payload["text"] == "新鲜好奶到货"
        assert held.scheduled_for == shanghai(3, 8)
        assert not OutboxMessage.objects.filter(channel="wecom").exists()

    def test_a_batch_sent_again_decides_nothing_new(self) -> None:
        person = make_person()
        first = send_many([wecom(person, "k1")], shanghai(3, 10))
        again = send_many([wecom(person, "k1")], shanghai(3, 10, 5))
        assert again["k1"].pk == first["k1"].pk
        assert MarketingDispatch.objects.count() == 1
        assert OutboxMessage.objects.filter(channel="wecom").count() == 1

    def test_a_merged_persons_send_goes_to_the_survivor(self) -> None:
        survivor, merged = make_person(), make_person()
        Person.objects.filter(pk=merged.pk).update(status=PersonStatus.MERGED, merged_into=survivor)
        decided = send_many([wecom(merged, "m1")], shanghai(4, 10))
        assert decided["m1"].person_id == survivor.pk
