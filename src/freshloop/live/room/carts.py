"""Carts left in the live room (LV-5): 加购 without paying, found and announced for win-back.

A viewer's 加购 in a room opens an intent per product. The minute job marks intents still
unpaid `cart_abandon_minutes` after the last 加购 abandoned and publishes one
`LiveCartAbandoned` per viewer and room — the trigger an SCRM journey acts on (a message from
the viewer's own staff member with the product card and a coupon). A paid order of that person
with the product, in any channel, closes the intent: paid before the deadline, or *recovered*
within `RECOVERY_DAYS` after it (`LiveCartRecovered`, counted with its GMV).

Every state change is a conditional UPDATE on the intent's current status, so the minute job,
a payment and a second worker racing each other move an intent once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum

from freshloop.core import clock
from freshloop.core.events import publish
from freshloop.identity.models import Person
from freshloop.live import events
from freshloop.live.config import live_config
from freshloop.live.models import LiveCartIntent, LiveCartStatus, LiveSession
from freshloop.orders.models import OrderLine

RECOVERY_DAYS = 7
ABANDON_BATCH = 2000


def cart_intent_record(*, session: LiveSession, person: Person, sku_id: int) -> None:
    """加购 in a room: the viewer's intent for that product opens, or its clock restarts.

    An intent already abandoned stays abandoned (its win-back has started and a later payment
    still counts as recovered); a paid one stays paid (the room shows 已购)."""
    now = clock.now()
    if LiveCartIntent.objects.filter(
        session=session, person=person, sku_id=sku_id, status=LiveCartStatus.OPEN
    ).update(added_at=now):
        return
    try:
        with transaction.atomic():
            LiveCartIntent.objects.get_or_create(
                session=session, person=person, sku_id=sku_id, defaults={"added_at": now}
            )
    except IntegrityError:  # a parallel 加购 of the same product created it first
        pass


def carts_abandon_due(*, now: dt.datetime | None = None) -> int:
    """Mark intents unpaid for the configured minutes abandoned and announce them, one event
    per viewer and room. Returns how many viewers' carts were abandoned."""
    now = now or clock.now()
    cutoff = now - dt.timedelta(minutes=live_config().cart_abandon_minutes)
    due = (
        LiveCartIntent.objects.filter(status=LiveCartStatus.OPEN, added_at__lte=cutoff)
        .order_by("session_id", "person_id", "id")
        .values_list("session_id", "person_id", "id")[:ABANDON_BATCH]
    )
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for session_id, person_id, intent_id in due:
        groups[(session_id, person_id)].append(intent_id)
    announced = 0
    for (_session_id, person_id), intent_ids in groups.items():
        with transaction.atomic():
            claimed = [
                intent_id
                for intent_id in intent_ids
                if LiveCartIntent.objects.filter(
                    pk=intent_id, status=LiveCartStatus.OPEN, added_at__lte=cutoff
                ).update(status=LiveCartStatus.ABANDONED, abandoned_at=now)
            ]
            if not claimed:
                continue
            intents = list(
                LiveCartIntent.objects.filter(pk__in=claimed).select_related("session", "person")
            )
            first = intents[0]
            publish(
                events.LiveCartAbandoned(
                    session_code=first.session.code,
                    person_id=person_id,
                    one_id=first.person.one_id,
                    sku_ids=tuple(sorted(intent.sku_id for intent in intents)),
                    added_at=max(intent.added_at for intent in intents),
                )
            )
            announced += 1
    return announced


