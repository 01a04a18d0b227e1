"""Row locks of the food module (one block per feature); always in primary-key order."""

from __future__ import annotations

# --- smart subscriptions (FD-1) ---
from freshloop.food.errors import SubscriptionNotFound
from freshloop.food.models import Subscription


def subscription_lock(subscription_id: int) -> Subscription:
    """One subscription, locked: its services and the ordering job take it one at a time."""
    subscription = Subscription.objects.select_for_update().filter(pk=subscription_id).first()
    if subscription is None:
        raise SubscriptionNotFound(detail={"subscription_id": subscription_id})
    return subscription


def subscriptions_lock(subscription_ids: list[int]) -> list[Subscription]:
    """Several subscriptions, locked in primary-key order (a batch of the ordering job)."""
    return list(
        Subscription.objects.select_for_update(of=("self",))  # not the people it joins
        .filter(pk__in=subscription_ids)
        # the person and the contract are read for every order the batch places
        .select_related("person", "payment_contract")
        .order_by("pk")
    )


def subscriptions_of_person_lock(person_id: int) -> list[Subscription]:
    """Every subscription of one person, locked in primary-key order (their erasure)."""
    return list(Subscription.objects.select_for_update().filter(person_id=person_id).order_by("pk"))


# --- pantry (FD-2) ---
from freshloop.food.models import PantryItem  # noqa: E402


def pantry_item_lock(*, item_id: int) -> PantryItem | None:
    """One pantry item, locked: "用完了" and "扔掉了" tapped at once close it once."""
    return PantryItem.objects.select_for_update().filter(pk=item_id).first()


def pantry_items_lock(*, item_ids: list[int]) -> list[PantryItem]:
    """Several items of one person, locked in primary-key order (the day's reminder digest)."""
    return list(PantryItem.objects.select_for_update().filter(pk__in=item_ids).order_by("pk"))


# --- traceability -------------------------------------------------------------------------------
from freshloop.food.models import TraceProfile  # noqa: E402


def trace_profile_lock(profile_id: int) -> TraceProfile:
    """A lot's traceability row, locked while it is published: two operators publishing at
    once get versions n and n+1, never two version n."""
    return TraceProfile.objects.select_for_update().get(pk=profile_id)
