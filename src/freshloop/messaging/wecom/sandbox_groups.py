"""The WeCom sandbox's customer groups: create one, let members join or leave.

WeCom has no API that creates a customer group or adds a customer to one (a staff member
creates it in the app, customers join by QR); the sandbox needs both for the demo and the
tests, so these helpers stand in for what people do on their phones. Each change is what a
real corp's `change_external_chat` callback would announce afterwards; the caller publishes
that event (the demo, a test) the way the callback endpoint would.
"""

from __future__ import annotations

from freshloop.core import clock
from freshloop.messaging.errors import wecom_error
from freshloop.messaging.wecom.sandbox import _directory, _save

JOIN_SCENE_INVITED = 1  # 由群成员邀请入群（直接邀请）
JOIN_SCENE_LINK = 2  # 由群成员邀请入群（通过邀请链接）
JOIN_SCENE_QR = 3  # 通过扫描群二维码入群


def sandbox_group_create(*, chat_id: str, name: str, owner: str) -> None:
    """A customer group owned by staff member `owner` (who is its first member)."""
    directory = _directory()
    if owner not in directory["staff"]:
        raise wecom_error(40003, f"invalid userid {owner[:64]}")
    now = int(clock.now().timestamp())
    groups = dict(directory["groups"])
    groups[chat_id] = {
        "name": name,
        "owner": owner,
        "members": [owner],
        "joined": {owner: [now, 0]},
        "create_time": now,
    }
    directory["groups"] = groups
    _save(directory)


def sandbox_group_join(*, chat_id: str, userid: str, join_scene: int = JOIN_SCENE_QR) -> None:
    """`userid` (a staff userid or an external_userid) joins the group now."""
    directory = _directory()
    group = directory["groups"].get(chat_id)
    if group is None:
        raise wecom_error(40050, f"chatid {chat_id[:64]} not found")
    if userid not in group["members"]:
        joined = dict(group.get("joined") or {})
        joined[userid] = [int(clock.now().timestamp()), join_scene]
        group = {**group, "members": [*group["members"], userid], "joined": joined}
        directory["groups"] = {**directory["groups"], chat_id: group}
        _save(directory)


def sandbox_group_leave(*, chat_id: str, userid: str) -> None:
    directory = _directory()
    group = directory["groups"].get(chat_id)
    if group is None:
        raise wecom_error(40050, f"chatid {chat_id[:64]} not found")
    group = {**group, "members": [member for member in group["members"] if member != userid]}
    directory["groups"] = {**directory["groups"], chat_id: group}
    _save(directory)


def sandbox_group_rename(*, chat_id: str, name: str) -> None:
    directory = _directory()
    group = directory["groups"].get(chat_id)
    if group is None:
        raise wecom_error(40050, f"chatid {chat_id[:64]} not found")
    directory["groups"] = {**directory["groups"], chat_id: {**group, "name": name}}
    _save(directory)
