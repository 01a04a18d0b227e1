"""The outbound message policy every marketing message passes, and transactional sends.

`marketing_send` / `marketing_send_many` decide each message (consent, frequency caps, quiet
hours, WeCom's own 企业群发 limit, dedupe), record the decision (`MarketingDispatch`) and
enqueue when allowed, all in the caller's transaction; `marketing_held_release` sends what
quiet hours held; `transactional_send` records a message that bypasses the policy on purpose.
Other modules call these through `messaging.services`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import (
    DeliveryDeferred,
    outbox_enqueue,
    outbox_enqueue_many,
)
from freshloop.identity.models import Identifier, IdentifierType, Person, PersonStatus
from freshloop.messaging import policy
from freshloop.messaging.errors import (
    ConsentSourceUnknown,
    MarketingChannelUnknown,
    MarketingPersonUnknown,
)
from freshloop.messaging.locks import consent_lock, consents_lock
from freshloop.messaging.models import (
    COUNTED_STATUSES,
    ConsentSource,
    DispatchStatus,
    MarketingChannel,
    MarketingConsent,
    MarketingDispatch,
    MessageClass,
)

logger = logging.getLogger(__name__)


# --- the outbound message policy ---------------------------------------------------------

# Channels whose sends a staff member must confirm before they reach the customer (WeCom
# 企业群发: add_msg_template only creates a task in the member's client). Such a send is
# `pending_confirmation` once the provider took it and `sent` once confirmed; it counts
# against the caps from the moment it was queued either way.
CONFIRMED_BY_STAFF = frozenset({MarketingChannel.WECOM.value})


def _channel_checked(channel: str) -> str:
    if channel not in MarketingChannel.values:
        raise MarketingChannelUnknown(detail={"channel": channel})
    return channel


def _person_to_message(person_id: int) -> Person:
    """The person a send addresses, following merges to the survivor."""
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        raise MarketingPersonUnknown(detail={"person_id": person_id})
    hops = 0
    while person.status == PersonStatus.MERGED and person.merged_into_id is not None and hops < 10:
        person = Person.objects.get(pk=person.merged_into_id)
        hops += 1
    return person


def _suppress(dispatch: MarketingDispatch, code: str, reason: str) -> None:
    dispatch.status = DispatchStatus.SUPPRESSED
    dispatch.reason_code = code
    dispatch.reason = reason[:128]
    dispatch.scheduled_for = None
    dispatch.held_payload = {}
    dispatch.held_destination = ""


def _counted(person_id: int, channel: str, since: dt.datetime) -> int:
    return MarketingDispatch.objects.filter(
        person_id=person_id,
        channel=channel,
        message_class=MessageClass.MARKETING,
        status__in=COUNTED_STATUSES,
        queued_at__gte=since,
    ).count()


def _decide(
    dispatch: MarketingDispatch,
    *,
    consent: MarketingConsent,
    person: Person,
    now: dt.datetime,
    released: bool,
    counted: Callable[[int, str, dt.datetime], int] = _counted,
) -> None:
    """Apply the policy to a send, in this order: erased → consent → quiet hours → caps →
    WeCom's limit → queue. The caller holds the person's consent row for the channel, so the
    counts below cannot change until it commits. Quiet hours come before caps: a held send is
    counted at release, against the caps of the morning it goes out in."""
    config = policy.policy_settings()
    dispatch.decided_at = now
    if person.status == PersonStatus.ERASED:
        _suppress(dispatch, "person_erased", "用户已注销，个人信息已删除")
        return
    if consent.opted_out:
        _suppress(dispatch, "opted_out", f"已退订{policy.channel_label(dispatch.channel)}")
        return
    release_at = policy.quiet_hours_end(now, config)
    if release_at is not None:
        dispatch.status = DispatchStatus.HELD
        dispatch.reason_code = "quiet_hours"
        dispatch.reason = policy.held_reason(release_at)
        dispatch.scheduled_for = release_at
        return
    for cap in config.caps:
        if counted(person.pk, dispatch.channel, policy.calendar_days_start(now, cap.days)) >= (
            cap.limit
        ):
            _suppress(dispatch, "frequency_cap", f"超过频次上限（{policy.cap_label(cap)}）")
            return
    if dispatch.channel == MarketingChannel.WECOM:
        window = policy.wecom_mass_window(now, config)
        if counted(person.pk, dispatch.channel, window.starts_at) >= window.limit:
            _suppress(dispatch, "wecom_limit", f"超过企业微信群发上限（{window.label}）")
            return
    dispatch.status = DispatchStatus.QUEUED
    dispatch.reason_code = "released" if released else "allowed"
    dispatch.reason = "免打扰时段结束后发送" if released else "符合发送规则，已排队发送"
    dispatch.queued_at = now


def _phone_of(person: Person) -> str:
    phone = (
        Identifier.objects.filter(person=person, type=IdentifierType.PHONE)
        .order_by("-verified", "-pk")
        .first()
    )
    return phone.value if phone is not None else ""


def _enqueue(
    dispatch: MarketingDispatch, *, person: Person, payload: dict[str, Any], destination: str
) -> None:
    """Queue an allowed send. A text without an explicit number goes to the person's phone
    as it is now (a send held overnight follows a number changed meanwhile)."""
    if dispatch.channel == MarketingChannel.SMS and not destination:
        destination = _phone_of(person)
        if not destination:
            _suppress(dispatch, "no_address", "没有可用的手机号")
            dispatch.queued_at = None
            return
    dispatch.outbox_message = outbox_enqueue(
        channel=dispatch.channel,
        destination=destination,
        payload=payload,
        dedupe_key=f"marketing:{dispatch.pk}",
    )
    dispatch.held_payload = {}
    dispatch.held_destination = ""
    dispatch.scheduled_for = None


def marketing_send(
    *,
    person_id: int,
    channel: str,
    payload: dict[str, Any],
    purpose: str,
    source: str,
    dedupe_key: str,
    destination: str = "",
    now: dt.datetime | None = None,
) -> MarketingDispatch:
    """Send one marketing message to a person, if the policy allows; return the decision.

    Runs in the caller's transaction: the decision, and the outbox row when the send is
    allowed now, commit with the caller's change or not at all. A send inside quiet hours is
    `held` and released by `marketing_held_release` when they end. A repeated `dedupe_key`
    (a journey step retried) returns the first decision and sends nothing more.

    `source` says who sent it ("journey:12:step:3", "mass:7"), for the person's timeline.
    Channel senders find the person through the outbox row's `marketing_dispatch`.
    """
    _channel_checked(channel)
    moment = now or clock.now()
    existing = MarketingDispatch.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    person = _person_to_message(person_id)
    with transaction.atomic():
        consent = consent_lock(person_id=person.pk, channel=channel)
        # Read again under the lock: the same step retried at once may have committed first.
        existing = MarketingDispatch.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
        dispatch = MarketingDispatch(
            person=person,
            channel=channel,
            message_class=MessageClass.MARKETING,
            purpose=purpose[:64],
            source=source[:128],
            dedupe_key=dedupe_key,
            created_at=moment,
        )
        _decide(dispatch, consent=consent, person=person, now=moment, released=False)
        if dispatch.status == DispatchStatus.HELD:
            dispatch.held_payload = payload
            dispatch.held_destination = destination
        try:
            with transaction.atomic():
                dispatch.save(force_insert=True)
        except IntegrityError:
            # The same key sent for another person or channel at this instant: first wins.
            return MarketingDispatch.objects.get(dedupe_key=dedupe_key)
        if dispatch.status == DispatchStatus.QUEUED:
            _enqueue(dispatch, person=person, payload=payload, destination=destination)
            dispatch.save()
        return dispatch


@dataclass(frozen=True)
class MarketingSend:
    """One message of a `marketing_send_many` batch (the arguments of `marketing_send`)."""

    person_id: int
    payload: dict[str, Any]
    purpose: str
    source: str
    dedupe_key: str
    destination: str = ""


def _window_counts(
    person_ids: list[int], channel: str, starts: set[dt.datetime]
) -> dict[dt.datetime, dict[int, int]]:
    """For each window start, how many counted sends each person has had since: one grouped
    query per window instead of one per person."""
    counts: dict[dt.datetime, dict[int, int]] = {}
    for since in starts:
        rows = (
            MarketingDispatch.objects.filter(
                person_id__in=person_ids,
                channel=channel,
                message_class=MessageClass.MARKETING,
                status__in=COUNTED_STATUSES,
                queued_at__gte=since,
            )
            .values("person_id")
            .annotate(n=models.Count("pk"))
            .values_list("person_id", "n")
        )
        counts[since] = dict(rows)
    return counts


def _outbox_key(dedupe_key: str) -> str:
    """The outbox row's key for a batch decision: its own dedupe key, hashed when too long."""
    key = f"marketing:{dedupe_key}"
    return (
        key if len(key) <= 128 else f"marketing#{hashlib.sha256(dedupe_key.encode()).hexdigest()}"
    )


