from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from freshloop.core import clock
from freshloop.core.models import OutboxMessage, OutboxStatus
from freshloop.core.outbox import (
    MAX_ATTEMPTS,
    DeliveryError,
    outbox_enqueue,
    outbox_relay,
    register_sender,
)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.fail_with: str | None = None

    def send(self, message: OutboxMessage) -> str:
        if self.fail_with:
            raise DeliveryError(self.fail_with)
        self.sent.append(message.pk)
        return f"provider-{message.pk}"


@pytest.fixture
def sender() -> Iterator[RecordingSender]:
    recording = RecordingSender()
    register_sender("test-channel", recording)
    return recording


@pytest.mark.django_db(transaction=True)
class TestOutboxEnqueue:
    def test_rolled_back_business_change_sends_nothing(self, sender: RecordingSender) -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox_enqueue(channel="test-channel", payload={"n": 1})
            raise RuntimeError("business write failed")
        assert OutboxMessage.objects.count() == 0

    def test_destination_is_encrypted_at_rest(self) -> None:
        message = outbox_enqueue(channel="test-channel", payload={}, destination="+8613800138000")
        with connection.cursor() as cursor:
            cursor.execute("SELECT destination FROM core_outboxmessage WHERE id = %s", [message.pk])
            raw = cursor.fetchone()[0]
        assert "13800138000" not in raw
        assert OutboxMessage.objects.get(pk=message.pk).destination == "+8613800138000"

    def test_dedupe_key_returns_the_first_message(self) -> None:
        first = outbox_enqueue(channel="test-channel", payload={"n": 1}, dedupe_key="k1")
        again = outbox_enqueue(channel="test-channel", payload={"n": 2}, dedupe_key="k1")
        assert again.pk == first.pk
        assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
class TestOutboxRelay:
    def test_row_survives_a_crash_between_commit_and_send(self, sender: RecordingSender) -> None:
        # given a message committed with its business change, and a process that died before
        # sending it (nothing ran after the commit)
        with transaction.atomic():
            message = outbox_enqueue(channel="test-channel", payload={"order": 42})
        assert OutboxMessage.objects.get(pk=message.pk).status == OutboxStatus.PENDING
        # when the relay runs in a fresh process (the periodic job)
        result = outbox_relay()
        # then the message is delivered exactly once and marked sent
        assert result.sent == 1
        assert sender.sent == [message.pk]
        stored = OutboxMessage.objects.get(pk=message.pk)
        assert stored.status == OutboxStatus.SENT
        assert stored.provider_message_id == f"provider-{message.pk}"
        assert outbox_relay().sent == 0

    def test_crash_after_claim_is_retried_when_the_lease_expires(
        self, sender: RecordingSender
    ) -> None:
        message = outbox_enqueue(channel="test-channel", payload={})
        start = clock.now()
        # given a relay that claimed the row (lease) and died before sending
        OutboxMessage.objects.filter(pk=message.pk).update(
            next_attempt_at=start + dt.timedelta(seconds=60)
        )
        with clock.frozen(start + dt.timedelta(seconds=30)):
            assert outbox_relay().sent == 0  # still leased to the dead relay
        with clock.frozen(start + dt.timedelta(seconds=61)):
            assert outbox_relay().sent == 1

    def test_failures_back_off_then_give_up(self, sender: RecordingSender) -> None:
        message = outbox_enqueue(channel="test-channel", payload={})
        sender.fail_with = "gateway down"
        moment = clock.now()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            moment += dt.timedelta(hours=2)
            with clock.frozen(moment):
                result = outbox_relay()
            stored = OutboxMessage.objects.get(pk=message.pk)
            assert stored.attempts == attempt
            assert stored.last_error == "gateway down"
        assert result.failed == 1
        assert stored.status == OutboxStatus.FAILED

    def test_unknown_channel_is_a_delivery_failure_not_a_crash(self) -> None:
        message = outbox_enqueue(channel="nobody-listens", payload={})
        result = outbox_relay()
        assert result.retried == 1
        assert "no sender" in OutboxMessage.objects.get(pk=message.pk).last_error
