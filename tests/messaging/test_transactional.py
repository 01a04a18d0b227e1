"""Transactional messages in bulk (`transactional_send_many`, a subscription run's pay-now
notices): one dispatch and one outbox row per key, never twice, to the survivor of a merge,
and nothing checked against the marketing policy."""

from __future__ import annotations

import pytest

from freshloop.core.audit import Actor
from freshloop.core.models import OutboxMessage
from freshloop.identity.models import Person, PersonStatus
from freshloop.messaging.errors import MarketingChannelUnknown
from freshloop.messaging.models import DispatchStatus, MarketingDispatch, MessageClass
from freshloop.messaging.services import (
    TransactionalSend,
    marketing_opt_out,
    transactional_send_many,
)
from tests.factories import make_person

pytestmark = pytest.mark.django_db


def send(person: Person, key: str) -> TransactionalSend:
    return TransactionalSend(
        person_id=person.pk,
        payload={"title": "订阅订单待付款", "body": "请付款"},
        purpose="food_subscription_pay",
        source="subscription:SUB_1",
        dedupe_key=key,
    )


class TestTransactionalSendMany:
    def test_one_dispatch_and_outbox_row_per_key_even_twice(self) -> None:
        # given two customers, one of whom opted out of marketing
        first, second = make_person(), make_person()
        marketing_opt_out(
            actor=Actor.system("test"), person_id=second.pk, channel="in_app", source="self"
        )
        # when their notices are sent in one batch, one of them twice, then again
        sent = transactional_send_many(
            channel="in_app", sends=[send(first, "k1"), send(second, "k2"), send(first, "k1")]
        )
        again = transactional_send_many(channel="in_app", sends=[send(first, "k1")])
        # then each key has one queued transactional dispatch linked to one outbox row
        assert set(sent) == {"k1", "k2"}
        assert again["k1"].pk == sent["k1"].pk
        dispatches = MarketingDispatch.objects.order_by("dedupe_key")
        assert [(d.dedupe_key, d.status, d.message_class) for d in dispatches] == [
            ("k1", DispatchStatus.QUEUED, MessageClass.TRANSACTIONAL),
            ("k2", DispatchStatus.QUEUED, MessageClass.TRANSACTIONAL),
        ]
        assert OutboxMessage.objects.count() == 2
        assert all(d.outbox_message_id for d in dispatches)

    def test_a_merged_persons_notice_goes_to_the_survivor(self) -> None:
        survivor, merged = make_person(), make_person()
        Person.objects.filter(pk=merged.pk).update(status=PersonStatus.MERGED, merged_into=survivor)
        sent = transactional_send_many(channel="in_app", sends=[send(merged, "k1")])
        assert sent["k1"].person_id == survivor.pk

    def test_an_unknown_channel_is_refused_and_writes_nothing(self) -> None:
        with pytest.raises(MarketingChannelUnknown):
            transactional_send_many(channel="fax", sends=[send(make_person(), "k1")])
        assert MarketingDispatch.objects.count() == 0
