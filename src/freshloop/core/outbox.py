"""Transactional outbox: anything leaving the system is first a row, then a delivery.

`outbox_enqueue` writes inside the caller's transaction. `outbox_relay` (a periodic huey job)
claims due rows with a lease, sends them through the channel's sender *outside* any
transaction, and records the outcome. Delivery is at-least-once: a crash after the provider
accepted a message but before the row was marked sent resends it after the lease, so senders
pass `message.pk` to providers that deduplicate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import IntegrityError, transaction

from freshloop.core import clock, crypto
from freshloop.core.models import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

CLAIM_LEASE = dt.timedelta(seconds=60)
MAX_ATTEMPTS = 8
SMS_CHANNEL = "sms"
ALERT_CHANNEL = "alert"


class DeliveryError(Exception):
    """The channel could not deliver; the relay retries with backoff."""


class ThrottledDeliveryError(DeliveryError):
    """The provider asks us to slow down: retried, but not before `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryDeferred(Exception):
    """Not now, and not a failure: the message waits until `until` (a marketing message whose
    delivery fell into quiet hours, e.g. a backlog after the worker was down overnight). The
    attempt is not counted."""

    def __init__(self, reason: str, *, until: dt.datetime) -> None:
        super().__init__(reason)
        self.until = until


class PermanentDeliveryError(DeliveryError):
    """Sending again cannot help (an invalid number, an unapproved template, bad credentials):
    the relay marks the message failed at once and raises an alert."""


class ChannelSender(Protocol):
    def send(self, message: OutboxMessage) -> str:
        """Deliver the message; return the provider's message id or raise DeliveryError."""
        ...


_senders: dict[str, ChannelSender] = {}


def register_sender(channel: str, sender: ChannelSender) -> None:
    _senders[channel] = sender


def sender_for(channel: str) -> ChannelSender | None:
    return _senders.get(channel)


def outbox_enqueue(
    *,
    channel: str,
    payload: dict[str, Any],
    destination: str = "",
    dedupe_key: str | None = None,
    urgent: bool = False,
) -> OutboxMessage:
    """Queue a message for delivery after commit. A repeated dedupe_key returns the first row.

    `urgent` (login codes, payment notices) kicks the relay as soon as the transaction
    commits instead of waiting for the next periodic tick.
    """
    now = clock.now()
    if urgent:
        transaction.on_commit(kick_relay_best_effort)
    if dedupe_key is not None:
        existing = OutboxMessage.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            return OutboxMessage.objects.create(
                channel=channel,
                destination=destination,
                payload=payload,
                dedupe_key=dedupe_key,
                next_attempt_at=now,
                created_at=now,
            )
    except IntegrityError:
        # A concurrent writer queued the same dedupe key first; theirs is the message.
        return OutboxMessage.objects.get(dedupe_key=dedupe_key)


def kick_relay_best_effort() -> None:
    """Kick the relay, but never fail the committed request that asked: if the task queue
    (Redis) is down, the periodic relay finds the row at its next tick."""
    try:
        kick_relay()
    except Exception:  # noqa: BLE001 (logged; the row is safe and the periodic relay sends it)
        logger.warning("could not kick the outbox relay; the periodic relay will deliver")


def kick_relay() -> None:
    """Ask the worker to run the relay now instead of at its next periodic tick."""
    from freshloop.core.tasks import relay_outbox_now  # the task module imports this one

    relay_outbox_now()


def _alert_gave_up(message: OutboxMessage) -> None:
    """Something that had to leave the system never did: people must look at it."""
    if message.channel == ALERT_CHANNEL:
        return  # an alert about an alert that cannot be delivered would never arrive either
    outbox_enqueue(
        channel=ALERT_CHANNEL,
        payload={
            "kind": "outbox.gave_up",
            "outbox_id": message.pk,
            "channel": message.channel,
            "attempts": message.attempts,
            "last_error": message.last_error[:500],
        },
        dedupe_key=f"outbox.gave_up:{message.pk}",
    )


@dataclass(frozen=True)
class RelayResult:
    sent: int
    retried: int
    failed: int


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(10 * 2 ** (attempts - 1), 3600))


def _claim(message_id: int, seen_next_attempt_at: dt.datetime) -> bool:
    """Take a lease on a row with a conditional update, so two relays never both send it."""
    claimed = OutboxMessage.objects.filter(
        pk=message_id,
        status=OutboxStatus.PENDING,
        next_attempt_at=seen_next_attempt_at,
    ).update(next_attempt_at=clock.now() + CLAIM_LEASE)
    return claimed == 1


def outbox_relay(*, batch_size: int = 100) -> RelayResult:
    """Send due pending messages; returns how many were sent, rescheduled and given up."""
    now = clock.now()
    due = list(
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "next_attempt_at")[:batch_size]
    )
    sent = retried = failed = 0
    for message_id, next_attempt_at in due:
        if not _claim(message_id, next_attempt_at):
            continue
        message = OutboxMessage.objects.get(pk=message_id)
        message.attempts += 1
        sender = sender_for(message.channel)
        try:
            if sender is None:
                raise DeliveryError(f"no sender registered for channel {message.channel!r}")
            provider_id = sender.send(message)
        except DeliveryDeferred as deferred:
            message.attempts -= 1
            message.last_error = str(deferred)[:2000]
            message.next_attempt_at = deferred.until
            message.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            retried += 1
            continue
        except DeliveryError as exc:
            message.last_error = str(exc)[:2000]
            if message.attempts >= MAX_ATTEMPTS or isinstance(exc, PermanentDeliveryError):
                message.status = OutboxStatus.FAILED
                failed += 1
                _alert_gave_up(message)
            else:
                delay = _backoff(message.attempts)
                if isinstance(exc, ThrottledDeliveryError):
                    delay = max(delay, dt.timedelta(seconds=exc.retry_after))
                message.next_attempt_at = clock.now() + delay
                retried += 1
            logger.warning(
                "outbox %s delivery failed (attempt %s): %s", message.pk, message.attempts, exc
            )
            message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            continue
        message.status = OutboxStatus.SENT
        message.sent_at = clock.now()
        message.provider_message_id = provider_id[:128]
        message.last_error = ""
        message.save(
            update_fields=["attempts", "status", "sent_at", "provider_message_id", "last_error"]
        )
        sent += 1
    return RelayResult(sent=sent, retried=retried, failed=failed)


# --- message formats a lower module may queue (messaging registers their senders) ------


def sms_payload(template: str, params: dict[str, str]) -> dict[str, str]:
    """Build an outbox payload whose parameters (codes, names) are sealed at rest."""
    return {
        "template": template,
        "params_sealed": crypto.encrypt(json.dumps(params, ensure_ascii=False)),
    }


def outbox_enqueue_many(*, rows: list[tuple[str, str, dict[str, Any], str]]) -> list[OutboxMessage]:
    """Queue many new messages at once: (channel, destination, payload, dedupe_key) each, with
    keys nobody has used (a batch sender derives them from rows it has just created). One
    INSERT instead of one per message; the rows come back with their ids, in order."""
    now = clock.now()
    return OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                channel=channel,
                destination=destination,
                payload=payload,
                dedupe_key=dedupe_key,
                next_attempt_at=now,
                created_at=now,
            )
            for channel, destination, payload, dedupe_key in rows
        ],
        batch_size=1000,
    )
