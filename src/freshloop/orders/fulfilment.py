"""An order's fulfilment steps, as the fulfillment module (or an operator) takes them:
allocated to warehouses, shipped (stock leaves, with the lots the allocation chose), delivered,
completed. Each is one transaction: status and timeline, audit where stock moves, the event
on commit."""

from __future__ import annotations

from django.db import transaction

from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.core.events import publish
from freshloop.inventory.services import LotPicks, reservations_ship
from freshloop.orders import events
from freshloop.orders.locks import order_lock
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.timeline import event_base, status_set


@transaction.atomic
def order_allocate(*, order_no: str, actor: Actor, note: str = "") -> Order:
    order = order_lock(order_no)
    status_set(order, OrderStatus.ALLOCATED, note=note or "已分配仓库", actor=actor.label)
    publish(events.OrderAllocated(**event_base(order)))
    return order


@transaction.atomic
def order_ship(
    *,
    order_no: str,
    carrier: str,
    tracking_no: str,
    actor: Actor,
    lot_picks: LotPicks | None = None,
) -> Order:
    """The order leaves the warehouse. `lot_picks` are the lots its allocation recorded
    (fulfillment passes its shipment lines: `fulfillment.selectors.allocation_lot_picks`);
    without them the lots go first-expiry-first-out among those fresh enough for the
    order's channel. Either way a lot shortfall is an error, never ignored."""
    if not carrier.strip() or not tracking_no.strip():
        raise InvalidInput("请填写承运商和运单号")
    order = order_lock(order_no)
    status_set(order, OrderStatus.SHIPPED, note=f"{carrier} {tracking_no}"[:200], actor=actor.label)
    reservations_ship(order_ref=order_no, channel=order.channel, lot_picks=lot_picks)
    audit_record(
        actor=actor,
        action="orders.ship",
        target=order,
        after={"carrier": carrier, "tracking_no": tracking_no},
    )
    publish(events.OrderShipped(**event_base(order), carrier=carrier, tracking_no=tracking_no))
    return order


@transaction.atomic
def order_deliver(*, order_no: str, actor: Actor) -> Order:
    order = order_lock(order_no)
    status_set(order, OrderStatus.DELIVERED, note="已签收", actor=actor.label)
    publish(events.OrderDelivered(**event_base(order)))
    return order


@transaction.atomic
def order_complete(*, order_no: str, actor: Actor) -> Order:
    order = order_lock(order_no)
    status_set(order, OrderStatus.COMPLETED, note="交易完成", actor=actor.label)
    publish(events.OrderCompleted(**event_base(order)))
    return order
