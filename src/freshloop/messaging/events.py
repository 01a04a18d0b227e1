"""Facts messaging announces: what WeCom's callbacks told us about customers and groups.

Published by the WeCom callback endpoint (messaging/wecom/callbacks.py) once per callback —
a replayed or stale callback publishes nothing — for the higher modules to react: `scrm` ties
a new contact to a OneID and starts its journeys, `community` syncs a group's members.
`event_key` identifies the WeCom event itself (not the delivery), for idempotent handlers.
"""

from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class WecomContactChanged(DomainEvent):
    """`change_external_contact`: change_type is WeCom's ChangeType — add_external_contact,
    edit_external_contact, del_external_contact (the staff member deleted the customer),
    del_follow_user (the customer deleted the staff member), add_half_external_contact,
    transfer_fail."""

    name = "WecomContactChanged"
    corp_id: str
    change_type: str
    staff_userid: str
    external_userid: str
    wecom_time: int  # the callback's CreateTime (Unix seconds)
    event_key: str
    state: str = ""  # the 联系我 / 渠道活码 state the customer came through
    welcome_code: str = ""  # valid 20 s for send_welcome_msg (add_* only)
    source: str = ""  # del_follow_user: DELETE_BY_TRANSFER when a transfer removed it
    fail_reason: str = ""  # transfer_fail: customer_refused / customer_limit_exceed


@dataclasses.dataclass(frozen=True, kw_only=True)
class WecomGroupChatChanged(DomainEvent):
    """`change_external_chat`: change_type create / update / dismiss; for update,
    update_detail is add_member, del_member, change_owner, change_name, change_notice."""

    name = "WecomGroupChatChanged"
    corp_id: str
    change_type: str
    chat_id: str
    wecom_time: int
    event_key: str
    update_detail: str = ""
    join_scene: int = 0
    quit_scene: int = 0
    member_change_count: int = 0
    member_ids: list[str] = dataclasses.field(default_factory=list)
