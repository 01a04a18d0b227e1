"""智能发送 (SC-3): a mass message sent to each customer at the day and hour the WeCom message
budget plan gives them, instead of to everyone at its scheduled time.

WeCom lets a customer receive only so many mass messages (the marketing policy's caps, WeCom's
own 企业群发 limit) and a 跟进人 can send only so many a day. Planning spends that scarce budget
on the customers and hours with the highest predicted response:

- **What is planned**: the scheduled smart-send mass messages of the coming 7 days
  (`smart_send_broadcasts`), together, over 7 whole Asia/Shanghai days from the first day
  still wholly ahead (`intelligence.services.first_whole_day`). A message may go on the
  `smart_days` whole days from its scheduled time (one whose days reach past the week waits
  for a later planning, at the latest its own send); its audience is its segment's members who
  are active WeCom contacts, each sent by their 跟进人; a response is worth
  `smart_value_fen` (or, when 0, the product's price, else the average paid order of the
  last 90 days, else ¥1 so that responses still rank).
- **How**: `intelligence.services.budget_run` — Lagrangian relaxation of the staff limits,
  greedy repair, a dual upper bound, and the "everyone at 10:00" baseline beside it, under the
  per-customer caps and quiet hours of the marketing policy's configuration. Each 跟进人 sends
  at most `STAFF_DAILY_LIMIT` a day (scrm has no such setting; see below), less what other
  smart-send messages (already sending, or not in this planning) have planned for that day.
- **Kept as**: one `SmartSendSlot` per (message, recipient): planned (day and hour, expected
  value, the explanation in Chinese) or dropped with its reason (customer cap, staff limit,
  no value) — dropped recipients are not sent. One `SmartSendRun` per planning holds the
  plan-vs-baseline numbers. Planning again replaces the slots of messages not yet sending:
  the same data gives the same slots.
- **Sent**: `broadcast_send` hands a smart-send message here. At its scheduled time it is
  claimed (planned first if nobody did), and from then on every run — the minute job
  `scrm.broadcasts_due` picks it up whenever one of its slots is due — passes the due slots
  to the marketing policy, with the same dedupe key as a plain send (`mass:<id>:<person>`), so
  each recipient is decided once, at their planned hour. It is sent when no slot is left.

The policy still decides every send when it goes out: consent, the caps counted over the
messages really sent (including other journeys' and mass messages' sends the plan did not
know about) and quiet hours.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count

from freshloop.catalog.selectors import product_get_for_channel
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.identity.models import Person
from freshloop.intelligence.budgeting.services import (
    BudgetCampaign,
    BudgetRun,
    budget_run,
    first_whole_day,
)
from freshloop.messaging.services import WECOM_CHANNEL, MarketingSend, marketing_send_many
from freshloop.orders.models import BOUGHT_STATUSES, Order
from freshloop.scrm.broadcast_results import (
    audience_contacts,
    audience_person_ids,
    source_of,
)
from freshloop.scrm.broadcasts import (
    SEND_BATCH,
    SHOP_CHANNEL,
    SendOutcome,
    _payload_for,
)
from freshloop.scrm.errors import BroadcastNotEditable, SmartSendInvalid
from freshloop.scrm.locks import broadcast_lock, broadcasts_lock, smart_slots_claim
from freshloop.scrm.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    SmartDropReason,
    SmartSendRun,
    SmartSendSlot,
    SmartSlotStatus,
    WecomContact,
)

# scrm has no setting for how much one 跟进人 sends a day, so this is the default: at a
# typical ~10 % response, 1,000 messages are ~100 conversations to answer — a staff member's
# full day beside their other work.
STAFF_DAILY_LIMIT = 1_000
HORIZON_DAYS = 7
MAX_SMART_DAYS = 7
MAX_VALUE_FEN = 10_000_000  # ¥100,000 a response: anything above is a typing slip
VALUE_LOOKBACK_DAYS = 90
NOMINAL_VALUE_FEN = 100
SMART_EDITABLE = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED)
WRITE_BATCH = 1000
MAX_ONE_ID_CHARS = 40  # Person.one_id's length
MAX_MERGE_HOPS = 10


# --- settings ---------------------------------------------------------------------------------


def broadcast_smart_set(
    *, broadcast: Broadcast, enabled: bool, days: int, value_fen: int, actor: Actor
) -> Broadcast:
    """Mark a draft or scheduled mass message as 智能发送 (or back to everyone at its time),
    with its period in whole days and the value of a response (0: derived). Its current plan,
    if any, no longer holds and goes. A message already sending, sent or cancelled is 409."""
    problems = []
    if isinstance(days, bool) or not 1 <= days <= MAX_SMART_DAYS:
        problems.append(("smart_days", f"智能发送周期为 1 到 {MAX_SMART_DAYS} 天"))
    if isinstance(value_fen, bool) or not 0 <= value_fen <= MAX_VALUE_FEN:
        problems.append(("smart_value_fen", "每次响应价值为 0 到 100000 元（0 表示自动估算）"))
    if problems:
        raise SmartSendInvalid.for_fields(problems)
    with transaction.atomic():
        locked = broadcast_lock(broadcast_id=broadcast.pk)
        if locked.status not in SMART_EDITABLE:
            raise BroadcastNotEditable(detail={"status": locked.status})
        before = {
            "smart_send": locked.smart_send,
            "smart_days": locked.smart_days,
            "smart_value_fen": locked.smart_value_fen,
        }
        SmartSendSlot.objects.filter(broadcast=locked).delete()
        locked.smart_send = enabled
        locked.smart_days = days
        locked.smart_value_fen = value_fen
        locked.smart_planned_at = None
        locked.updated_at = clock.now()
        locked.save(
            update_fields=[
                "smart_send",
                "smart_days",
                "smart_value_fen",
                "smart_planned_at",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action="scrm.broadcast_smart_set",
            target=locked,
            before=before,
            after={"smart_send": enabled, "smart_days": days, "smart_value_fen": value_fen},
        )
    return locked


def smart_send_broadcasts(*, now: dt.datetime) -> list[Broadcast]:
    """The scheduled smart-send mass messages of the coming 7 days (what a planning covers)."""
    return list(
        Broadcast.objects.filter(
            smart_send=True,
            status=BroadcastStatus.SCHEDULED,
            scheduled_at__lt=now + dt.timedelta(days=HORIZON_DAYS),
        ).order_by("scheduled_at", "pk")
    )


def smart_value_fen(broadcast: Broadcast, *, now: dt.datetime) -> int:
    """What one response to the message is worth (fen): the operator's number, else the
    product's lowest price, else the average paid order of the last 90 days, else ¥1."""
    if broadcast.smart_value_fen:
        return int(broadcast.smart_value_fen)
    if broadcast.kind == BroadcastKind.PRODUCT and broadcast.product_id is not None:
        try:
            product = product_get_for_channel(product_id=broadcast.product_id, channel=SHOP_CHANNEL)
        except DomainError:
            product = None  # taken off the shop since: valued like any other message
        if product is not None:
            prices = [sku.price_fen for sku in product.skus.all()]
            if prices:
                return int(min(prices))
    average = Order.objects.filter(
        status__in=BOUGHT_STATUSES, paid_at__gte=now - dt.timedelta(days=VALUE_LOOKBACK_DAYS)
    ).aggregate(fen=Avg("paid_fen"))["fen"]
    return round(average) if average else NOMINAL_VALUE_FEN


