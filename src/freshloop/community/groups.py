"""Customer groups (SC-2) kept in step with WeCom, every customer member tied to a OneID.

Two paths, one rule. A full sync reads every group (groupchat/list, paged, then groupchat/get
for each); a `change_external_chat` callback (`messaging.events.WecomGroupChatChanged`)
re-reads the one group it names. Either way `group_apply` compares WeCom's member list with
ours: a member we did not have joined (at WeCom's join_time), a member WeCom no longer lists
left (at the callback's time, or the sync's) — each recorded as a `GroupMemberEvent` for the
health page. A callback is applied once: its event_key is kept (`GroupChangeReceipt`), so a
replay does nothing. Customer members get their OneID like contacts do (scrm.contacts):
`identity.identify` with the external_userid (scoped by corp) and the unionid where given.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from freshloop.community import locks
from freshloop.community.models import (
    CustomerGroup,
    GroupChangeReceipt,
    GroupMember,
    GroupMemberEvent,
    GroupStatus,
    MemberEventKind,
    MemberType,
)
from freshloop.core import clock
from freshloop.identity.services import IdentifierInput, identify
from freshloop.messaging.errors import WecomError
from freshloop.messaging.events import WecomGroupChatChanged
from freshloop.messaging.wecom import WecomGroupChat, WecomGroupMember, wecom_client

logger = logging.getLogger(__name__)

WECOM_STAFF = 1
GROUP_GONE_ERRCODES = frozenset({40050, 90500, 90501})  # chat not found / not a customer group


def _when(unix: int) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(unix, tz=dt.UTC) if unix > 0 else None


def _person_ids(
    corp_id: str, chat_id: str, members: tuple[WecomGroupMember, ...]
) -> dict[str, int]:
    """OneIDs of the customer members (outside our transaction: identify runs its own). A
    member already resolved keeps its OneID (a merge repoints it through identity), so a
    callback about one joiner of a 200-member group resolves one person, not 200."""
    found: dict[str, int] = {
        userid: person_id
        for userid, person_id in GroupMember.objects.filter(
            group__chat_id=chat_id[:128], person__isnull=False
        ).values_list("userid", "person_id")
        if person_id is not None
    }
    for member in members:
        if member.type == WECOM_STAFF or not member.userid or member.userid in found:
            continue
        identifiers = [
            IdentifierInput(type="wecom_external_userid", value=member.userid, scope=corp_id)
        ]
        if member.unionid:
            identifiers.append(IdentifierInput(type="wechat_unionid", value=member.unionid))
        result = identify(identifiers=identifiers, source="wecom", display_name=member.name)
        found[member.userid] = result.person.pk
    return found


def _counts(group: CustomerGroup) -> None:
    active = GroupMember.objects.filter(group=group, left_at__isnull=True)
    group.member_count = active.count()
    group.customer_count = active.filter(member_type=MemberType.CUSTOMER).count()


def _apply_locked(
    group: CustomerGroup, chat: WecomGroupChat, person_ids: dict[str, int], at: dt.datetime
) -> None:
    group.name = chat.name[:128]
    group.owner_userid = chat.owner[:64]
    group.notice = chat.notice
    group.status = GroupStatus.ACTIVE
    group.dismissed_at = None
    group.created_at = group.created_at or _when(chat.create_time)
    group.synced_at = at
    existing = {member.userid: member for member in GroupMember.objects.filter(group=group)}
    listed = {member.userid for member in chat.members if member.userid}
    events: list[GroupMemberEvent] = []
    for member in chat.members:
        if not member.userid:
            continue
        is_customer = member.type != WECOM_STAFF
        joined = _when(member.join_time) or at
        row = existing.get(member.userid)
        if row is None or row.left_at is not None:
            events.append(
                GroupMemberEvent(
                    group=group,
                    userid=member.userid[:128],
                    kind=MemberEventKind.JOIN,
                    is_customer=is_customer,
                    at=joined if row is None else max(joined, row.left_at or joined),
                )
            )
        values = {
            "member_type": MemberType.CUSTOMER if is_customer else MemberType.STAFF,
            "name": member.name[:64],
            "unionid": member.unionid[:128],
            "person_id": person_ids.get(member.userid),
            "join_time": joined,
            "join_scene": member.join_scene,
            "left_at": None,
        }
        GroupMember.objects.update_or_create(
            group=group, userid=member.userid[:128], defaults=values
        )
    for userid, row in existing.items():
        if userid not in listed and row.left_at is None:
            row.left_at = at
            row.save(update_fields=["left_at"])
            events.append(
                GroupMemberEvent(
                    group=group,
                    userid=userid,
                    kind=MemberEventKind.LEAVE,
                    is_customer=row.member_type == MemberType.CUSTOMER,
                    at=at,
                )
            )
    GroupMemberEvent.objects.bulk_create(events)
    _counts(group)
    group.save()


def group_apply(
    *, corp_id: str, chat: WecomGroupChat, at: dt.datetime | None = None
) -> CustomerGroup:
    """Make our copy of one group match `chat` (WeCom's groupchat/get answer). Idempotent."""
    at = at or clock.now()
    person_ids = _person_ids(corp_id, chat.chat_id, chat.members)
    with transaction.atomic():
        CustomerGroup.objects.get_or_create(
            chat_id=chat.chat_id[:128], defaults={"synced_at": at, "name": chat.name[:128]}
        )
        group = locks.group_lock(chat_id=chat.chat_id[:128])
        assert group is not None
        _apply_locked(group, chat, person_ids, at)
    return group


def members_follow_merge(*, from_person_id: int, into_person_id: int) -> int:
    """Two OneIDs became one: the members that pointed at the old one follow."""
    return GroupMember.objects.filter(person_id=from_person_id).update(person_id=into_person_id)


def members_erase(*, person_id: int) -> int:
    """PIPL erase: the member rows forget the person and what WeCom told about them; the join
    and leave counts stay (they name no one)."""
    return GroupMember.objects.filter(person_id=person_id).update(person=None, name="", unionid="")


def group_dismiss(*, chat_id: str, at: dt.datetime) -> CustomerGroup | None:
    """The group was dismissed (解散): kept with its history, members no longer counted."""
    with transaction.atomic():
        group = locks.group_lock(chat_id=chat_id)
        if group is None or group.status == GroupStatus.DISMISSED:
            return group
        group.status = GroupStatus.DISMISSED
        group.dismissed_at = at
        group.synced_at = at
        group.save()
    return group


@dataclass(frozen=True)
class SyncResult:
    groups: int
    dismissed: int


def groups_sync_full(*, corp_id: str, owner_userids: list[str] | None = None) -> SyncResult:
    """Read every group (of `owner_userids`, or all) from WeCom and apply each. Without an
    owner filter, our active groups WeCom no longer lists count as dismissed."""
    client = wecom_client()
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.groupchat_list(owner_userids=owner_userids or None, cursor=cursor)
        for summary in page.chats:
            chat = client.groupchat_get(chat_id=summary.chat_id)
            group_apply(corp_id=corp_id, chat=chat)
            seen.append(summary.chat_id)
        cursor = page.next_cursor
        if not cursor:
            break
    dismissed = 0
    if not owner_userids:
        now = clock.now()
        gone = CustomerGroup.objects.filter(status=GroupStatus.ACTIVE).exclude(chat_id__in=seen)
        for chat_id in list(gone.values_list("chat_id", flat=True)):
            group_dismiss(chat_id=chat_id, at=now)
            dismissed += 1
    return SyncResult(groups=len(seen), dismissed=dismissed)


def group_change_apply(event: WecomGroupChatChanged) -> bool:
    """Apply one change_external_chat callback; False when it was applied before (replay).

    The callback only names what changed; groupchat/get tells the group as it is now, and
    `group_apply` turns the difference into joins and leaves at the callback's time. The
    receipt is written with the change, so a failure leaves the event to be delivered again."""
    at = _when(event.wecom_time) or clock.now()
    if GroupChangeReceipt.objects.filter(event_key=event.event_key[:64]).exists():
        return False
    chat: WecomGroupChat | None = None
    if event.change_type != "dismiss":
        try:
            chat = wecom_client().groupchat_get(chat_id=event.chat_id)
        except WecomError as error:
            if error.errcode not in GROUP_GONE_ERRCODES:
                raise  # WeCom unavailable: the durable handler tries again
            logger.info("group %s is gone in WeCom: counted as dismissed", event.chat_id)
    person_ids = _person_ids(event.corp_id, chat.chat_id, chat.members) if chat is not None else {}
    try:
        with transaction.atomic():
            GroupChangeReceipt.objects.create(
                event_key=event.event_key[:64],
                chat_id=event.chat_id[:128],
                change=(event.update_detail or event.change_type)[:32],
                received_at=clock.now(),
            )
            if chat is None:
                group_dismiss(chat_id=event.chat_id[:128], at=at)
            else:
                CustomerGroup.objects.get_or_create(
                    chat_id=chat.chat_id[:128], defaults={"synced_at": at, "name": chat.name[:128]}
                )
                group = locks.group_lock(chat_id=chat.chat_id[:128])
                assert group is not None
                _apply_locked(group, chat, person_ids, at)
    except IntegrityError:
        return False  # applied by a concurrent delivery of the same callback
    return True
