"""What the room hears from elsewhere: orders placed and paid in the room count in its funnel
(`channel="live"`, `source_ref` = the session code), flash sales are announced to it, a
OneID merge moves the merged person's viewing to the survivor, and a PIPL erasure takes the
person's comments and nickname out (the PIPL export lists their viewing and comments)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F

from freshloop.core.db import retry_transient
from freshloop.core.events import subscribe
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.models import Person
from freshloop.identity.services import register_export_section
from freshloop.live import events
from freshloop.live.locks import live_viewers_lock
from freshloop.live.models import (
    LiveAction,
    LiveActivity,
    LiveComment,
    LiveReservation,
    LiveSession,
    LiveViewer,
)
from freshloop.live.room.carts import carts_close_on_payment, carts_erase, carts_follow_merge
from freshloop.live.room.selectors import live_export_section
from freshloop.live.room.services import (
    activity_record,
    room_publish,
    viewer_personal_data_erase,
)
from freshloop.orders.events import OrderCreated, OrderPaid


def _record_order_step(
    *, source_ref: str, person_id: int, action: str, order_no: str, amount_fen: int
) -> tuple[LiveSession, Person] | None:
    """Record an order step of a room's buyer; None when the room or the buyer is unknown.

    It runs after the order committed, under a flash-sale rush: retried rather than lost.
    """
    session = LiveSession.objects.filter(code=source_ref).first()
    person = Person.objects.filter(pk=person_id).first()
    if session is None or person is None:
        return None

    def record() -> None:
        with transaction.atomic():
            activity_record(
                session=session,
                person=person,
                action=action,
                order_ref=order_no,
                amount_fen=amount_fen,
            )

    retry_transient(record)
    return session, person


@subscribe(OrderCreated, in_transaction=True)
def order_placed_in_room(event: OrderCreated) -> None:
    """Written beside the order, in its transaction: a flash-sale rush pays one commit per
    order, not a second transaction after it (the row is our own, like the data hub's)."""
    if event.channel != "live" or not event.source_ref:
        return
    session = LiveSession.objects.filter(code=event.source_ref).first()
    person = Person.objects.filter(pk=event.person_id).first()
    if session is None or person is None:
        return
    activity_record(
        session=session,
        person=person,
        action=LiveAction.ORDER,
        order_ref=event.order_no,
        amount_fen=event.total_fen,
    )


@subscribe(OrderPaid)
def order_paid_in_room(event: OrderPaid) -> None:
    if event.channel != "live" or not event.source_ref:
        return
    recorded = _record_order_step(
        source_ref=event.source_ref,
        person_id=event.person_id,
        action=LiveAction.PAY,
        order_no=event.order_no,
        amount_fen=event.paid_fen,
    )
    if recorded is None:
        return
    session, person = recorded
    # Everyone sees the room buying (by nickname only); the buyer's own page re-reads the
    # room state and turns the card to "已购".
    viewer = LiveViewer.objects.filter(session=session, person=person).first()
    room_publish(
        session_code=session.code,
        event="order_paid",
        data={"nickname": viewer.nickname if viewer else "有人"},
    )


@subscribe(OrderPaid)
def order_paid_closes_live_carts(event: OrderPaid) -> None:
    """Any paid order (shop, live or a win-back link) closes the buyer's carts left in rooms."""
    carts_close_on_payment(person_id=event.person_id, order_no=event.order_no)


@subscribe(events.FlashSaleStarted)
def flash_sale_started_in_room(event: events.FlashSaleStarted) -> None:
    data: dict[str, Any] = {
        "id": event.flash_sale_id,
        "sku_id": event.sku_id,
        "price_fen": event.price_fen,
        "quantity": event.quantity,
        "ends_at": event.ends_at.isoformat(),
    }
    room_publish(session_code=event.session_code, event="flash_sale_started", data=data)


@subscribe(events.FlashSaleStockChanged)
def flash_sale_stock_in_room(event: events.FlashSaleStockChanged) -> None:
    # Sent on every claim and release: the room updates its counter without re-reading.
    room_publish(
        session_code=event.session_code,
        event="flash_sale_stock",
        data={"id": event.flash_sale_id, "remaining": event.remaining},
    )


@subscribe(events.FlashSaleEnded)
def flash_sale_ended_in_room(event: events.FlashSaleEnded) -> None:
    room_publish(
        session_code=event.session_code,
        event="flash_sale_ended",
        data={"id": event.flash_sale_id},
    )


@subscribe(IdentityMerged, durable=True)
def viewers_follow_merge(event: IdentityMerged) -> None:
    """Re-point the merged person's viewing: one viewer row per session (dwell added up,
    comments moved), activities and reservations moved."""
    with transaction.atomic():
        # Both people's rows, locked in one primary-key order: two merges into one survivor
        # (from two identify calls) then wait on each other instead of deadlocking.
        viewers = live_viewers_lock([event.from_person_id, event.into_person_id])
        survivors = {v.session_id: v for v in viewers if v.person_id == event.into_person_id}
        for old in (v for v in viewers if v.person_id == event.from_person_id):
            survivor = survivors.get(old.session_id)
            if survivor is None:
                LiveViewer.objects.filter(pk=old.pk).update(person_id=event.into_person_id)
                continue
            LiveViewer.objects.filter(pk=survivor.pk).update(
                dwell_seconds=F("dwell_seconds") + old.dwell_seconds,
                first_seen_at=min(survivor.first_seen_at, old.first_seen_at),
            )
            LiveComment.objects.filter(viewer=old).update(viewer=survivor)
            old.delete()
        LiveActivity.objects.filter(person_id=event.from_person_id).update(
            person_id=event.into_person_id
        )
        carts_follow_merge(from_person_id=event.from_person_id, into_person_id=event.into_person_id)
        for reservation in LiveReservation.objects.filter(person_id=event.from_person_id):
            if LiveReservation.objects.filter(
                session_id=reservation.session_id, person_id=event.into_person_id
            ).exists():
                reservation.delete()
            else:
                LiveReservation.objects.filter(pk=reservation.pk).update(
                    person_id=event.into_person_id
                )


@subscribe(PersonErased, durable=True)
def viewers_erased(event: PersonErased) -> None:
    """Durable: written with the erasure and delivered at least once, after a crash too (the
    scrub is idempotent). The rooms' real-time replay buffers are rewritten as well."""
    viewer_personal_data_erase(person_id=event.person_id)
    carts_erase(person_id=event.person_id)


register_export_section("live", live_export_section)
