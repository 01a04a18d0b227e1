from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection, transaction

from config.env import ConfigurationError, load_settings
from freshloop.core import clock
from freshloop.core.models import OutboxMessage, OutboxStatus
from freshloop.core.outbox import (
    MAX_ATTEMPTS,
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    outbox_enqueue,
    outbox_relay,
    register_sender,
    sender_for,
)
from freshloop.messaging.alerts import (
    ALERT_CHANNEL,
    Alert,
    AlertChannelSender,
    LogAlertProvider,
    WebhookAlertProvider,
    alert_provider,
)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.fail_with: str | None = None
        self.raise_error: DeliveryError | None = None

    def send(self, message: OutboxMessage) -> str:
        if self.raise_error is not None:
            raise self.raise_error
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
    def test_an_urgent_message_commits_while_the_task_queue_is_down(
        self, sender: RecordingSender, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the worker's queue (Redis) refusing the kick
        def queue_down() -> None:
            raise ConnectionError("Redis is down")

        monkeypatch.setattr("freshloop.core.outbox.kick_relay", queue_down)
        # when a login code is queued as urgent and its transaction commits
        with transaction.atomic():
            message = outbox_enqueue(channel="test-channel", payload={}, urgent=True)
        # then nothing was raised, and the periodic relay still sends it
        assert outbox_relay().sent == 1
        assert sender.sent == [message.pk]

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

    def test_a_permanent_refusal_fails_at_once_and_alerts(self, sender: RecordingSender) -> None:
        # given a provider that says no retry can help (an invalid number)
        message = outbox_enqueue(channel="test-channel", payload={})
        sender.raise_error = PermanentDeliveryError("number invalid")
        # when the relay runs once
        result = outbox_relay()
        # then the message is failed after that one attempt, and people are told
        assert (result.failed, result.retried) == (1, 0)
        stored = OutboxMessage.objects.get(pk=message.pk)
        assert (stored.status, stored.attempts, stored.last_error) == (
            OutboxStatus.FAILED,
            1,
            "number invalid",
        )
        alert = OutboxMessage.objects.get(channel=ALERT_CHANNEL)
        assert alert.payload["kind"] == "outbox.gave_up"
        assert alert.payload["outbox_id"] == message.pk

    def test_throttling_waits_at_least_as_long_as_asked(self, sender: RecordingSender) -> None:
        message = outbox_enqueue(channel="test-channel", payload={})
        sender.raise_error = ThrottledDeliveryError("slow down", retry_after=900)
        moment = clock.now()
        with clock.frozen(moment):
            assert outbox_relay().retried == 1
        stored = OutboxMessage.objects.get(pk=message.pk)
        # the first back-off would be 10 s; the provider asked for 15 minutes
        assert stored.status == OutboxStatus.PENDING
        assert stored.next_attempt_at == moment + dt.timedelta(seconds=900)
        with clock.frozen(moment + dt.timedelta(seconds=899)):
            assert outbox_relay().sent == 0
        sender.raise_error = None
        with clock.frozen(moment + dt.timedelta(seconds=900)):
            assert outbox_relay().sent == 1

    def test_unknown_channel_is_a_delivery_failure_not_a_crash(self) -> None:
        message = outbox_enqueue(channel="nobody-listens", payload={})
        result = outbox_relay()
        assert result.retried == 1
        assert "no sender" in OutboxMessage.objects.get(pk=message.pk).last_error


WEBHOOK_URL = "https://hooks.example.test/alerts?key=robot-secret"


def _alert_message(**payload: Any) -> OutboxMessage:
    return outbox_enqueue(
        channel=ALERT_CHANNEL,
        payload={"kind": "payments.amount_mismatch", "amount_fen": 1, **payload},
    )


@pytest.mark.django_db
class TestAlertChannelSender:
    def test_the_alert_channel_has_a_sender(self) -> None:
        assert isinstance(sender_for(ALERT_CHANNEL), AlertChannelSender)

    def test_relay_delivers_an_alert_as_one_structured_error_log_line(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        # given an alert queued with no webhook configured (the offline default)
        message = _alert_message(out_trade_no="PAY1")
        # when the relay runs
        with caplog.at_level(logging.ERROR, logger="freshloop.alerts"):
            result = outbox_relay()
        # then the alert is sent, once, as an ERROR line carrying its payload
        assert (result.sent, result.retried, result.failed) == (1, 0, 0)
        stored = OutboxMessage.objects.get(pk=message.pk)
        assert stored.status == OutboxStatus.SENT
        assert stored.provider_message_id == f"log-alert-{message.pk}"
        [record] = [r for r in caplog.records if r.name == "freshloop.alerts"]
        assert record.levelno == logging.ERROR
        assert record.alert["kind"] == "payments.amount_mismatch"  # type: ignore[attr-defined]
        assert record.alert["details"]["out_trade_no"] == "PAY1"  # type: ignore[attr-defined]
        logged = json.loads(record.getMessage().split(" ", 2)[2])
        assert logged["alert_id"] == f"alert-{message.pk}"
        assert outbox_relay().sent == 0

    def test_a_configured_webhook_that_cannot_be_reached_is_retried_not_dropped(
        self, settings: Any
    ) -> None:
        # given a webhook configured, and no network (tests block outbound connections)
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, alert_webhook_url=WEBHOOK_URL)
        message = _alert_message()
        # when the relay runs
        result = outbox_relay()
        # then the alert waits for the next attempt, and the error does not reveal the URL
        assert result.retried == 1
        stored = OutboxMessage.objects.get(pk=message.pk)
        assert (stored.status, stored.attempts) == (OutboxStatus.PENDING, 1)
        assert "alert webhook unreachable" in stored.last_error
        assert "robot-secret" not in stored.last_error


class TestAlertProvider:
    def test_log_by_default_and_webhook_when_configured(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, alert_webhook_url="")
        assert isinstance(alert_provider(), LogAlertProvider)
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, alert_webhook_url=WEBHOOK_URL)
        assert isinstance(alert_provider(), WebhookAlertProvider)


