"""What the WeCom client takes and gives: small frozen dataclasses instead of WeCom's raw JSON.

Field names follow the 企业微信 API (external_userid, chat_id, userid for a staff member), so a
reader can hold them next to the official documents. `*_json()` helpers build request bodies;
`*_from_json()` read answers and tolerate fields WeCom adds later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ChatType = Literal["single", "group"]

# WeCom's limits on message content (add_msg_template, send_welcome_msg, add_moment_task).
MAX_TEXT_BYTES = 4000
MAX_ATTACHMENTS = 9


@dataclass(frozen=True)
class WecomImage:
    """An image attachment: a media_id from the media upload, or a picture URL."""

    media_id: str = ""
    pic_url: str = ""

    def as_json(self) -> dict[str, Any]:
        body = {"media_id": self.media_id} if self.media_id else {"pic_url": self.pic_url}
        return {"msgtype": "image", "image": body}


@dataclass(frozen=True)
class WecomLink:
    title: str
    url: str
    picurl: str = ""
    desc: str = ""

    def as_json(self) -> dict[str, Any]:
        link = {"title": self.title, "url": self.url}
        if self.picurl:
            link["picurl"] = self.picurl
        if self.desc:
            link["desc"] = self.desc
        return {"msgtype": "link", "link": link}


@dataclass(frozen=True)
class WecomMiniProgram:
    title: str
    appid: str
    page: str
    pic_media_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "msgtype": "miniprogram",
            "miniprogram": {
                "title": self.title,
                "pic_media_id": self.pic_media_id,
                "appid": self.appid,
                "page": self.page,
            },
        }


WecomAttachment = WecomImage | WecomLink | WecomMiniProgram


@dataclass(frozen=True)
class WecomContent:
    """A message as WeCom's mass-message, welcome and moment APIs take it: text, attachments."""

    text: str = ""
    attachments: tuple[WecomAttachment, ...] = ()

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.text:
            body["text"] = {"content": self.text}
        if self.attachments:
            body["attachments"] = [attachment.as_json() for attachment in self.attachments]
        return body


@dataclass(frozen=True)
class WecomTag:
    tag_id: str
    name: str
    group_id: str = ""
    group_name: str = ""


@dataclass(frozen=True)
class WecomTagGroup:
    group_id: str
    name: str
    tags: tuple[WecomTag, ...]


@dataclass(frozen=True)
class WecomFollowUser:
    """One staff member who has the customer as a contact (跟进人), with their remark and tags."""

    userid: str
    remark: str = ""
    description: str = ""
    createtime: int = 0
    tag_ids: tuple[str, ...] = ()
    state: str = ""
    add_way: int = 0


@dataclass(frozen=True)
class WecomExternalContact:
    external_userid: str
    name: str
    type: int = 1  # 1 a WeChat user, 2 a WeCom user of another corp
    unionid: str = ""
    avatar: str = ""
    gender: int = 0
    corp_name: str = ""
    follow_users: tuple[WecomFollowUser, ...] = ()


