"""The WeCom sandbox: the same calls as a real corp, offline, with every message recorded.

Chosen by `wecom_client()` when no corp is configured (development, `make demo`, tests). It
keeps a small fake directory — staff members, customers, tags, customer groups — and checks
each call the way WeCom does, answering with the errcode WeCom would send, turned into the same
typed error (an unknown customer is 84061 / 40096, empty content 40058, an unknown tag 40068…).
Every call that carries content is recorded as `WecomSandboxMessage` rows (who sent what to
which customer or group, when), which `selectors.wecom_sandbox_messages_for_contact` reads for
the console's simulated phone.

The directory lives in Django's cache, so the web process and the worker (Redis in the demo)
see the customers a test or the demo added with `sandbox_contact_add`; it starts from
`SEED_DIRECTORY`. Mass messages count as confirmed and sent at once: the sandbox has no staff
member to tap "send".
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import cache

from freshloop.core import clock
from freshloop.messaging.models import WecomSandboxMessage, WecomSandboxMessageKind
from freshloop.messaging.wecom.sandbox_store import (
    DIRECTORY_CACHE_KEY,
    SANDBOX_CORP_ID,
    SEED_DIRECTORY,
    WELCOME_CODE_PREFIX,
)
from freshloop.messaging.wecom.sandbox_store import directory as _directory
from freshloop.messaging.wecom.sandbox_store import refuse as _refuse
from freshloop.messaging.wecom.sandbox_store import save as _save
from freshloop.messaging.wecom.sandbox_transfer import SandboxAdminMixin
from freshloop.messaging.wecom.types import (
    MAX_ATTACHMENTS,
    MAX_TEXT_BYTES,
    ChatType,
    WecomContactPage,
    WecomContent,
    WecomExternalContact,
    WecomFollowUser,
    WecomGroupChat,
    WecomGroupChatPage,
    WecomGroupChatSummary,
    WecomGroupMember,
    WecomMassMessageResult,
    WecomSendResultPage,
    WecomSendStatus,
    WecomTag,
    WecomTagGroup,
)

MAX_MASS_CUSTOMERS = 10000  # add_msg_template: external_userid holds at most 10,000 ids

__all__ = ["DIRECTORY_CACHE_KEY", "SANDBOX_CORP_ID", "SEED_DIRECTORY", "SandboxWecomClient"]


def sandbox_directory_reset() -> None:
    """Back to the seed directory (tests, a fresh demo)."""
    cache.delete(DIRECTORY_CACHE_KEY)


def sandbox_contact_add(
    *, staff_userid: str, external_userid: str, name: str, unionid: str = ""
) -> str:
    """Make `external_userid` a customer of `staff_userid` in the sandbox; returns the
    WelcomeCode a real add_external_contact callback would carry."""
    directory = _directory()
    if staff_userid not in directory["staff"]:
        directory["staff"] = [*directory["staff"], staff_userid]
    directory["contacts"] = {
        **directory["contacts"],
        external_userid: {"name": name, "unionid": unionid},
    }
    directory["follows"] = {
        **directory["follows"],
        f"{staff_userid}|{external_userid}": {
            "remark": "",
            "tags": [],
            "at": int(clock.now().timestamp()),
        },
    }
    _save(directory)
    return f"{WELCOME_CODE_PREFIX}:{staff_userid}:{external_userid}"


def sandbox_group_members(*, external_userid: str) -> list[str]:
    """The sandbox groups `external_userid` is in (the simulated phone shows their messages)."""
    groups = _directory()["groups"]
    return [chat_id for chat_id, group in groups.items() if external_userid in group["members"]]


def sandbox_staff() -> list[str]:
    """The sandbox corp's staff members (the 跟进人 a simulated customer can add)."""
    return list(_directory()["staff"])


def sandbox_contacts() -> list[WecomExternalContact]:
    """Every customer of the sandbox corp with the staff who follow them, by external_userid:
    the customer list of the console's simulated phone."""
    client = SandboxWecomClient()
    directory = _directory()
    return [
        client._contact_out(directory, external_userid)
        for external_userid in sorted(directory["contacts"])
    ]


def sandbox_group_name(*, chat_id: str) -> str:
    return str(_directory()["groups"].get(chat_id, {}).get("name", ""))


def _check_content(content: WecomContent, *, max_attachments: int = MAX_ATTACHMENTS) -> None:
    if not content.text.strip() and not content.attachments:
        _refuse(40058, "text and attachments can not be both empty")
    if len(content.text.encode()) > MAX_TEXT_BYTES:
        _refuse(45002, f"text.content exceeds {MAX_TEXT_BYTES} bytes")
    if len(content.attachments) > max_attachments:
        _refuse(40058, f"attachments exceed {max_attachments}")