def _alert() -> Alert:
    return Alert(
        alert_id="alert-7",
        kind="payments.amount_mismatch",
        raised_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC),
        details={"kind": "payments.amount_mismatch", "amount_fen": 1, "note": "金额不一致"},
    )


class TestWebhookAlertProvider:
    def test_posts_the_alert_as_json_with_its_id_to_deduplicate_on(self) -> None:
        seen: list[httpx.Request] = []

        def hook(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204)

        provider = WebhookAlertProvider(url=WEBHOOK_URL, transport=httpx.MockTransport(hook))
        assert provider.deliver(alert=_alert()) == "webhook-alert-7"
        [request] = seen
        assert (request.method, str(request.url)) == ("POST", WEBHOOK_URL)
        assert request.headers["Idempotency-Key"] == "alert-7"
        assert json.loads(request.content) == {
            "alert_id": "alert-7",
            "kind": "payments.amount_mismatch",
            "raised_at": "2026-01-02T03:04:00+00:00",
            "details": {"kind": "payments.amount_mismatch", "amount_fen": 1, "note": "金额不一致"},
        }

    @pytest.mark.parametrize("status", [400, 500, 302])
    def test_an_answer_other_than_2xx_is_a_delivery_error(self, status: int) -> None:
        provider = WebhookAlertProvider(
            url=WEBHOOK_URL, transport=httpx.MockTransport(lambda _: httpx.Response(status))
        )
        with pytest.raises(DeliveryError, match=f"HTTP {status}") as error:
            provider.deliver(alert=_alert())
        assert "robot-secret" not in str(error.value)

    def test_a_timeout_is_a_delivery_error(self) -> None:
        def hook(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("slow", request=request)

        provider = WebhookAlertProvider(url=WEBHOOK_URL, transport=httpx.MockTransport(hook))
        with pytest.raises(DeliveryError, match="unreachable"):
            provider.deliver(alert=_alert())


class TestAlertWebhookSetting:
    @pytest.fixture
    def env(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
        for name in list(os.environ):
            if name.startswith("FRESHLOOP_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("FRESHLOOP_DATA_DIR", str(tmp_path))
        return monkeypatch

    def test_empty_by_default(self, env: pytest.MonkeyPatch) -> None:
        assert load_settings().alert_webhook_url == ""

    @pytest.mark.parametrize("url", [WEBHOOK_URL, "http://127.0.0.1:9000/alerts"])
    def test_a_url_is_kept_trimmed(self, env: pytest.MonkeyPatch, url: str) -> None:
        env.setenv("FRESHLOOP_ALERT_WEBHOOK_URL", f" {url} ")
        assert load_settings().alert_webhook_url == url

    def test_something_else_is_refused_without_echoing_it(self, env: pytest.MonkeyPatch) -> None:
        env.setenv("FRESHLOOP_ALERT_WEBHOOK_URL", "hooks.example.test/alerts?key=robot-secret")
        with pytest.raises(ConfigurationError, match="FRESHLOOP_ALERT_WEBHOOK_URL") as error:
            load_settings()
        assert "robot-secret" not in str(error.value)

    def test_production_needs_https(self, env: pytest.MonkeyPatch) -> None:
        env.setenv("FRESHLOOP_ENV", "production")
        env.setenv("FRESHLOOP_SECRET_KEY", "s" * 50)
        env.setenv("FRESHLOOP_PII_KEYS", "k1:" + base64.urlsafe_b64encode(b"k" * 32).decode())
        env.setenv("FRESHLOOP_BLIND_INDEX_KEY", "blind")
        env.setenv("FRESHLOOP_ALERT_WEBHOOK_URL", "http://hooks.example.test/alerts")
        with pytest.raises(ConfigurationError, match="https://"):
            load_settings()
