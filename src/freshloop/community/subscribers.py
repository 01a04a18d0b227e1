"""What community operations react to: group changes from WeCom, paid orders (challenges),
OneID merges and erasures (one block per feature)."""

from __future__ import annotations

from freshloop.community.challenges import challenges_check_for_person
from freshloop.community.groups import group_change_apply, members_erase, members_follow_merge
from freshloop.community.people import community_erase, community_follow_merge
from freshloop.core.events import subscribe
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.messaging.events import WecomGroupChatChanged
from freshloop.orders.events import OrderPaid


@subscribe(WecomGroupChatChanged, durable=True)
def group_chat_changed(event: WecomGroupChatChanged) -> None:
    """Durable and idempotent: one receipt per callback event_key (groups.group_change_apply)."""
    group_change_apply(event)


@subscribe(OrderPaid, durable=True)
def challenge_order_paid(event: OrderPaid) -> None:
    """A member's payment may reach their group's challenge; the reward is issued once."""
    challenges_check_for_person(person_id=event.person_id)


@subscribe(IdentityMerged, durable=True)
def members_merged(event: IdentityMerged) -> None:
    members_follow_merge(from_person_id=event.from_person_id, into_person_id=event.into_person_id)


@subscribe(PersonErased, durable=True)
def members_erased(event: PersonErased) -> None:
    members_erase(person_id=event.person_id)


# --- check-ins and group messages follow OneID merges and erasure -----------------------------


@subscribe(IdentityMerged, durable=True)
def activities_follow_merge(event: IdentityMerged) -> None:
    community_follow_merge(from_person_id=event.from_person_id, into_person_id=event.into_person_id)


@subscribe(PersonErased, durable=True)
def activities_erased(event: PersonErased) -> None:
    community_erase(person_id=event.person_id)