def _attachments(content: WecomContent) -> list[dict[str, Any]]:
    return [attachment.as_json() for attachment in content.attachments]


class SandboxWecomClient(SandboxAdminMixin):
    """Offline WeCom: validates like WeCom, answers from the fake directory, records sends."""

    name = "sandbox"
    corp_id = SANDBOX_CORP_ID

    # --- directory checks --------------------------------------------------------------

    def _staff(self, directory: dict[str, Any], userid: str) -> None:
        if userid not in directory["staff"]:
            _refuse(40003, f"invalid userid {userid[:64]}")

    def _contact(self, directory: dict[str, Any], external_userid: str) -> dict[str, Any]:
        contact = directory["contacts"].get(external_userid)
        if contact is None:
            _refuse(40096, f"invalid external userid {external_userid[:64]}")
        return dict(contact)

    def _follow(self, directory: dict[str, Any], userid: str, external_userid: str) -> str:
        self._staff(directory, userid)
        self._contact(directory, external_userid)
        key = f"{userid}|{external_userid}"
        if key not in directory["follows"]:
            _refuse(84061, "not external contact")
        return key

    def _tag_ids(self, directory: dict[str, Any]) -> set[str]:
        return {tag_id for group in directory["tag_groups"] for tag_id, _ in group["tags"]}

    def _contact_out(
        self, directory: dict[str, Any], external_userid: str, only_staff: str | None = None
    ) -> WecomExternalContact:
        contact = self._contact(directory, external_userid)
        follows = []
        for key, follow in directory["follows"].items():
            staff, _, customer = key.partition("|")
            if customer == external_userid and only_staff in (None, staff):
                follows.append(
                    WecomFollowUser(
                        userid=staff,
                        remark=follow["remark"],
                        createtime=follow["at"],
                        tag_ids=tuple(follow["tags"]),
                    )
                )
        return WecomExternalContact(
            external_userid=external_userid,
            name=contact["name"],
            unionid=contact.get("unionid", ""),
            follow_users=tuple(follows),
        )

    # --- customers -------------------------------------------------------------------

    def external_contact_list(self, *, userid: str) -> list[str]:
        directory = _directory()
        self._staff(directory, userid)
        return [
            key.partition("|")[2] for key in directory["follows"] if key.partition("|")[0] == userid
        ]

    def external_contact_get(self, *, external_userid: str) -> WecomExternalContact:
        directory = _directory()
        contact = self._contact_out(directory, external_userid)
        if not contact.follow_users:
            _refuse(84061, "not external contact")
        return contact

    def external_contacts_by_staff(
        self, *, userids: list[str], cursor: str = "", limit: int = 100
    ) -> WecomContactPage:
        directory = _directory()
        if not userids or len(userids) > 100:
            _refuse(40058, "userid_list must hold 1 to 100 userids")
        for userid in userids:
            self._staff(directory, userid)
        pairs = [
            key.partition("|")
            for key in sorted(directory["follows"])
            if key.partition("|")[0] in userids
        ]
        start = int(cursor) if cursor.isdigit() else 0
        size = max(1, min(limit, 100))
        page = pairs[start : start + size]
        contacts = tuple(
            self._contact_out(directory, customer, only_staff=staff) for staff, _, customer in page
        )
        more = start + size < len(pairs)
        return WecomContactPage(contacts=contacts, next_cursor=str(start + size) if more else "")

    def external_contact_remark(
        self,
        *,
        userid: str,
        external_userid: str,
        remark: str | None = None,
        description: str | None = None,
        remark_mobiles: list[str] | None = None,
    ) -> None:
        directory = _directory()
        key = self._follow(directory, userid, external_userid)
        if remark is not None:
            if len(remark) > 20:
                _refuse(40058, "remark exceeds 20 characters")
            directory["follows"] = {
                **directory["follows"],
                key: {**directory["follows"][key], "remark": remark},
            }
            _save(directory)

    def corp_tag_list(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> tuple[WecomTagGroup, ...]:
        groups = []
        for group in _directory()["tag_groups"]:
            if group_ids and group["group_id"] not in group_ids:
                continue
            tags = tuple(
                WecomTag(
                    tag_id=tag_id, name=name, group_id=group["group_id"], group_name=group["name"]
                )
                for tag_id, name in group["tags"]
                if not tag_ids or tag_id in tag_ids
            )
            if tags or not tag_ids:
                groups.append(
                    WecomTagGroup(group_id=group["group_id"], name=group["name"], tags=tags)
                )
        return tuple(groups)

    def mark_tag(
        self,
        *,
        userid: str,
        external_userid: str,
        add_tag: list[str] | None = None,
        remove_tag: list[str] | None = None,
    ) -> None:
        directory = _directory()
        key = self._follow(directory, userid, external_userid)
        if not add_tag and not remove_tag:
            _refuse(40058, "add_tag and remove_tag can not be both empty")
        known = self._tag_ids(directory)
        unknown = [tag for tag in [*(add_tag or []), *(remove_tag or [])] if tag not in known]
        if unknown:
            _refuse(40068, f"invalid tagid {unknown[0][:64]}")
        tags = [tag for tag in directory["follows"][key]["tags"] if tag not in (remove_tag or [])]
        tags += [tag for tag in add_tag or [] if tag not in tags]
        directory["follows"] = {
            **directory["follows"],
            key: {**directory["follows"][key], "tags": tags},
        }
        _save(directory)

    # --- mass messages and moments ---------------------------------------------------------

    def add_msg_template(
        self,
        *,
        chat_type: ChatType,
        content: WecomContent,
        sender: str = "",
        external_userids: list[str] | None = None,
        chat_ids: list[str] | None = None,
        allow_select: bool = False,
    ) -> WecomMassMessageResult:
        directory = _directory()
        if chat_type not in ("single", "group"):
            _refuse(40058, "chat_type must be single or group")
        _check_content(content)
        if sender:
            self._staff(directory, sender)
        elif chat_type == "group" or not external_userids:
            # Without a sender WeCom needs the customers; a group message always has a sender.
            _refuse(40058, "sender is required")
        msgid = f"msg_sandbox_{secrets.token_hex(8)}"
        rows: list[WecomSandboxMessage] = []
        failed: list[str] = []
        attachments = _attachments(content)
        if chat_type == "single":
            if len(external_userids or []) > MAX_MASS_CUSTOMERS:
                _refuse(40058, f"external_userid exceeds {MAX_MASS_CUSTOMERS}")
            # No customers named: WeCom sends to every customer of the sender.
            targets = external_userids or [
                key.partition("|")[2]
                for key in directory["follows"]
                if key.partition("|")[0] == sender
            ]
            for external_userid in targets:
                followers = [
                    key.partition("|")[0]
                    for key in directory["follows"]
                    if key.partition("|")[2] == external_userid
                ]
                if sender:
                    staff = sender if sender in followers else ""
                else:
                    staff = followers[0] if followers else ""
                if not staff:
                    failed.append(external_userid)  # WeCom lists unreachable ids in fail_list
                    continue
                rows.append(
                    WecomSandboxMessage(
                        kind=WecomSandboxMessageKind.SINGLE,
                        staff_userid=staff,
                        external_userid=external_userid,
                        wecom_id=msgid,
                        text=content.text,
                        attachments=attachments,
                        created_at=clock.now(),
                    )
                )
        else:
            groups = directory["groups"]
            owned = [chat_id for chat_id, group in groups.items() if group["owner"] == sender]
            for chat_id in chat_ids or owned:
                if chat_id not in owned:
                    failed.append(chat_id)
                    continue
                rows.append(
                    WecomSandboxMessage(
                        kind=WecomSandboxMessageKind.GROUP,
                        staff_userid=sender,
                        chat_id=chat_id,
                        wecom_id=msgid,
                        text=content.text,
                        attachments=attachments,
                        created_at=clock.now(),
                    )
                )
        WecomSandboxMessage.objects.bulk_create(rows)
        return WecomMassMessageResult(msgid=msgid, fail_list=tuple(failed))

    def groupmsg_send_result(
        self, *, msgid: str, userid: str, cursor: str = "", limit: int = 500
    ) -> WecomSendResultPage:
        rows = WecomSandboxMessage.objects.filter(wecom_id=msgid, staff_userid=userid).order_by(
            "id"
        )
        if not WecomSandboxMessage.objects.filter(wecom_id=msgid).exists():
            _refuse(40058, f"invalid msgid {msgid[:64]}")
        start = int(cursor) if cursor.isdigit() else 0
        size = max(1, min(limit, 1000))
        page = list(rows[start : start + size + 1])
        items = tuple(
            WecomSendStatus(
                userid=row.staff_userid,
                status=1,
                external_userid=row.external_userid,
                chat_id=row.chat_id,
                send_time=int(row.created_at.timestamp()),
            )
            for row in page[:size]
        )
        return WecomSendResultPage(
            items=items, next_cursor=str(start + size) if len(page) > size else ""
        )

    def add_moment_task(
        self,
        *,
        content: WecomContent,
        sender_userids: list[str] | None = None,
        customer_tag_ids: list[str] | None = None,
    ) -> str:
        directory = _directory()
        _check_content(content)
        for userid in sender_userids or []:
            self._staff(directory, userid)
        known = self._tag_ids(directory)
        for tag in customer_tag_ids or []:
            if tag not in known:
                _refuse(40068, f"invalid tagid {tag[:64]}")
        jobid = f"job_sandbox_{secrets.token_hex(8)}"
        attachments = _attachments(content)
        # A moment is seen by each customer of the posting staff members (narrowed by tags).
        rows: dict[str, WecomSandboxMessage] = {}
        for key, follow in directory["follows"].items():
            staff, _, customer = key.partition("|")
            if sender_userids and staff not in sender_userids:
                continue
            if customer_tag_ids and not set(customer_tag_ids) & set(follow["tags"]):
                continue
            rows.setdefault(
                customer,
                WecomSandboxMessage(
                    kind=WecomSandboxMessageKind.MOMENT,
                    staff_userid=staff,
                    external_userid=customer,
                    wecom_id=jobid,
                    text=content.text,
                    attachments=attachments,
                    created_at=clock.now(),
                ),
            )
        WecomSandboxMessage.objects.bulk_create(rows.values())
        return jobid

    # --- customer groups -----------------------------------------------------------------

    def groupchat_list(
        self,
        *,
        owner_userids: list[str] | None = None,
        status_filter: int = 0,
        cursor: str = "",
        limit: int = 1000,
    ) -> WecomGroupChatPage:
        if not 1 <= limit <= 1000:
            _refuse(40058, "limit must be 1 to 1000")
        groups = _directory()["groups"]
        chats = [
            chat_id
            for chat_id, group in sorted(groups.items())
            if not owner_userids or group["owner"] in owner_userids
        ]
        start = int(cursor) if cursor.isdigit() else 0
        page = chats[start : start + limit]
        more = start + limit < len(chats)
        return WecomGroupChatPage(
            chats=tuple(WecomGroupChatSummary(chat_id=chat_id) for chat_id in page),
            next_cursor=str(start + limit) if more else "",
        )

    def groupchat_get(self, *, chat_id: str) -> WecomGroupChat:
        directory = _directory()
        group = directory["groups"].get(chat_id)
        if group is None:
            _refuse(40050, f"chatid {chat_id[:64]} not found")
        joined = group.get("joined") or {}  # member → [join_time, join_scene] (sandbox_groups)
        members = tuple(
            WecomGroupMember(
                userid=member,
                type=1 if member in directory["staff"] else 2,
                name=directory["contacts"].get(member, {}).get("name", ""),
                unionid=directory["contacts"].get(member, {}).get("unionid", ""),
                join_time=int(joined.get(member, [0, 0])[0]),
                join_scene=int(joined.get(member, [0, 0])[1]),
            )
            for member in group["members"]
        )
        return WecomGroupChat(
            chat_id=chat_id,
            name=group["name"],
            owner=group["owner"],
            create_time=int(group.get("create_time") or 0),
            members=members,
            admins=(),
        )

    def send_welcome_msg(self, *, welcome_code: str, content: WecomContent) -> None:
        _check_content(content)
        prefix, staff, external_userid = [*welcome_code.split(":"), "", ""][:3]
        directory = _directory()
        if (
            prefix != WELCOME_CODE_PREFIX
            or f"{staff}|{external_userid}" not in directory["follows"]
        ):
            _refuse(40058, "invalid welcome_code")
        WecomSandboxMessage.objects.create(
            kind=WecomSandboxMessageKind.WELCOME,
            staff_userid=staff,
            external_userid=external_userid,
            wecom_id=welcome_code[:64],
            text=content.text,
            attachments=_attachments(content),
            created_at=clock.now(),
        )

    def group_welcome_template_add(self, *, content: WecomContent, notify: bool = True) -> str:
        _check_content(content, max_attachments=1)
        template_id = f"tpl_sandbox_{secrets.token_hex(8)}"
        WecomSandboxMessage.objects.create(
            kind=WecomSandboxMessageKind.GROUP_WELCOME_TEMPLATE,
            wecom_id=template_id,
            text=content.text,
            attachments=_attachments(content),
            created_at=clock.now(),
        )
        return template_id
