"""Reads of mass messages (企业群发): the audience, the preview count, the results.

- **Preview**: how many of the audience would receive the message at its time — a dry run of
  the marketing policy (`messaging.selectors.marketing_preview`, the policy's own rules) for
  those who are active WeCom contacts, with the breakdown by reason.
- **Results**: each recipient's decision (`MarketingDispatch`, source "mass:<id>"): sent and
  confirmed, waiting for the staff member, held by quiet hours, suppressed (by reason), not
  sent (WeCom's send result); clicks on the tracked product link; orders attributed.
- **Attribution**: paid orders whose `source_ref` is the tracking code `bc-<id>` and that were
  paid within 7 days of the send, by anyone (a forwarded link counts too), with their GMV net
  of refunds. WeCom gives no read receipts for customer mass messages: a click on the link is
  the only sign of reading.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, F, Sum

from freshloop.core import clock
from freshloop.datahub.models import Segment
from freshloop.datahub.segments.errors import SegmentNotFound
from freshloop.datahub.segments.selectors import segment_get, segment_list, segment_member_ids
from freshloop.messaging.selectors import (
    marketing_outcomes,
    marketing_preview,
    marketing_quiet_release,
)
from freshloop.messaging.services import WECOM_CHANNEL
from freshloop.orders.models import BOUGHT_STATUSES, Order
from freshloop.scrm.contacts import contacts_for_people
from freshloop.scrm.errors import BroadcastInvalid, BroadcastNotFound, MomentNotFound
from freshloop.scrm.models import (
    Broadcast,
    BroadcastClick,
    BroadcastStatus,
    ContactStatus,
    MomentTask,
    WecomContact,
)

ATTRIBUTION_DAYS = 7
TRACKING_PREFIX = "bc-"

# Why a customer of the audience does not get the message (the policy's reason codes, and
# the two this module adds: not a WeCom contact, not sent by the staff member / WeCom).
REASON_LABELS = {
    "no_contact": "不是企业微信好友",
    "opted_out": "已退订企业微信消息",
    "frequency_cap": "超过频次上限",
    "wecom_limit": "超过企业微信群发上限",
    "person_erased": "用户已注销",
    "not_sent": "员工未发送或企业微信未送达",
}


def source_of(broadcast_id: int) -> str:
    """The marketing source of a mass message's sends ("mass:7", "群发 7" on timelines)."""
    return f"mass:{broadcast_id}"


def broadcast_get(*, broadcast_id: int) -> Broadcast:
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        raise BroadcastNotFound(detail={"broadcast_id": broadcast_id})
    return broadcast


def broadcast_list(*, limit: int = 100) -> list[Broadcast]:
    return list(Broadcast.objects.order_by("-id")[:limit])


def moment_get(*, moment_id: int) -> MomentTask:
    moment = MomentTask.objects.filter(pk=moment_id).first()
    if moment is None:
        raise MomentNotFound(detail={"moment_id": moment_id})
    return moment


def moment_list(*, limit: int = 50) -> list[MomentTask]:
    return list(MomentTask.objects.order_by("-id")[:limit])


CHUNK = 5000  # ids per query: a segment of 100,000 is read in pieces (SQLite's variable limit)


def audience_contacts(person_ids: list[int]) -> dict[int, WecomContact]:
    """The active WeCom contact of each person who has one, read in chunks."""
    found: dict[int, WecomContact] = {}
    for start in range(0, len(person_ids), CHUNK):
        found.update(contacts_for_people(person_ids=person_ids[start : start + CHUNK]))
    return found


def audience_person_ids(*, segment_id: int | None) -> list[int]:
    """The audience: the segment's members as last computed, or every person with an active
    WeCom contact. An unknown segment (deleted since) has no one."""
    if segment_id is None:
        return sorted(
            set(
                WecomContact.objects.filter(status=ContactStatus.ACTIVE).values_list(
                    "person_id", flat=True
                )
            )
        )
    try:
        segment = segment_get(segment_id=segment_id)
    except SegmentNotFound:
        return []
    return segment_member_ids(segment=segment)


@dataclass(frozen=True)
class Reason:
    code: str
    label: str
    count: int


@dataclass(frozen=True)
class Preview:
    audience: int  # people in the segment (or WeCom contacts)
    receive: int  # would get it: at once or after quiet hours
    now: int  # of which at once
    held: int  # of which held by quiet hours, sent when they end
    release_at: dt.datetime | None  # when quiet hours end, if the time falls in them
    reasons: list[Reason] = field(default_factory=list)  # who would not, and why


def _reasons(counts: dict[str, int]) -> list[Reason]:
    return [
        Reason(code, REASON_LABELS.get(code, code), counts[code])
        for code in REASON_LABELS
        if counts.get(code)
    ] + [Reason(code, code, n) for code, n in counts.items() if code not in REASON_LABELS and n]