# --- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmartPlanOutcome:
    run: SmartSendRun | None  # None: nothing to plan
    planned: list[int]  # the mass messages planned
    # Not planned this time: their days reach beyond the week, or they changed meanwhile (or
    # are no longer smart / scheduled); a later planning, at the latest their send, takes them.
    skipped: list[int]
    slots: int  # recipients with a day and hour
    dropped: int  # recipients left out by the caps


@dataclass
class _Planned:
    """A message's part of the plan before it is written."""

    audience: int
    contacts: int
    slots: list[SmartSendSlot]


def _staff_days_taken(
    *, exclude: list[int], start: dt.date, days: int
) -> dict[tuple[str, int], int]:
    """Sends other smart-send messages (already sending, or not in this planning) have
    planned per 跟进人 and day of the period."""
    begins = dt.datetime.combine(start, dt.time(0), tzinfo=clock.SHANGHAI)
    taken: dict[tuple[str, int], int] = defaultdict(int)
    rows = (
        SmartSendSlot.objects.filter(
            status=SmartSlotStatus.PLANNED,
            send_at__gte=begins,
            send_at__lt=begins + dt.timedelta(days=days),
        )
        .exclude(broadcast_id__in=exclude)
        .values_list("staff", "send_at")
    )
    for staff, send_at in rows:
        if send_at is None:
            continue  # the filter on send_at keeps these out; the column allows NULL
        day = (clock.to_shanghai(send_at).date() - start).days
        taken[(staff, day)] += 1
    return dict(taken)


