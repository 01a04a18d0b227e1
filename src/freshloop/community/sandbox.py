"""The demo's stand-in for a customer scanning a 活码 (only while the WeCom sandbox is in use).

A real scan happens on a phone and WeCom announces the join with a change_external_chat
callback; in the sandbox the console's 「模拟扫码入群」 button does both: a new sandbox customer
joins the group the 活码 leads to now, and the same `WecomGroupChatChanged` the callback
endpoint would publish is published — so the member, its OneID and the health numbers arrive
through the real path, and the 活码 moves on when the group fills.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction

from freshloop.community.join_codes import join_code_scan
from freshloop.community.models import JoinCode, JoinCodeGroup
from freshloop.core import clock
from freshloop.core.events import publish
from freshloop.messaging.events import WecomGroupChatChanged
from freshloop.messaging.wecom import SandboxWecomClient, sandbox_contact_add, sandbox_group_join

JOIN_SCENE_QR = 3


def sandbox_in_use() -> bool:
    return not settings.FRESHLOOP.wecom.configured


def sandbox_scan_join(*, join_code: JoinCode, name: str) -> JoinCodeGroup | None:
    """A new sandbox customer scans the 活码 and joins its current group; None when all full."""
    _, entry = join_code_scan(code=join_code.code)
    if entry is None:
        return None
    external_userid = f"wm_scan_{secrets.token_hex(6)}"
    owner = entry.group.owner_userid or "fl_staff_lin"
    sandbox_contact_add(staff_userid=owner, external_userid=external_userid, name=name[:20])
    sandbox_group_join(
        chat_id=entry.group.chat_id, userid=external_userid, join_scene=JOIN_SCENE_QR
    )
    with transaction.atomic():
        publish(
            WecomGroupChatChanged(
                corp_id=SandboxWecomClient.corp_id,
                change_type="update",
                chat_id=entry.group.chat_id,
                wecom_time=int(clock.now().timestamp()),
                event_key=f"sandbox-scan:{external_userid}",
                update_detail="add_member",
                join_scene=JOIN_SCENE_QR,
                member_change_count=1,
                member_ids=[external_userid],
            )
        )
    return entry
