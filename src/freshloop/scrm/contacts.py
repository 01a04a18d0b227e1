"""WeCom contacts (SC-1): every external contact tied to a OneID, with its 跟进人.

WeCom's callback (`messaging.events.WecomContactChanged`) says a staff member added, edited or
lost a customer; the contact's details come from WeCom's `externalcontact/get`, its OneID from
`identity.identify` with the external_userid and — where WeCom gives it — the WeChat unionid
(the same person who logged into the H5 shop by WeChat)."""

from __future__ import annotations

from django.db import transaction

from freshloop.core import clock
from freshloop.identity.services import IdentifierInput, identify
from freshloop.messaging.wecom import wecom_client
from freshloop.scrm.models import ContactStatus, WecomContact
from freshloop.scrm.tag_sync import contact_tags_from_wecom


def contact_sync(
    *, corp_id: str, external_userid: str, staff_userid: str, state: str = ""
) -> WecomContact:
    """Read the contact from WeCom, resolve its OneID and keep it (idempotent). An
    external_userid is only unique within its corp, so the corp is the identifier's scope."""
    detail = wecom_client().external_contact_get(external_userid=external_userid)
    identifiers = [
        IdentifierInput(type="wecom_external_userid", value=external_userid, scope=corp_id)
    ]
    if detail.unionid:
        identifiers.append(IdentifierInput(type="wechat_unionid", value=detail.unionid))
    person = identify(identifiers=identifiers, source="wecom", display_name=detail.name).person
    now = clock.now()
    with transaction.atomic():
        contact, created = WecomContact.objects.get_or_create(
            external_userid=external_userid,
            defaults={
                "person": person,
                "follow_userid": staff_userid,
                "name": detail.name[:64],
                "state": state[:64],
                "added_at": now,
                "updated_at": now,
            },
        )
        if not created:
            WecomContact.objects.filter(pk=contact.pk).update(
                person=person,
                follow_userid=staff_userid or contact.follow_userid,
                name=detail.name[:64],
                status=ContactStatus.ACTIVE,
                updated_at=now,
            )
            contact.refresh_from_db()
    # The tags every staff member put on the customer in WeCom → the person's manual tags.
    contact_tags_from_wecom(
        contact=contact, follow_tag_ids=[follow.tag_ids for follow in detail.follow_users]
    )
    return contact


def contact_status_set(*, external_userid: str, status: str) -> int:
    """The customer deleted the staff member (lost) or the staff member the customer
    (removed): journeys stop messaging them."""
    return WecomContact.objects.filter(external_userid=external_userid).update(
        status=status, updated_at=clock.now()
    )


def contact_for_person(*, person_id: int) -> WecomContact | None:
    """The customer's active WeCom contact, the most recently updated if several."""
    return (
        WecomContact.objects.filter(person_id=person_id, status=ContactStatus.ACTIVE)
        .order_by("-updated_at", "-id")
        .first()
    )


def contacts_follow_merge(*, from_person_id: int, into_person_id: int) -> None:
    WecomContact.objects.filter(person_id=from_person_id).update(person_id=into_person_id)


def contacts_erase(*, person_id: int) -> None:
    """PIPL erase: the contact row (nickname, channel) goes; WeCom keeps its own copy, which
    the brand removes in WeCom."""
    WecomContact.objects.filter(person_id=person_id).delete()


def contacts_for_people(*, person_ids: list[int]) -> dict[int, WecomContact]:
    """`contact_for_person` for many people in one query."""
    found: dict[int, WecomContact] = {}
    for contact in WecomContact.objects.filter(
        person_id__in=person_ids, status=ContactStatus.ACTIVE
    ).order_by("updated_at", "id"):
        found[contact.person_id] = contact  # the most recently updated wins
    return found