def _slots_of(
    run: BudgetRun, broadcasts: list[Broadcast], moment: dt.datetime
) -> list[list[SmartSendSlot]]:
    """Each message's slot rows (unsaved), in the order of `broadcasts` = the campaigns."""
    plan = run.plan
    row_of = {
        (int(c), int(k)): i
        for i, (c, k) in enumerate(zip(plan.customer, plan.campaign, strict=True))
    }
    per_campaign: list[list[SmartSendSlot]] = [[] for _ in broadcasts]
    for customer, lines, reasons in run.explanations():
        person_id = int(run.person_ids[customer])
        staff = run.staff_ids[int(run.problem.staff[customer])]
        context = run.context(customer)
        for k, line in lines.items():
            slot = SmartSendSlot(
                broadcast=broadcasts[k],
                person_id=person_id,
                staff=staff,
                explanation="\n".join([*context, line]),
                planned_at=moment,
            )
            i = row_of.get((customer, k))
            if i is None:
                slot.status = SmartSlotStatus.DROPPED
                slot.drop_reason = SmartDropReason(reasons[k]).value
            else:
                slot.status = SmartSlotStatus.PLANNED
                slot.send_at = run.send_at(int(plan.day[i]), int(plan.hour[i]))
                slot.expected_value_fen = float(plan.expected_value_fen[i])
                slot.expected_responses = float(plan.expected_responses[i])
            per_campaign[k].append(slot)
    return per_campaign


def smart_send_plan(
    *,
    broadcasts: Sequence[Broadcast],
    now: dt.datetime,
    actor: Actor,
    staff_daily_limit: int = STAFF_DAILY_LIMIT,
    store: EventStore | None = None,
) -> SmartPlanOutcome:
    """Plan the given smart-send mass messages together (the console passes
    `smart_send_broadcasts(now=…)`; a send plans its own message when nobody did).

    Reading and optimising happen outside any transaction; then, in one transaction with the
    messages locked, the slots of each message still scheduled and unchanged since it was
    read replace its old ones, and the planning is recorded and audited. A message changed
    meanwhile is skipped (its next send plans it again)."""
    ids = sorted({broadcast.pk for broadcast in broadcasts})
    candidates = list(
        Broadcast.objects.filter(
            pk__in=ids, smart_send=True, status=BroadcastStatus.SCHEDULED
        ).order_by("scheduled_at", "pk")
    )
    start = first_whole_day(now)
    campaigns: list[BudgetCampaign] = []
    chosen: list[Broadcast] = []
    audiences: dict[int, _Planned] = {}
    staff_of_person: dict[int, str] = {}
    # Several messages often share a segment: its members and contacts are read once.
    audience_of_segment: dict[int | None, tuple[list[int], dict[int, WecomContact]]] = {}
    for broadcast in candidates:
        first = (first_whole_day(max(broadcast.scheduled_at, now)) - start).days
        last = first + broadcast.smart_days - 1
        if last >= HORIZON_DAYS:
            # Its days do not all fit in this week: cut short here it would keep the short
            # plan, so a later planning (at the latest its own send) takes it whole.
            continue
        if broadcast.segment_id not in audience_of_segment:
            members = audience_person_ids(segment_id=broadcast.segment_id)
            audience_of_segment[broadcast.segment_id] = (members, audience_contacts(members))
        people, contacts = audience_of_segment[broadcast.segment_id]
        recipients = [person_id for person_id in people if person_id in contacts]
        for person_id in recipients:
            staff_of_person[person_id] = contacts[person_id].follow_userid
        campaigns.append(
            BudgetCampaign(
                name=broadcast.title,
                person_ids=recipients,
                value_per_response_fen=smart_value_fen(broadcast, now=now),
                first_day=first,
                last_day=last,
            )
        )
        chosen.append(broadcast)
        audiences[broadcast.pk] = _Planned(len(people), len(recipients), [])
    if not chosen:
        return SmartPlanOutcome(None, [], ids, 0, 0)

    run = budget_run(
        campaigns=campaigns,
        staff_of_person=staff_of_person,
        staff_daily_limit=staff_daily_limit,
        start=start,
        days=HORIZON_DAYS,
        staff_day_used=_staff_days_taken(
            exclude=[b.pk for b in chosen], start=start, days=HORIZON_DAYS
        ),
        store=store,
    )
    moment = clock.now()
    for broadcast, slots in zip(chosen, _slots_of(run, chosen, moment), strict=True):
        audiences[broadcast.pk].slots = slots

    with transaction.atomic():
        locked = {b.pk: b for b in broadcasts_lock(broadcast_ids=[b.pk for b in chosen])}
        planned: list[int] = []
        for broadcast in chosen:
            current = locked.get(broadcast.pk)
            if (
                current is None
                or not current.smart_send
                or current.status != BroadcastStatus.SCHEDULED
                or current.updated_at != broadcast.updated_at
            ):
                continue
            part = audiences[broadcast.pk]
            SmartSendSlot.objects.filter(broadcast=current).delete()
            SmartSendSlot.objects.bulk_create(part.slots, batch_size=WRITE_BATCH)
            current.smart_planned_at = moment
            current.audience_size = part.audience
            current.no_contact = part.audience - part.contacts
            current.save(update_fields=["smart_planned_at", "audience_size", "no_contact"])
            planned.append(current.pk)
        summary = run.summary()
        record = SmartSendRun.objects.create(
            planned_at=moment,
            planned_by=actor.label[:64],
            period_start=start,
            days=HORIZON_DAYS,
            broadcast_ids=planned,
            summary=summary,
        )
        scheduled = sum(
            1
            for pk in planned
            for slot in audiences[pk].slots
            if slot.status == SmartSlotStatus.PLANNED
        )
        dropped = sum(len(audiences[pk].slots) for pk in planned) - scheduled
        audit_record(
            actor=actor,
            action="scrm.smart_send_plan",
            target=record,
            after={
                "broadcasts": planned,
                "period_start": start.isoformat(),
                "slots": scheduled,
                "dropped": dropped,
                "expected_value_fen": summary["plan"]["value_fen"],
                "baseline_value_fen": summary["baseline"]["value_fen"],
                "staff_daily_limit": staff_daily_limit,
            },
        )
    skipped = [pk for pk in ids if pk not in planned]
    return SmartPlanOutcome(record, planned, skipped, scheduled, dropped)