def marketing_send_many(
    *, channel: str, sends: Sequence[MarketingSend], now: dt.datetime | None = None
) -> dict[str, MarketingDispatch]:
    """`marketing_send` for a batch (a journey step for many customers, a mass message), in
    the caller's transaction, with the same decisions: the reads are set-based (one dedupe
    read, one consent lock for all, one grouped count per cap window) and the writes bulk.
    Returns each send's decision by dedupe key. A merged person's send goes to the survivor.
    A person appearing twice in one batch is counted against the caps in batch order."""
    _channel_checked(channel)
    moment = now or clock.now()
    config = policy.policy_settings()
    with transaction.atomic():
        decided: dict[str, MarketingDispatch] = {
            d.dedupe_key: d
            for d in MarketingDispatch.objects.filter(dedupe_key__in=[s.dedupe_key for s in sends])
        }
        todo = [s for s in sends if s.dedupe_key not in decided]
        people = {p.pk: p for p in Person.objects.filter(pk__in={s.person_id for s in todo})}
        for send in todo:
            if send.person_id not in people or people[send.person_id].status == PersonStatus.MERGED:
                people[send.person_id] = _person_to_message(send.person_id)
        target = {send.dedupe_key: people[send.person_id] for send in todo}
        person_ids = sorted({person.pk for person in target.values()})
        consents = consents_lock(person_ids=person_ids, channel=channel)
        # Read again under the locks: a retried step may have committed meanwhile.
        decided.update(
            {d.dedupe_key: d for d in MarketingDispatch.objects.filter(dedupe_key__in=list(target))}
        )
        starts = {policy.calendar_days_start(moment, cap.days) for cap in config.caps}
        if channel == MarketingChannel.WECOM:
            starts.add(policy.wecom_mass_window(moment, config).starts_at)
        counts = _window_counts(person_ids, channel, starts)

        def counted(person_id: int, _channel: str, since: dt.datetime) -> int:
            return counts[since].get(person_id, 0)

        fresh: list[tuple[MarketingSend, MarketingDispatch]] = []
        for send in todo:
            if send.dedupe_key in decided:
                continue
            person = target[send.dedupe_key]
            dispatch = MarketingDispatch(
                person=person,
                channel=channel,
                message_class=MessageClass.MARKETING,
                purpose=send.purpose[:64],
                source=send.source[:128],
                dedupe_key=send.dedupe_key,
                created_at=moment,
            )
            _decide(
                dispatch,
                consent=consents[person.pk],
                person=person,
                now=moment,
                released=False,
                counted=counted,
            )
            if dispatch.status == DispatchStatus.HELD:
                dispatch.held_payload = send.payload
                dispatch.held_destination = send.destination
            if dispatch.status == DispatchStatus.QUEUED:
                for window in counts.values():
                    window[person.pk] = window.get(person.pk, 0) + 1
            decided[send.dedupe_key] = dispatch
            fresh.append((send, dispatch))
        queued = [
            (send, dispatch) for send, dispatch in fresh if dispatch.status == DispatchStatus.QUEUED
        ]
        if channel != MarketingChannel.SMS and queued:
            # The outbox rows first, so the decisions are inserted already linked to them
            # (their key derives from the decision's own unique dedupe key).
            messages = outbox_enqueue_many(
                rows=[
                    (channel, send.destination, send.payload, _outbox_key(send.dedupe_key))
                    for send, _ in queued
                ]
            )
            for (_, dispatch), message in zip(queued, messages, strict=True):
                dispatch.outbox_message = message
        MarketingDispatch.objects.bulk_create([dispatch for _, dispatch in fresh], batch_size=1000)
        if channel == MarketingChannel.SMS:
            for send, dispatch in queued:  # a text's number is read per person (rare path)
                _enqueue(
                    dispatch,
                    person=target[send.dedupe_key],
                    payload=send.payload,
                    destination=send.destination,
                )
                dispatch.save()
        return decided


