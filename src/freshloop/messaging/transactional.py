"""Transactional messages (payment, refund, shipping, subscription notices): queued at once
and recorded on the person's timeline as a `MarketingDispatch` of class transactional. They
BYPASS the marketing policy: no consent check, no caps, no quiet hours, and they do not count
against the marketing caps. One at a time (`transactional_send`) or many in the caller's
transaction (`transactional_send_many`, a subscription run's pay-now notices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.outbox import outbox_enqueue, outbox_enqueue_many
from freshloop.identity.models import Person, PersonStatus
from freshloop.messaging.marketing import (
    MarketingSend,
    _channel_checked,
    _outbox_key,
    _person_to_message,
)
from freshloop.messaging.models import DispatchStatus, MarketingDispatch, MessageClass


def transactional_send(
    *,
    person_id: int,
    channel: str,
    payload: dict[str, Any],
    purpose: str,
    source: str,
    dedupe_key: str,
    destination: str = "",
    urgent: bool = True,
) -> MarketingDispatch:
    """Queue a transactional message (payment, refund, shipping notice) to a person at once and
    record it on their timeline. It BYPASSES the marketing policy: no consent check, no caps,
    no quiet hours, and it does not count against the marketing caps."""
    _channel_checked(channel)
    existing = MarketingDispatch.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    person = _person_to_message(person_id)
    send = TransactionalSend(
        person_id=person.pk, payload=payload, purpose=purpose, source=source, dedupe_key=dedupe_key
    )
    with transaction.atomic():
        dispatch = _dispatch(person, channel, send)
        dispatch.save(force_insert=True)
        dispatch.outbox_message = outbox_enqueue(
            channel=channel,
            destination=destination,
            payload=payload,
            dedupe_key=f"marketing:{dispatch.pk}",
            urgent=urgent,
        )
        dispatch.save(update_fields=["outbox_message"])
        return dispatch


TransactionalSend = MarketingSend
"""One message of a `transactional_send_many` batch: the same fields as a marketing send."""


def _dispatch(person: Person, channel: str, send: TransactionalSend) -> MarketingDispatch:
    now = clock.now()
    return MarketingDispatch(
        person=person,
        channel=channel,
        message_class=MessageClass.TRANSACTIONAL,
        purpose=send.purpose[:64],
        source=send.source[:128],
        dedupe_key=send.dedupe_key,
        status=DispatchStatus.QUEUED,
        reason_code="transactional",
        reason="交易类消息，立即发送",
        created_at=now,
        decided_at=now,
        queued_at=now,
    )


def transactional_send_many(
    *, channel: str, sends: Sequence[TransactionalSend]
) -> dict[str, MarketingDispatch]:
    """`transactional_send` for a batch, in the caller's transaction: one read of the keys
    already sent, the people in one read (a merged person's message goes to the survivor),
    the outbox rows and the dispatches in bulk. Returns each send's dispatch by dedupe key."""
    _channel_checked(channel)
    with transaction.atomic():
        sent = {
            d.dedupe_key: d
            for d in MarketingDispatch.objects.filter(dedupe_key__in=[s.dedupe_key for s in sends])
        }
        todo = list({s.dedupe_key: s for s in sends if s.dedupe_key not in sent}.values())
        people = {p.pk: p for p in Person.objects.filter(pk__in={s.person_id for s in todo})}
        fresh = []
        for send in todo:
            person = people.get(send.person_id)
            if person is None or person.status == PersonStatus.MERGED:
                person = _person_to_message(send.person_id)
            fresh.append((send, _dispatch(person, channel, send)))
        messages = outbox_enqueue_many(
            rows=[
                (channel, send.destination, send.payload, _outbox_key(send.dedupe_key))
                for send, _ in fresh
            ]
        )
        for (_, dispatch), message in zip(fresh, messages, strict=True):
            dispatch.outbox_message = message
        created = MarketingDispatch.objects.bulk_create([d for _, d in fresh], batch_size=1000)
        sent.update({dispatch.dedupe_key: dispatch for dispatch in created})
        return sent