def broadcast_preview(*, segment_id: int | None, at: dt.datetime | None = None) -> Preview:
    """How many of the audience a mass message at `at` (default now) would reach after the
    WeCom contact check and the marketing policy (consent, caps, quiet hours, WeCom's own
    limit), with who would not and why. Read-only; nothing is reserved. An unknown segment
    (or a time without its zone) is BroadcastInvalid (422, naming the field)."""
    moment = at or clock.now()
    problems = []
    if segment_id is not None and not Segment.objects.filter(pk=segment_id).exists():
        problems.append(("segment_id", "人群不存在"))
    if moment.tzinfo is None:
        problems.append(("scheduled_at", "发送时间需要带时区"))
    if problems:
        raise BroadcastInvalid.for_fields(problems)
    people = audience_person_ids(segment_id=segment_id)
    contacts = audience_contacts(people)
    reachable = [person_id for person_id in people if person_id in contacts]
    counts: dict[str, int] = {"no_contact": len(people) - len(reachable)}
    # Each person is in the audience once, so the chunks decide independently.
    for start in range(0, len(reachable), CHUNK):
        decided = marketing_preview(
            person_ids=reachable[start : start + CHUNK], channel=WECOM_CHANNEL, at=moment
        )
        for outcome in decided.values():
            counts[outcome] = counts.get(outcome, 0) + 1
    now_count = counts.pop("allowed", 0)
    held = counts.pop("quiet_hours", 0)
    return Preview(
        audience=len(people),
        receive=now_count + held,
        now=now_count,
        held=held,
        release_at=marketing_quiet_release(at=moment),
        reasons=_reasons(counts),
    )


@dataclass(frozen=True)
class Results:
    audience: int
    recipients: int  # active WeCom contacts the policy decided for
    confirmed: int  # sent: confirmed by the staff member (WeCom's send result)
    pending: int  # queued or waiting for the staff member to confirm
    held: int  # held by quiet hours, not yet released
    not_received: int  # suppressed, not a contact, not sent
    reasons: list[Reason]
    clicks: int  # visitors who opened the tracked product link
    orders: int  # paid orders with the tracking code within 7 days
    gmv_fen: int  # their amount paid minus refunds
    window_ends: dt.datetime | None


def attributed_orders(*, broadcast: Broadcast) -> tuple[int, int]:
    """(orders, GMV in fen net of refunds): paid orders carrying the tracking code, paid
    within `ATTRIBUTION_DAYS` of the send. Nothing before it was sent."""
    if broadcast.started_at is None:
        return 0, 0
    ends = broadcast.started_at + dt.timedelta(days=ATTRIBUTION_DAYS)
    row = Order.objects.filter(
        source_ref=broadcast.tracking_code,
        status__in=BOUGHT_STATUSES,
        paid_at__gte=broadcast.started_at,
        paid_at__lt=ends,
    ).aggregate(n=Count("pk"), fen=Sum(F("paid_fen") - F("refunded_fen")))
    return int(row["n"] or 0), int(row["fen"] or 0)


def broadcast_results(*, broadcast: Broadcast) -> Results:
    """What became of a mass message (zeros until it is sent)."""
    outcomes = marketing_outcomes(source=source_of(broadcast.pk))
    by_status: dict[str, int] = {}
    counts: dict[str, int] = {"no_contact": broadcast.no_contact}
    for (status, reason), n in outcomes.items():
        by_status[status] = by_status.get(status, 0) + n
        if status in ("suppressed", "failed"):
            counts[reason] = counts.get(reason, 0) + n
    reasons = _reasons(counts)
    orders, gmv = attributed_orders(broadcast=broadcast)
    started = broadcast.started_at
    return Results(
        audience=broadcast.audience_size,
        recipients=sum(outcomes.values()),
        confirmed=by_status.get("sent", 0),
        pending=by_status.get("queued", 0) + by_status.get("pending_confirmation", 0),
        held=by_status.get("held", 0),
        not_received=sum(reason.count for reason in reasons),
        reasons=reasons,
        clicks=BroadcastClick.objects.filter(broadcast=broadcast).count(),
        orders=orders,
        gmv_fen=gmv,
        window_ends=started + dt.timedelta(days=ATTRIBUTION_DAYS) if started else None,
    )


def broadcasts_with_results(*, limit: int = 100) -> list[tuple[Broadcast, Results | None]]:
    """The console list: each mass message with its results once it started sending."""
    return [
        (
            broadcast,
            broadcast_results(broadcast=broadcast)
            if broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.SENT)
            else None,
        )
        for broadcast in broadcast_list(limit=limit)
    ]


def audiences() -> list[Segment]:
    """The data hub's saved segments a mass message may go to, the most recently changed
    first."""
    return segment_list()