@dataclass(frozen=True)
class ReleaseOutcome:
    due: int
    queued: int
    suppressed: int
    held_again: int


def marketing_held_release(
    *, now: dt.datetime | None = None, batch_size: int = 500
) -> ReleaseOutcome:
    """Pass the held sends whose quiet hours are over through the policy again.

    Each in its own transaction under the person's consent row: a release is a new decision,
    so an opt-out since, or a cap filled since (another send that morning), still stops it.
    Safe to run twice at once: a send no longer held when its lock is taken is skipped."""
    moment = now or clock.now()
    due = list(
        MarketingDispatch.objects.filter(status=DispatchStatus.HELD, scheduled_for__lte=moment)
        .order_by("scheduled_for", "pk")
        .values_list("pk", "person_id", "channel")[:batch_size]
    )
    counts = {DispatchStatus.QUEUED: 0, DispatchStatus.SUPPRESSED: 0, DispatchStatus.HELD: 0}
    for dispatch_id, person_id, channel in due:
        with transaction.atomic():
            consent = consent_lock(person_id=person_id, channel=channel)
            dispatch = MarketingDispatch.objects.filter(
                pk=dispatch_id, status=DispatchStatus.HELD, person_id=person_id
            ).first()
            if dispatch is None:
                continue  # released by another run, or moved by a merge (the next run has it)
            payload, destination = dispatch.held_payload, dispatch.held_destination
            person = Person.objects.get(pk=person_id)
            _decide(dispatch, consent=consent, person=person, now=moment, released=True)
            if dispatch.status == DispatchStatus.QUEUED:
                _enqueue(dispatch, person=person, payload=payload, destination=destination)
            dispatch.save()
            counts[DispatchStatus(dispatch.status)] += 1
    return ReleaseOutcome(
        due=len(due),
        queued=counts[DispatchStatus.QUEUED],
        suppressed=counts[DispatchStatus.SUPPRESSED],
        held_again=counts[DispatchStatus.HELD],
    )


