"""What fills the pantry by itself: an order delivered puts its goods in the buyer's pantry;
and the pantry following its person through a OneID merge or an erasure.

Durable (at least once, after a crash too); `pantry_add_from_order` is idempotent per order
line and lot, so a repeated delivery adds nothing."""

from __future__ import annotations

from freshloop.core.events import subscribe
from freshloop.food.pantry import (
    pantry_add_from_order,
    pantry_person_erase,
    pantry_person_merge,
)
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.orders.events import OrderDelivered


@subscribe(OrderDelivered, durable=True)
def pantry_on_order_delivered(event: OrderDelivered) -> None:
    pantry_add_from_order(order_id=event.order_id)


@subscribe(IdentityMerged, durable=True)
def pantry_follow_merge(event: IdentityMerged) -> None:
    """The pantry follows the person into the survivor of a OneID merge (idempotent: a
    repeat finds nothing left under the merged person)."""
    pantry_person_merge(from_person_id=event.from_person_id, into_person_id=event.into_person_id)


@subscribe(PersonErased, durable=True)
def pantry_forget_erased(event: PersonErased) -> None:
    """What a household keeps at home is personal: an erased person's pantry is deleted."""
    pantry_person_erase(person_id=event.person_id)
