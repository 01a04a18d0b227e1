"""Effects that must happen after a commit survive a crash: they are outbox rows first.

An effect (a data-hub fact of an order, a refund submission, the refund that follows an
approval, a webhook) is written as an `OutboxMessage` on channel `effect` **in the same
transaction** as the change that causes it, then delivered at least once to an idempotent
consumer, registered here by name:

- `inline` effects (cheap, local: a row in another table) run right after the commit, in the
  process that committed. Their row is written already leased to that process (due only after
  `CLAIM_LEASE`), so the relay leaves it alone while the committer delivers it — and picks it
  up once the lease passes if the committer died between the commit and the effect.
- `background` effects (slow or external: a provider call) are due at once; after commit the
  relay is kicked through huey (best effort: if the queue is down, the periodic relay still
  finds the row).

A consumer that raises is retried with back-off by the relay (`core.outbox`); after
`MAX_ATTEMPTS` the row is marked failed and an alert is raised. `outbox_stuck_alert` (periodic)
alerts on effects still pending long after they were due.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F

from freshloop.core import clock
from freshloop.core.models import OutboxMessage, OutboxStatus
from freshloop.core.outbox import (
    ALERT_CHANNEL,
    CLAIM_LEASE,
    DeliveryError,
    kick_relay_best_effort,
    outbox_enqueue,
    register_sender,
)

logger = logging.getLogger(__name__)

EFFECT_CHANNEL = "effect"

EffectConsumer = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _Registration:
    consumer: EffectConsumer
    background: bool


_consumers: dict[str, _Registration] = {}


def effect_consumer(
    name: str, *, background: bool = False
) -> Callable[[EffectConsumer], EffectConsumer]:
    """Register the idempotent consumer of effect `name` ("<module>.<what>")."""

    def register(consumer: EffectConsumer) -> EffectConsumer:
        _consumers[name] = _Registration(consumer=consumer, background=background)
        return consumer

    return register


def effect_enqueue(
    *,
    name: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    due_at: dt.datetime | None = None,
) -> OutboxMessage:
    """Write effect `name` in the caller's transaction; it is delivered after commit.

    With a `dedupe_key` an effect is written once however often it is asked for (a retried
    request); the first row wins. A background effect with `due_at` waits until then (a
    charge that may only be made in the provider's daytime hours).
    """
    registration = _consumers.get(name)
    if registration is None:
        raise LookupError(f"no consumer registered for effect {name!r}")
    if due_at is not None and not registration.background:
        raise ValueError(f"effect {name!r} runs inline after commit; it cannot wait")
    now = clock.now()
    if dedupe_key is not None:
        existing = OutboxMessage.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    row = OutboxMessage.objects.create(
        channel=EFFECT_CHANNEL,
        payload={"effect": name, "data": payload},
        dedupe_key=dedupe_key,
        # An inline effect is leased to this process until it has had its chance to deliver.
        next_attempt_at=(max(now, due_at or now) if registration.background else now + CLAIM_LEASE),
        created_at=now,
    )
    row_id = row.pk
    if registration.background:
        transaction.on_commit(kick_relay_best_effort)
    else:
        transaction.on_commit(lambda: _deliver_inline(row_id, name, payload))
    return row


def effects_enqueue(*, names: list[str], payload: dict[str, Any]) -> list[OutboxMessage]:
    """Write one effect per name, all with the same payload, in one INSERT (an event with
    several durable handlers costs its transaction one statement, not one per handler)."""
    registrations = []
    for name in names:
        registration = _consumers.get(name)
        if registration is None:
            raise LookupError(f"no consumer registered for effect {name!r}")
        registrations.append((name, registration))
    now = clock.now()
    rows = OutboxMessage.objects.bulk_create(
        OutboxMessage(
            channel=EFFECT_CHANNEL,
            payload={"effect": name, "data": payload},
            next_attempt_at=now if registration.background else now + CLAIM_LEASE,
            created_at=now,
        )
        for name, registration in registrations
    )
    if any(registration.background for _, registration in registrations):
        transaction.on_commit(kick_relay_best_effort)
    for row, (name, registration) in zip(rows, registrations, strict=True):
        if not registration.background:
            row_id = row.pk
            transaction.on_commit(
                lambda row_id=row_id, name=name: _deliver_inline(row_id, name, payload)  # type: ignore[misc]
            )
    return rows


def _deliver_inline(row_id: int, name: str, payload: dict[str, Any]) -> None:
    """Run an inline effect after its commit; a failure leaves it to the relay's retries."""
    try:
        _consumers[name].consumer(payload)
    except Exception as exc:
        logger.exception("effect %s (outbox %s) failed; the relay retries it", name, row_id)
        OutboxMessage.objects.filter(pk=row_id, status=OutboxStatus.PENDING).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return
    OutboxMessage.objects.filter(pk=row_id, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.SENT, sent_at=clock.now(), attempts=F("attempts") + 1
    )


class EffectSender:
    """Outbox sender for channel `effect`: hands the row to its registered consumer."""

    channel = EFFECT_CHANNEL

    def send(self, message: OutboxMessage) -> str:
        payload = message.payload if isinstance(message.payload, dict) else {}
        name = str(payload.get("effect", ""))
        registration = _consumers.get(name)
        if registration is None:
            raise DeliveryError(f"no consumer registered for effect {name!r}")
        try:
            registration.consumer(dict(payload.get("data") or {}))
        except DeliveryError:
            raise
        except Exception as exc:
            raise DeliveryError(f"effect {name} failed: {type(exc).__name__}: {exc}") from exc
        return f"effect-{message.pk}"


register_sender(EFFECT_CHANNEL, EffectSender())


STUCK_AFTER = dt.timedelta(minutes=15)


def outbox_stuck_count(*, now: dt.datetime | None = None) -> tuple[int, dt.datetime | None]:
    """Pending rows due for longer than `STUCK_AFTER`, and when the oldest was due."""
    cutoff = (now or clock.now()) - STUCK_AFTER
    stuck = OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lt=cutoff)
    oldest = stuck.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    return stuck.count(), oldest


def outbox_stuck_alert(*, now: dt.datetime | None = None) -> int:
    """Raise one alert per hour while outbox rows are stuck (no worker, or a consumer that
    keeps failing); returns how many are stuck."""
    moment = now or clock.now()
    count, oldest = outbox_stuck_count(now=moment)
    if count:
        outbox_enqueue(
            channel=ALERT_CHANNEL,
            payload={
                "kind": "outbox.stuck",
                "stuck": count,
                "oldest_due_at": oldest.isoformat() if oldest else None,
            },
            dedupe_key=f"outbox.stuck:{moment:%Y%m%d%H}",
        )
    return count


EFFECTS_KEPT_FOR = dt.timedelta(days=7)


def effects_purge_delivered(*, now: dt.datetime | None = None, batch: int = 5000) -> int:
    """Forget delivered effects older than `EFFECTS_KEPT_FOR` (every order writes a few, and a
    delivered one is only worth keeping while someone may be investigating it); returns how
    many were deleted. Messages on other channels are kept: they are the record of what left."""
    cutoff = (now or clock.now()) - EFFECTS_KEPT_FOR
    deleted = 0
    while True:
        ids = list(
            OutboxMessage.objects.filter(
                channel=EFFECT_CHANNEL, status=OutboxStatus.SENT, sent_at__lt=cutoff
            ).values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted
        deleted += OutboxMessage.objects.filter(pk__in=ids).delete()[0]
