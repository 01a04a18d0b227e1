"""Durable effects: written in the causing transaction, delivered at least once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from freshloop.core import clock
from freshloop.core.effects import (
    EFFECT_CHANNEL,
    EFFECTS_KEPT_FOR,
    STUCK_AFTER,
    effect_consumer,
    effect_enqueue,
    effects_purge_delivered,
    outbox_stuck_alert,
    outbox_stuck_count,
)
from freshloop.core.events import DomainEvent, publish, subscribe, unsubscribe
from freshloop.core.models import OutboxMessage, OutboxStatus
from freshloop.core.outbox import ALERT_CHANNEL, CLAIM_LEASE, MAX_ATTEMPTS, outbox_relay

pytestmark = pytest.mark.django_db(transaction=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CrateWeighed(DomainEvent):
    name = "CrateWeighed"
    crate_id: int
    grams: int


class Recorder:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.fail_with: Exception | None = None

    def __call__(self, payload: dict[str, Any]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.seen.append(payload)


@pytest.fixture
def inline() -> Recorder:
    recorder = Recorder()
    effect_consumer("test.inline")(recorder)
    return recorder


@pytest.fixture
def background() -> Recorder:
    recorder = Recorder()
    effect_consumer("test.background", background=True)(recorder)
    return recorder


def _effect_rows() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(channel=EFFECT_CHANNEL).order_by("pk"))


class TestEffectEnqueue:
    def test_an_inline_effect_runs_after_commit_and_is_marked_done(self, inline: Recorder) -> None:
        with transaction.atomic():
            effect_enqueue(name="test.inline", payload={"n": 1})
            # nothing runs while the transaction is open
            assert inline.seen == []
        assert inline.seen == [{"n": 1}]
        assert [row.status for row in _effect_rows()] == [OutboxStatus.SENT]

    def test_a_rolled_back_transaction_leaves_no_effect(self, inline: Recorder) -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            effect_enqueue(name="test.inline", payload={"n": 1})
            raise RuntimeError("the business write failed")
        assert inline.seen == []
        assert _effect_rows() == []

    def test_a_failed_inline_effect_is_retried_by_the_relay_once_its_lease_ends(
        self, inline: Recorder
    ) -> None:
        # given a consumer that fails on the first try
        inline.fail_with = ValueError("warehouse busy")
        with transaction.atomic():
            effect_enqueue(name="test.inline", payload={"n": 2})
        row = _effect_rows()[0]
        assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
        assert "warehouse busy" in row.last_error
        inline.fail_with = None
        # when the relay runs before the committer's lease ended, it leaves the row alone
        assert outbox_relay().sent == 0
        # and after it, the relay delivers
        with clock.frozen(clock.now() + CLAIM_LEASE + dt.timedelta(seconds=1)):
            assert outbox_relay().sent == 1
        assert inline.seen == [{"n": 2}]

    def test_a_repeated_dedupe_key_writes_one_effect(self, inline: Recorder) -> None:
        with transaction.atomic():
            first = effect_enqueue(name="test.inline", payload={"n": 1}, dedupe_key="k")
            again = effect_enqueue(name="test.inline", payload={"n": 2}, dedupe_key="k")
        assert first.pk == again.pk
        assert inline.seen == [{"n": 1}]

    def test_an_unknown_effect_is_refused_before_anything_is_written(self) -> None:
        with pytest.raises(LookupError):
            effect_enqueue(name="test.nobody", payload={})
        assert _effect_rows() == []

    def test_a_background_effect_survives_a_task_queue_that_is_down(
        self, background: Recorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the task queue refuses the kick (as a stopped Redis does)
        def queue_down() -> None:
            raise ConnectionError("Redis is down")

        monkeypatch.setattr("freshloop.core.outbox.kick_relay", queue_down)
        with transaction.atomic():
            effect_enqueue(name="test.background", payload={"refund_id": 7})
        # then the commit stands and the effect waits, due at once
        assert background.seen == []
        # when the periodic relay runs
        assert outbox_relay().sent == 1
        assert background.seen == [{"refund_id": 7}]

    def test_an_effect_that_keeps_failing_is_given_up_with_an_alert(
        self, background: Recorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("freshloop.core.outbox.kick_relay", lambda: None)
        background.fail_with = RuntimeError("provider refuses")
        with transaction.atomic():
            row = effect_enqueue(name="test.background", payload={})
        moment = clock.now()
        for _ in range(MAX_ATTEMPTS):
            with clock.frozen(moment):
                outbox_relay()
            moment += dt.timedelta(hours=2)
        row.refresh_from_db()
        assert row.status == OutboxStatus.FAILED
        alert = OutboxMessage.objects.get(channel=ALERT_CHANNEL)
        assert alert.payload["kind"] == "outbox.gave_up"
        assert alert.payload["outbox_id"] == row.pk


class TestDurableSubscription:
    @pytest.fixture
    def heard(self) -> Iterator[list[CrateWeighed]]:
        seen: list[CrateWeighed] = []

        def on_weighed(event: CrateWeighed) -> None:
            seen.append(event)

        subscribe(CrateWeighed, durable=True)(on_weighed)
        yield seen
        unsubscribe(CrateWeighed, on_weighed)

    def test_the_event_is_written_in_the_transaction_and_delivered_after_commit(
        self, heard: list[CrateWeighed]
    ) -> None:
        with transaction.atomic():
            publish(CrateWeighed(crate_id=3, grams=12_000))
            assert len(_effect_rows()) == 1
            assert heard == []
        assert [(event.crate_id, event.grams) for event in heard] == [(3, 12_000)]

    @pytest.mark.django_db  # inside the test's transaction, so after-commit work can be withheld
    def test_the_relay_rebuilds_the_same_event_in_another_process(
        self, heard: list[CrateWeighed], django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a commit whose after-commit work never ran (the process died)
        moment = clock.now().replace(microsecond=0)
        with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
            publish(CrateWeighed(crate_id=4, grams=500, occurred_at=moment))
        assert heard == []
        # when the relay runs after the lease
        with clock.frozen(clock.now() + CLAIM_LEASE + dt.timedelta(seconds=1)):
            assert outbox_relay().sent == 1
        # then the handler got the event, its time included
        assert heard == [CrateWeighed(crate_id=4, grams=500, occurred_at=moment)]


class TestOutboxStuckCount:
    def test_counts_rows_due_longer_than_the_threshold(
        self, background: Recorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("freshloop.core.outbox.kick_relay", lambda: None)  # no worker
        with transaction.atomic():
            effect_enqueue(name="test.background", payload={})
        later = clock.now() + STUCK_AFTER + dt.timedelta(minutes=1)
        count, oldest = outbox_stuck_count(now=later)
        assert count == 1
        assert oldest is not None
        assert outbox_stuck_count()[0] == 0

    def test_stuck_rows_raise_one_alert_per_hour(
        self, background: Recorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("freshloop.core.outbox.kick_relay", lambda: None)
        with transaction.atomic():
            effect_enqueue(name="test.background", payload={})
        # two checks five minutes apart within one clock hour, long after the row was due
        later = (clock.now() + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        assert outbox_stuck_alert(now=later) == 1
        outbox_stuck_alert(now=later + dt.timedelta(minutes=5))
        alerts = OutboxMessage.objects.filter(channel=ALERT_CHANNEL)
        assert [alert.payload["kind"] for alert in alerts] == ["outbox.stuck"]


class TestEffectsPurgeDelivered:
    def test_forgets_delivered_effects_after_a_week_and_keeps_the_rest(
        self, inline: Recorder, background: Recorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a delivered effect, one still pending, and an SMS already sent
        monkeypatch.setattr("freshloop.core.outbox.kick_relay", lambda: None)
        with transaction.atomic():
            delivered = effect_enqueue(name="test.inline", payload={})
            pending = effect_enqueue(name="test.background", payload={})
        sms = OutboxMessage.objects.create(
            channel="sms",
            status=OutboxStatus.SENT,
            sent_at=clock.now(),
            next_attempt_at=clock.now(),
            created_at=clock.now(),
        )
        # when the purge runs a week and a day later
        later = clock.now() + EFFECTS_KEPT_FOR + dt.timedelta(days=1)
        assert effects_purge_delivered(now=later) == 1
        # then only the delivered effect is gone
        remaining = set(OutboxMessage.objects.values_list("pk", flat=True))
        assert remaining == {pending.pk, sms.pk}
        assert delivered.pk not in remaining
