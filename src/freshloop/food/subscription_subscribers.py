"""How subscriptions react to identity (PIPL and OneID): a merge moves the subscriptions to the
surviving person, an erasure cancels them and destroys their delivery address, and the PIPL
export lists them with that address."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.events import subscribe
from freshloop.food.locks import subscriptions_of_person_lock
from freshloop.food.models import Subscription, SubscriptionStatus
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.models import Person
from freshloop.identity.services import register_export_section


@subscribe(IdentityMerged, durable=True)
def subscriptions_follow_merge(event: IdentityMerged) -> None:
    """Idempotent: a repeat finds nothing left under the merged person."""
    Subscription.objects.filter(person_id=event.from_person_id).update(
        person_id=event.into_person_id, updated_at=clock.now()
    )


@subscribe(PersonErased, durable=True)
def subscriptions_forget_erased(event: PersonErased) -> None:
    """An erased person gets nothing more delivered: every subscription is cancelled and its
    address destroyed (the rows stay, anonymous, for the delivery history of the orders)."""
    with transaction.atomic():
        for subscription in subscriptions_of_person_lock(event.person_id):
            subscription.status = SubscriptionStatus.CANCELLED
            subscription.address = {}
            subscription.pause_reason = ""
            subscription.updated_at = clock.now()
            subscription.save(update_fields=["status", "address", "pause_reason", "updated_at"])


def _subscriptions_section(person: Person) -> list[dict[str, Any]]:
    return [
        {
            "subscription_no": subscription.subscription_no,
            "title": subscription.title,
            "items": subscription.items,
            "cadence": f"{subscription.cadence_kind}:{subscription.cadence_value}",
            "status": subscription.status,
            "next_delivery_date": subscription.next_delivery_date.isoformat(),
            "payment_method": subscription.payment_method,
            "address": dict(subscription.address or {}),
            "created_at": subscription.created_at.isoformat(),
        }
        for subscription in Subscription.objects.filter(person=person).order_by("pk")
    ]


register_export_section("food_subscriptions", _subscriptions_section)
