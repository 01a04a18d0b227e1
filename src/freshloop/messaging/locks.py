"""Row locks of the messaging module, always taken in this order:

1. one person's consent row on one channel (`consent_lock`), the lock every marketing send,
   release and consent change for that person and channel takes. A caller sending to many
   people in one transaction sends in (person id, channel) order, so two such callers never
   wait on each other in a circle.

Messaging takes its locks after whatever the caller holds (an order, a journey step): the
caller's rows come first, the person's consent row last.
"""

from __future__ import annotations

from freshloop.messaging.models import MarketingConsent


def consent_lock(*, person_id: int, channel: str) -> MarketingConsent:
    """The person's consent row on the channel, created when missing, locked until commit.

    Two first sends racing both try to create it: the unique constraint makes the second wait
    for the first's commit and then read its row (get_or_create retries the read)."""
    row, _ = MarketingConsent.objects.get_or_create(person_id=person_id, channel=channel)
    return MarketingConsent.objects.select_for_update().get(pk=row.pk)


def consents_lock(*, person_ids: list[int], channel: str) -> dict[int, MarketingConsent]:
    """`consent_lock` for many people at once (a journey batch, a mass message): missing rows
    created, then every row locked in person-id order — the order a single send takes too."""
    ordered = sorted(set(person_ids))
    MarketingConsent.objects.bulk_create(
        [MarketingConsent(person_id=person_id, channel=channel) for person_id in ordered],
        batch_size=2000,
        ignore_conflicts=True,
    )
    rows = (
        MarketingConsent.objects.select_for_update()
        .filter(person_id__in=ordered, channel=channel)
        .order_by("person_id")
    )
    return {row.person_id: row for row in rows}