# --- sending ----------------------------------------------------------------------------------


def _slots_send(broadcast: Broadcast, moment: dt.datetime) -> int:
    """Hand the message's slots due by `moment` to the marketing policy, a batch per
    transaction; a recipient no longer a WeCom contact is dropped with that reason."""
    source = source_of(broadcast.pk)
    payloads: dict[str, dict[str, Any]] = {}
    sent = 0
    while True:
        due = list(
            SmartSendSlot.objects.filter(
                broadcast=broadcast, status=SmartSlotStatus.PLANNED, send_at__lte=moment
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:SEND_BATCH]
        )
        if not due:
            return sent
        with transaction.atomic():
            claimed = smart_slots_claim(ids=due)
            if not claimed:
                return sent  # the rest is being sent by another run
            slots = list(SmartSendSlot.objects.filter(pk__in=claimed).order_by("pk"))
            contacts = audience_contacts([slot.person_id for slot in slots])
            sends, handed, gone = [], [], []
            for slot in slots:
                contact = contacts.get(slot.person_id)
                if contact is None:
                    gone.append(slot.pk)
                    continue
                sends.append(
                    MarketingSend(
                        person_id=slot.person_id,
                        payload=_payload_for(payloads, broadcast, contact.follow_userid),
                        purpose="mass_message",
                        source=source,
                        dedupe_key=f"{source}:{slot.person_id}",
                        destination=contact.external_userid,
                    )
                )
                handed.append(slot.pk)
            if sends:
                marketing_send_many(channel=WECOM_CHANNEL, sends=sends, now=moment)
            SmartSendSlot.objects.filter(pk__in=handed).update(
                status=SmartSlotStatus.SENT, sent_at=moment
            )
            SmartSendSlot.objects.filter(pk__in=gone).update(
                status=SmartSlotStatus.DROPPED, drop_reason=SmartDropReason.NO_CONTACT
            )
        sent += len(sends)


