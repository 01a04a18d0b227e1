"""A dry run of the outbound message policy: what `marketing_send_many` would decide for each
person of an audience at a given moment, without writing or locking anything.

It runs the policy's own `_decide` on unsaved decisions — the same rules in the same order
(erased → consent → quiet hours → caps → WeCom's limit) — with the counts read in one grouped
query per window, exactly as a batch send reads them. A send the quiet hours would hold is
decided again as of the moment they end, because that is when it would be counted against
the caps. Nothing is reserved: a send racing the preview can still take a place under a cap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from freshloop.core import clock
from freshloop.identity.models import Person, PersonStatus
from freshloop.messaging import policy
from freshloop.messaging.marketing import (
    _channel_checked,
    _decide,
    _person_to_message,
    _window_counts,
)
from freshloop.messaging.models import (
    DispatchStatus,
    MarketingChannel,
    MarketingConsent,
    MarketingDispatch,
    MessageClass,
)

# What a previewed send comes to: "allowed" (sent at once), "quiet_hours" (held, sent when
# they end), or the reason code the policy would suppress it with.
ALLOWED = "allowed"


def _starts(moment: dt.datetime, channel: str) -> set[dt.datetime]:
    config = policy.policy_settings()
    starts = {policy.calendar_days_start(moment, cap.days) for cap in config.caps}
    if channel == MarketingChannel.WECOM:
        starts.add(policy.wecom_mass_window(moment, config).starts_at)
    return starts


def marketing_preview(
    *, person_ids: Sequence[int], channel: str, at: dt.datetime | None = None
) -> dict[int, str]:
    """For each person (as given, before merges are followed), what a marketing send on
    `channel` at `at` (default now) would come to: `allowed`, `quiet_hours` (held, then
    allowed when they end) or the suppression's reason code (`opted_out`, `frequency_cap`,
    `wecom_limit`, `person_erased`). A person appearing twice, or two merged into one, is
    counted against the caps once per send, in the order given. Read-only."""
    _channel_checked(channel)
    moment = at or clock.now()
    people = {p.pk: p for p in Person.objects.filter(pk__in=set(person_ids))}
    target: dict[int, Person] = {}
    for person_id in person_ids:
        person = people.get(person_id)
        if person is None or person.status == PersonStatus.MERGED:
            person = _person_to_message(person_id)
        target[person_id] = person
    survivors = sorted({person.pk for person in target.values()})
    consents = {
        row.person_id: row
        for row in MarketingConsent.objects.filter(person_id__in=survivors, channel=channel)
    }
    release = policy.quiet_hours_end(moment, policy.policy_settings())
    decide_at = release or moment
    counts = _window_counts(survivors, channel, _starts(decide_at, channel))

    def counted(person_id: int, _channel: str, since: dt.datetime) -> int:
        return counts[since].get(person_id, 0)

    outcome: dict[int, str] = {}
    for person_id in person_ids:
        person = target[person_id]
        consent = consents.get(person.pk) or MarketingConsent(person=person, channel=channel)
        dispatch = MarketingDispatch(
            person=person, channel=channel, message_class=MessageClass.MARKETING
        )
        _decide(
            dispatch,
            consent=consent,
            person=person,
            now=decide_at,
            released=release is not None,
            counted=counted,
        )
        if dispatch.status == DispatchStatus.QUEUED:
            for window in counts.values():
                window[person.pk] = window.get(person.pk, 0) + 1
            outcome[person_id] = "quiet_hours" if release is not None else ALLOWED
        else:
            outcome[person_id] = dispatch.reason_code
    return outcome