@dataclass(frozen=True)
class WecomContactPage:
    """One page of batch/get_by_user; `next_cursor` empty on the last page."""

    contacts: tuple[WecomExternalContact, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class WecomMassMessageResult:
    """add_msg_template's answer: the message id and the customers/groups it could not reach."""

    msgid: str
    fail_list: tuple[str, ...] = ()


@dataclass(frozen=True)
class WecomSendStatus:
    """One recipient's state of a mass message (get_groupmsg_send_result).

    status: 0 not sent yet (the staff member has not confirmed), 1 sent, 2 failed because the
    customer is no longer a contact, 3 failed because the customer already got a mass message
    (WeCom's per-customer limit).
    """

    userid: str
    status: int
    external_userid: str = ""
    chat_id: str = ""
    send_time: int = 0


@dataclass(frozen=True)
class WecomSendResultPage:
    items: tuple[WecomSendStatus, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class WecomGroupChatSummary:
    chat_id: str
    status: int = 0  # 0 normal, 1-3 being / after a staff member's departure transfer


@dataclass(frozen=True)
class WecomGroupChatPage:
    chats: tuple[WecomGroupChatSummary, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class WecomGroupMember:
    userid: str  # a staff userid, or an external_userid when type == 2
    type: int  # 1 staff member, 2 external contact
    join_time: int = 0
    join_scene: int = 0
    unionid: str = ""
    name: str = ""


@dataclass(frozen=True)
class WecomGroupChat:
    chat_id: str
    name: str
    owner: str
    create_time: int = 0
    notice: str = ""
    members: tuple[WecomGroupMember, ...] = ()
    admins: tuple[str, ...] = field(default=())


# --- readers of WeCom's answers -------------------------------------------------------------


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _int(data: dict[str, Any], key: str) -> int:
    try:
        return int(data.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def follow_user_from_json(data: dict[str, Any]) -> WecomFollowUser:
    # externalcontact/get lists tags as objects; batch/get_by_user as a list of ids (tag_id).
    tag_ids = [str(tag.get("tag_id", "")) for tag in data.get("tags") or [] if tag.get("tag_id")]
    tag_ids += [str(tag_id) for tag_id in data.get("tag_id") or []]
    return WecomFollowUser(
        userid=_str(data, "userid"),
        remark=_str(data, "remark"),
        description=_str(data, "description"),
        createtime=_int(data, "createtime"),
        tag_ids=tuple(tag_ids),
        state=_str(data, "state"),
        add_way=_int(data, "add_way"),
    )


def contact_from_json(
    data: dict[str, Any], follow_users: list[dict[str, Any]]
) -> WecomExternalContact:
    return WecomExternalContact(
        external_userid=_str(data, "external_userid"),
        name=_str(data, "name"),
        type=_int(data, "type") or 1,
        unionid=_str(data, "unionid"),
        avatar=_str(data, "avatar"),
        gender=_int(data, "gender"),
        corp_name=_str(data, "corp_name"),
        follow_users=tuple(follow_user_from_json(item) for item in follow_users),
    )


def tag_groups_from_json(groups: list[dict[str, Any]]) -> tuple[WecomTagGroup, ...]:
    return tuple(
        WecomTagGroup(
            group_id=_str(group, "group_id"),
            name=_str(group, "group_name"),
            tags=tuple(
                WecomTag(
                    tag_id=_str(tag, "id"),
                    name=_str(tag, "name"),
                    group_id=_str(group, "group_id"),
                    group_name=_str(group, "group_name"),
                )
                for tag in group.get("tag") or []
                if not tag.get("deleted")
            ),
        )
        for group in groups
        if not group.get("deleted")
    )


def group_chat_from_json(data: dict[str, Any]) -> WecomGroupChat:
    return WecomGroupChat(
        chat_id=_str(data, "chat_id"),
        name=_str(data, "name"),
        owner=_str(data, "owner"),
        create_time=_int(data, "create_time"),
        notice=_str(data, "notice"),
        members=tuple(
            WecomGroupMember(
                userid=_str(member, "userid"),
                type=_int(member, "type"),
                join_time=_int(member, "join_time"),
                join_scene=_int(member, "join_scene"),
                unionid=_str(member, "unionid"),
                name=_str(member, "name"),
            )
            for member in data.get("member_list") or []
        ),
        admins=tuple(_str(admin, "userid") for admin in data.get("admin_list") or []),
    )


def send_result_from_json(data: dict[str, Any]) -> WecomSendResultPage:
    return WecomSendResultPage(
        items=tuple(
            WecomSendStatus(
                userid=_str(item, "userid"),
                status=_int(item, "status"),
                external_userid=_str(item, "external_userid"),
                chat_id=_str(item, "chat_id"),
                send_time=_int(item, "send_time"),
            )
            for item in data.get("send_list") or []
        ),
        next_cursor=_str(data, "next_cursor"),
    )


# --- customer transfer (在职继承 / 离职继承) -------------------------------------------------


@dataclass(frozen=True)
class WecomTransferCustomer:
    """One customer of a transfer request: errcode 0 means WeCom accepted it (the takeover
    then waits: see `WecomTransferStatus`); any other code refused this customer only."""

    external_userid: str
    errcode: int = 0


@dataclass(frozen=True)
class WecomTransferStatus:
    """One customer's transfer state (transfer_result / resigned/transfer_result).

    status: 1 接替完毕 (taken over), 2 等待接替 (waiting), 3 客户拒绝 (the customer refused),
    4 接替成员客户达到上限 (the taker has too many customers), 5 无接替记录 (no such transfer).
    """

    external_userid: str
    status: int
    takeover_time: int = 0


@dataclass(frozen=True)
class WecomTransferResultPage:
    customers: tuple[WecomTransferStatus, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class WecomUnassigned:
    """A customer of a departed staff member not yet given to anyone (get_unassigned_list)."""

    handover_userid: str
    external_userid: str
    dimission_time: int = 0


@dataclass(frozen=True)
class WecomUnassignedPage:
    items: tuple[WecomUnassigned, ...]
    is_last: bool = True
    next_cursor: str = ""


TRANSFER_MAX_CUSTOMERS = 100  # transfer_customer: at most 100 external_userids per call
TRANSFER_SUCCESS_MSG_MAX = 200  # 在职继承: the notice to the customer, at most 200 characters


def transfer_customers_from_json(data: dict[str, Any]) -> tuple[WecomTransferCustomer, ...]:
    return tuple(
        WecomTransferCustomer(
            external_userid=_str(item, "external_userid"), errcode=_int(item, "errcode")
        )
        for item in data.get("customer") or []
    )


def transfer_result_from_json(data: dict[str, Any]) -> WecomTransferResultPage:
    return WecomTransferResultPage(
        customers=tuple(
            WecomTransferStatus(
                external_userid=_str(item, "external_userid"),
                status=_int(item, "status"),
                takeover_time=_int(item, "takeover_time"),
            )
            for item in data.get("customer") or []
        ),
        next_cursor=_str(data, "next_cursor"),
    )


def unassigned_from_json(data: dict[str, Any]) -> WecomUnassignedPage:
    return WecomUnassignedPage(
        items=tuple(
            WecomUnassigned(
                handover_userid=_str(item, "handover_userid"),
                external_userid=_str(item, "external_userid"),
                dimission_time=_int(item, "dimission_time"),
            )
            for item in data.get("info") or []
        ),
        is_last=bool(data.get("is_last", True)),
        next_cursor=_str(data, "next_cursor"),
    )