def marketing_delivery_record(*, outbox_message_id: int) -> int:
    """The provider took a policy-recorded message: `sent`, or `pending_confirmation` on a
    channel a staff member must confirm. Called by the channel sender after its provider
    answered (`PolicyRecordingSender`); repeating it after a resend changes nothing."""
    message = OutboxMessage.objects.filter(pk=outbox_message_id).only("channel").first()
    if message is None:
        return 0
    if message.channel in CONFIRMED_BY_STAFF:
        return MarketingDispatch.objects.filter(
            outbox_message_id=outbox_message_id, status=DispatchStatus.QUEUED
        ).update(status=DispatchStatus.PENDING_CONFIRMATION)
    return MarketingDispatch.objects.filter(
        outbox_message_id=outbox_message_id, status=DispatchStatus.QUEUED
    ).update(status=DispatchStatus.SENT, sent_at=clock.now())


def marketing_confirmation_record(
    *, outbox_message_id: int, sent: bool, sent_at: dt.datetime | None = None, reason: str = ""
) -> int:
    """What the staff member did with a confirmation-needing send (WeCom's send result):
    sent → `sent`; not sent (declined, not a contact any more, WeCom's own limit) → `failed`
    with the reason, and it stops counting against the caps. Idempotent."""
    waiting = MarketingDispatch.objects.filter(
        outbox_message_id=outbox_message_id,
        status__in=[DispatchStatus.QUEUED, DispatchStatus.PENDING_CONFIRMATION],
    )
    if sent:
        return waiting.update(status=DispatchStatus.SENT, sent_at=sent_at or clock.now())
    return waiting.update(
        status=DispatchStatus.FAILED,
        reason_code="not_sent",
        reason=(reason or "员工未确认发送")[:128],
    )