def carts_close_on_payment(*, person_id: int, order_no: str) -> None:
    """A paid order closes the person's open and recently abandoned intents for its products:
    open ones become paid, abandoned ones recovered (announced per room, with their GMV)."""
    now = clock.now()
    paid_by_sku: dict[int, int] = defaultdict(int)
    for sku_id, total_fen in OrderLine.objects.filter(order__order_no=order_no).values_list(
        "sku_id", "total_fen"
    ):
        paid_by_sku[sku_id] += total_fen
    if not paid_by_sku:
        return
    candidates = LiveCartIntent.objects.filter(
        Q(status=LiveCartStatus.OPEN)
        | Q(
            status=LiveCartStatus.ABANDONED,
            abandoned_at__gte=now - dt.timedelta(days=RECOVERY_DAYS),
        ),
        person_id=person_id,
        sku_id__in=list(paid_by_sku),
    ).select_related("session")
    recovered: dict[str, list[LiveCartIntent]] = defaultdict(list)
    with transaction.atomic():
        for intent in candidates:
            target = (
                LiveCartStatus.PAID
                if intent.status == LiveCartStatus.OPEN
                else LiveCartStatus.RECOVERED
            )
            moved = LiveCartIntent.objects.filter(pk=intent.pk, status=intent.status).update(
                status=target, paid_at=now, order_no=order_no, amount_fen=paid_by_sku[intent.sku_id]
            )
            if moved and target == LiveCartStatus.RECOVERED:
                recovered[intent.session.code].append(intent)
        for session_code, intents in recovered.items():
            publish(
                events.LiveCartRecovered(
                    session_code=session_code,
                    person_id=person_id,
                    order_no=order_no,
                    sku_ids=tuple(sorted(intent.sku_id for intent in intents)),
                    amount_fen=sum(paid_by_sku[intent.sku_id] for intent in intents),
                )
            )


def carts_follow_merge(*, from_person_id: int, into_person_id: int) -> None:
    """A guest who logs in is merged into their account: their carts follow, except where the
    account already has an intent for the same product in the same room (that one stays)."""
    taken = set(
        LiveCartIntent.objects.filter(person_id=into_person_id).values_list("session_id", "sku_id")
    )
    for intent in LiveCartIntent.objects.filter(person_id=from_person_id):
        if (intent.session_id, intent.sku_id) in taken:
            intent.delete()
        else:
            LiveCartIntent.objects.filter(pk=intent.pk).update(person_id=into_person_id)


def carts_erase(*, person_id: int) -> int:
    """PIPL erase: the person's carts go (an erased person must never be won back)."""
    deleted, _ = LiveCartIntent.objects.filter(person_id=person_id).delete()
    return deleted


def carts_export(*, person: Person) -> list[dict[str, object]]:
    """PIPL export: what the person put in their cart in each room and what became of it."""
    return [
        {
            "session": intent.session.code,
            "sku_id": intent.sku_id,
            "status": intent.get_status_display(),
            "added_at": intent.added_at.isoformat(),
            "order_no": intent.order_no,
        }
        for intent in LiveCartIntent.objects.filter(person=person)
        .select_related("session")
        .order_by("pk")
    ]


@dataclass(frozen=True)
class CartStats:
    """Abandoned carts of one session, counted per viewer (LV-5's measures; `reached` is the
    journey's, in SCRM)."""

    abandoned: int  # viewers whose cart was abandoned (recovered ones included)
    recovered: int  # of them, viewers who paid after all
    recovered_fen: int  # what they paid for those products
    open: int  # viewers with 加购 still inside the window


def cart_stats(*, session: LiveSession) -> CartStats:
    rows = LiveCartIntent.objects.filter(session=session).aggregate(
        abandoned=Count(
            "person",
            filter=Q(status__in=[LiveCartStatus.ABANDONED, LiveCartStatus.RECOVERED]),
            distinct=True,
        ),
        recovered=Count("person", filter=Q(status=LiveCartStatus.RECOVERED), distinct=True),
        recovered_fen=Sum("amount_fen", filter=Q(status=LiveCartStatus.RECOVERED)),
        open=Count("person", filter=Q(status=LiveCartStatus.OPEN), distinct=True),
    )
    return CartStats(
        abandoned=rows["abandoned"] or 0,
        recovered=rows["recovered"] or 0,
        recovered_fen=rows["recovered_fen"] or 0,
        open=rows["open"] or 0,
    )