def smart_broadcast_send(*, broadcast_id: int, now: dt.datetime) -> SendOutcome:
    """`broadcast_send` for a smart-send message: at its time, plan it if nobody did and
    claim it (scheduled → sending); then send the recipients whose planned hour has come;
    once none is left, it is sent. Run again (the minute job, a retried task), it sends only
    what became due since — each recipient's dedupe key stops a second send anyway."""
    with transaction.atomic():
        broadcast = broadcast_lock(broadcast_id=broadcast_id)
        due = broadcast.status == BroadcastStatus.SCHEDULED and broadcast.scheduled_at <= now
        if not (due or broadcast.status == BroadcastStatus.SENDING):
            return SendOutcome(broadcast_id, started=False, recipients=0, no_contact=0)
        unplanned = due and broadcast.smart_planned_at is None
    if unplanned:
        smart_send_plan(broadcasts=[broadcast], now=now, actor=Actor.system("scrm.broadcast_send"))
    with transaction.atomic():
        broadcast = broadcast_lock(broadcast_id=broadcast_id)
        if broadcast.status == BroadcastStatus.SCHEDULED and broadcast.scheduled_at <= now:
            if broadcast.smart_planned_at is None:
                # Changed while it was being planned: the next run plans it again.
                return SendOutcome(broadcast_id, started=False, recipients=0, no_contact=0)
            broadcast.status = BroadcastStatus.SENDING
            broadcast.started_at = now
            broadcast.save(update_fields=["status", "started_at"])
        elif broadcast.status != BroadcastStatus.SENDING:
            return SendOutcome(broadcast_id, started=False, recipients=0, no_contact=0)
    recipients = _slots_send(broadcast, now)
    if not SmartSendSlot.objects.filter(
        broadcast=broadcast, status=SmartSlotStatus.PLANNED
    ).exists():
        Broadcast.objects.filter(pk=broadcast.pk, status=BroadcastStatus.SENDING).update(
            status=BroadcastStatus.SENT, sent_at=clock.now()
        )
    return SendOutcome(
        broadcast.pk, started=True, recipients=recipients, no_contact=broadcast.no_contact
    )


# --- reads for the console --------------------------------------------------------------------


@dataclass(frozen=True)
class SlotCounts:
    planned: int
    sent: int
    dropped: dict[str, int]  # reason label → recipients

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def smart_slot_counts(*, broadcast_ids: list[int]) -> dict[int, SlotCounts]:
    """Per message: recipients still planned, handed to the policy, and dropped by reason."""
    counts: dict[int, dict[str, Any]] = {
        pk: {"planned": 0, "sent": 0, "dropped": {}} for pk in broadcast_ids
    }
    rows = (
        SmartSendSlot.objects.filter(broadcast_id__in=broadcast_ids)
        .values("broadcast_id", "status", "drop_reason")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        entry = counts[row["broadcast_id"]]
        if row["status"] == SmartSlotStatus.DROPPED:
            label = str(SmartDropReason(row["drop_reason"]).label)
            entry["dropped"][label] = entry["dropped"].get(label, 0) + row["n"]
        else:
            entry[row["status"]] += row["n"]
    return {pk: SlotCounts(**entry) for pk, entry in counts.items()}


def smart_runs_latest() -> SmartSendRun | None:
    return SmartSendRun.objects.order_by("-planned_at", "-pk").first()


def smart_person_lookup(*, one_id: str) -> Person | None:
    """The person a OneID names now (a merged-away OneID leads to its survivor), or None."""
    wanted = one_id.strip()
    if not wanted or len(wanted) > MAX_ONE_ID_CHARS:
        return None
    person = Person.objects.filter(one_id=wanted).first()
    for _ in range(MAX_MERGE_HOPS):
        if person is None or person.merged_into_id is None:
            break
        person = Person.objects.filter(pk=person.merged_into_id).first()
    return person


def smart_slots_for_person(*, person_id: int) -> list[SmartSendSlot]:
    """The person's smart-send slots of messages scheduled or sending, soonest first."""
    return list(
        SmartSendSlot.objects.filter(
            person_id=person_id,
            broadcast__status__in=[BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING],
        )
        .select_related("broadcast")
        .order_by("send_at", "broadcast_id")
    )
