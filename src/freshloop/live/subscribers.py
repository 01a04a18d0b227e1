"""The room's funnel also counts what happens in the order module: an order placed in the room
(`channel="live"`, `source_ref` = the session code) and its payment."""

from __future__ import annotations

from django.db import transaction

from freshloop.core.db import retry_transient
from freshloop.core.events import subscribe
from freshloop.identity.models import Person
from freshloop.live import events
from freshloop.live.models import LiveAction, LiveSession, LiveViewer
from freshloop.live.services import activity_record, room_publish
from freshloop.orders.events import OrderCreated, OrderPaid


def _session_and_person(source_ref: str, person_id: int) -> tuple[LiveSession, Person] | None:
    session = LiveSession.objects.filter(code=source_ref).first()
    person = Person.objects.filter(pk=person_id).first()
    if session is None or person is None:
        return None
    return session, person


@subscribe(OrderCreated)
def order_placed_in_room(event: OrderCreated) -> None:
    if event.channel != "live" or not event.source_ref:
        return
    found = _session_and_person(event.source_ref, event.person_id)
    if found is None:
        return
    session, person = found

    def record() -> None:
        with transaction.atomic():
            activity_record(
                session=session,
                person=person,
                action=LiveAction.ORDER,
                order_ref=event.order_no,
                amount_fen=event.total_fen,
            )

    # After the order committed, under a flash-sale rush: retry rather than lose the fact.
    retry_transient(record)


@subscribe(OrderPaid)
def order_paid_in_room(event: OrderPaid) -> None:
    if event.channel != "live" or not event.source_ref:
        return
    found = _session_and_person(event.source_ref, event.person_id)
    if found is None:
        return
    session, person = found

    def record() -> None:
        with transaction.atomic():
            activity_record(
                session=session,
                person=person,
                action=LiveAction.PAY,
                order_ref=event.order_no,
                amount_fen=event.paid_fen,
            )
            # Everyone sees the room buying (by nickname only); the buyer's own page re-reads
            # the room state and turns the card to "已购".
            viewer = LiveViewer.objects.filter(session=session, person=person).first()
            room_publish(session, "order_paid", {"nickname": viewer.nickname if viewer else "有人"})

    retry_transient(record)


def _to_room(session_code: str, event: str, data: dict[str, object]) -> None:
    from freshloop.live import realtime

    realtime.publish(f"live:{session_code}", event, data)


@subscribe(events.FlashSaleStarted)
def flash_sale_started_in_room(event: events.FlashSaleStarted) -> None:
    _to_room(
        event.session_code,
        "flash_sale_started",
        {
            "id": event.flash_sale_id,
            "sku_id": event.sku_id,
            "price_fen": event.price_fen,
            "quantity": event.quantity,
            "ends_at": event.ends_at.isoformat(),
        },
    )


@subscribe(events.FlashSaleStockChanged)
def flash_sale_stock_in_room(event: events.FlashSaleStockChanged) -> None:
    # Sent on every claim and release: the room updates its counter without re-reading.
    _to_room(
        event.session_code,
        "flash_sale_stock",
        {"id": event.flash_sale_id, "remaining": event.remaining},
    )


@subscribe(events.FlashSaleEnded)
def flash_sale_ended_in_room(event: events.FlashSaleEnded) -> None:
    _to_room(event.session_code, "flash_sale_ended", {"id": event.flash_sale_id})
