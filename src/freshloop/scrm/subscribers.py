"""What SCRM reacts to: triggers that enrol customers, payments that convert them, OneID."""

from __future__ import annotations

from freshloop.core.events import subscribe
from freshloop.datahub.segments.events import SegmentMembersJoined
from freshloop.datahub.tags.events import ManualTagChanged
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.live.events import LiveCartAbandoned
from freshloop.messaging.events import WecomContactChanged
from freshloop.orders.events import OrderPaid
from freshloop.scrm.contacts import (
    contact_status_set,
    contact_sync,
    contacts_erase,
    contacts_follow_merge,
)
from freshloop.scrm.journeys import (
    enrollment_convert,
    enrollments_erase,
    enrollments_follow_merge,
    journey_enroll,
)
from freshloop.scrm.models import ContactStatus, JourneyTrigger
from freshloop.scrm.tag_sync import manual_tag_push
from freshloop.scrm.transfer import transfer_fail_record
from freshloop.scrm.triggers import segment_joined_enroll


@subscribe(LiveCartAbandoned, durable=True)
def enrol_abandoned_live_cart(event: LiveCartAbandoned) -> None:
    """Durable and idempotent: one enrolment per viewer, room and abandonment."""
    journey_enroll(
        trigger=JourneyTrigger.LIVE_CART_ABANDONED,
        person_id=event.person_id,
        trigger_key=f"live:{event.session_code}:{event.added_at.isoformat()}",
        context={"session_code": event.session_code, "sku_ids": list(event.sku_ids)},
    )


@subscribe(OrderPaid, durable=True)
def enrol_paid_order_and_convert(event: OrderPaid) -> None:
    """A payment converts the person's latest journey (before it can enrol them in a new
    one, which it must not count for)."""
    from freshloop.core import clock

    enrollment_convert(
        person_id=event.person_id,
        order_no=event.order_no,
        paid_fen=event.paid_fen,
        paid_at=clock.now(),
    )
    journey_enroll(
        trigger=JourneyTrigger.ORDER_PAID,
        person_id=event.person_id,
        trigger_key=f"order:{event.order_no}",
        context={"order_no": event.order_no, "channel": event.channel},
    )


@subscribe(SegmentMembersJoined, durable=True, background=True)
def enrol_segment_newcomers(event: SegmentMembersJoined) -> None:
    """Durable, on the worker (a part holds up to 5,000 people): a segment's newcomers enter
    the journeys triggered by joining it, once per materialisation however often delivered."""
    segment_joined_enroll(
        segment_id=event.segment_id,
        segment_name=event.segment_name,
        person_ids=list(event.person_ids),
        materialised_at=event.materialised_at,
    )


ADDED = {"add_external_contact", "add_half_external_contact", "edit_external_contact"}


@subscribe(WecomContactChanged, durable=True)
def contact_changed(event: WecomContactChanged) -> None:
    """A customer added (or edited) in WeCom gets its OneID and, when new, enters the journeys
    triggered by 新添加企业微信好友; a lost contact is no longer messaged. Durable and
    idempotent (one contact per external_userid, one enrolment per contact and staff)."""
    if event.change_type in ADDED:
        contact = contact_sync(
            corp_id=event.corp_id,
            external_userid=event.external_userid,
            staff_userid=event.staff_userid,
            state=event.state,
        )
        if event.change_type == "add_external_contact":
            journey_enroll(
                trigger=JourneyTrigger.CONTACT_ADDED,
                person_id=contact.person_id,
                trigger_key=f"wecom:{event.external_userid}:{event.staff_userid}",
                context={"staff_userid": event.staff_userid, "state": event.state},
            )
    elif event.change_type == "del_follow_user" and event.source != "DELETE_BY_TRANSFER":
        # A transfer (在职继承) removes the old relation itself: the customer is not lost.
        contact_status_set(external_userid=event.external_userid, status=ContactStatus.LOST)
    elif event.change_type == "del_external_contact":
        contact_status_set(external_userid=event.external_userid, status=ContactStatus.REMOVED)


@subscribe(IdentityMerged, durable=True)
def journeys_follow_merge(event: IdentityMerged) -> None:
    enrollments_follow_merge(
        from_person_id=event.from_person_id, into_person_id=event.into_person_id
    )
    contacts_follow_merge(from_person_id=event.from_person_id, into_person_id=event.into_person_id)


@subscribe(PersonErased, durable=True)
def journeys_erased(event: PersonErased) -> None:
    enrollments_erase(person_id=event.person_id)
    contacts_erase(person_id=event.person_id)


# --- Tags synced with WeCom, staff transfer ---------------------------------------------------


@subscribe(ManualTagChanged, durable=True, background=True)
def manual_tag_to_wecom(event: ManualTagChanged) -> None:
    """A manual tag put on or taken off a person → WeCom's mark_tag on their contact, after
    commit, on the worker; changes the WeCom sync made itself are not sent back."""
    manual_tag_push(
        person_id=event.person_id,
        tag=event.tag,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
    )


@subscribe(WecomContactChanged, durable=True)
def contact_transfer_failed(event: WecomContactChanged) -> None:
    """transfer_fail: the customer refused the takeover, or the taker has too many customers."""
    if event.change_type == "transfer_fail":
        transfer_fail_record(
            external_userid=event.external_userid,
            takeover_userid=event.staff_userid,
            fail_reason=event.fail_reason,
        )