class PolicyRecordingSender:
    """Wraps a channel's sender so that a message the policy recorded is marked sent (or
    pending confirmation) once the provider took it. Messages without a decision (login
    codes through `sms_send`) pass through untouched."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.channel = getattr(inner, "channel", "")

    def send(self, message: OutboxMessage) -> str:
        _quiet_hours_honoured(message)
        provider_id: str = self.inner.send(message)
        marketing_delivery_record(outbox_message_id=message.pk)
        return provider_id


def _quiet_hours_honoured(message: OutboxMessage) -> None:
    """The decision was taken when the message was queued; if its delivery is late enough to
    fall into quiet hours (a worker down overnight, a long retry), it waits for the morning
    rather than waking the customer. Transactional messages are never held."""
    release_at = policy.quiet_hours_end(clock.now(), policy.policy_settings())
    if release_at is None:
        return
    if MarketingDispatch.objects.filter(
        outbox_message_id=message.pk, message_class=MessageClass.MARKETING
    ).exists():
        raise DeliveryDeferred(policy.held_reason(release_at), until=release_at)


# --- consent -----------------------------------------------------------------------------


def _consent_change(
    *, actor: Actor, person_id: int, channel: str, source: str, opted_out: bool
) -> MarketingConsent:
    _channel_checked(channel)
    if source not in ConsentSource.values:
        raise ConsentSourceUnknown(detail={"source": source})
    person = _person_to_message(person_id)
    with transaction.atomic():
        consent = consent_lock(person_id=person.pk, channel=channel)
        before = {"opted_out": consent.opted_out, "source": consent.source}
        if consent.opted_out == opted_out and consent.changed_at is not None:
            return consent  # nothing changes; no audit row for a repeated tap
        consent.opted_out = opted_out
        consent.source = source
        consent.changed_at = clock.now()
        consent.save(update_fields=["opted_out", "source", "changed_at"])
        audit_record(
            actor=actor,
            action="messaging.opt_out" if opted_out else "messaging.opt_in",
            target=consent,
            before=before,
            after={"opted_out": opted_out, "source": source, "channel": channel},
        )
        return consent


def marketing_opt_out(
    *, actor: Actor, person_id: int, channel: str, source: str
) -> MarketingConsent:
    """Stop marketing messages to a person on one channel (their own 退订, staff, an import).
    Honoured by every later decision, held sends' releases included; audited."""
    return _consent_change(
        actor=actor, person_id=person_id, channel=channel, source=source, opted_out=True
    )


def marketing_opt_in(
    *, actor: Actor, person_id: int, channel: str, source: str
) -> MarketingConsent:
    """Allow marketing messages on a channel again (the person subscribed back); audited."""
    return _consent_change(
        actor=actor, person_id=person_id, channel=channel, source=source, opted_out=False
    )
