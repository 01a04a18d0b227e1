"""The WeCom (企业微信) external-contact API: the calls SCRM and community make.

`WecomClient` is the interface; `WechatpyWecomClient` talks to a real corp through wechatpy's
enterprise client (`client.post` / `client.get` on qyapi.weixin.qq.com, request and answer
shapes from the 企业微信 server API docs, 客户联系 section); `SandboxWecomClient`
(wecom/sandbox.py) stands in offline. `wecom_client()` (wecom/__init__.py) picks one from the
settings.

The access token belongs to the (corp id, secret) pair: each secret (客户联系, a self-built app)
has its own token, and fetching a new one voids the old, so it lives in Django's cache (Redis in
production) through `core.wechat_session.DjangoCacheSessionStorage`, shared by every process.
wechatpy's own retry is off: this client drops an invalid token and tries once more, backs off
on rate limits, and turns every other errcode into a typed error (wecom/errors.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from freshloop.core.wechat_session import DjangoCacheSessionStorage
from freshloop.messaging.errors import (
    WecomError,
    WecomRateLimited,
    WecomTokenInvalid,
    WecomUnavailable,
    wecom_error,
)
from freshloop.messaging.wecom.types import (
    ChatType,
    WecomContactPage,
    WecomContent,
    WecomExternalContact,
    WecomGroupChat,
    WecomGroupChatPage,
    WecomGroupChatSummary,
    WecomMassMessageResult,
    WecomSendResultPage,
    WecomTagGroup,
    WecomTransferCustomer,
    WecomTransferResultPage,
    WecomUnassignedPage,
    contact_from_json,
    group_chat_from_json,
    send_result_from_json,
    tag_groups_from_json,
    transfer_customers_from_json,
    transfer_result_from_json,
    unassigned_from_json,
)

logger = logging.getLogger(__name__)

API_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
BATCH_LIMIT_MAX = 100  # batch/get_by_user: at most 100 per page
GROUPCHAT_LIMIT_MAX = 1000  # groupchat/list: 1..1000 per page


class WecomClient(Protocol):
    """The WeCom calls FreshLoop makes. Every method raises a `WecomError` subclass on failure."""

    name: str

    def follow_user_list(self) -> list[str]:
        """The staff members with the 客户联系 function (externalcontact/get_follow_user_list):
        who may follow, and take over, customers."""
        ...

    def external_contact_list(self, *, userid: str) -> list[str]:
        """The external_userids of one staff member's customers (externalcontact/list)."""
        ...

    def external_contact_get(self, *, external_userid: str) -> WecomExternalContact:
        """One customer with every staff member following them (externalcontact/get)."""
        ...

    def external_contacts_by_staff(
        self, *, userids: list[str], cursor: str = "", limit: int = BATCH_LIMIT_MAX
    ) -> WecomContactPage:
        """One page of the customers of up to 100 staff members (batch/get_by_user)."""
        ...

    def external_contact_remark(
        self,
        *,
        userid: str,
        external_userid: str,
        remark: str | None = None,
        description: str | None = None,
        remark_mobiles: list[str] | None = None,
    ) -> None: ...

    def corp_tag_list(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> tuple[WecomTagGroup, ...]: ...

    def mark_tag(
        self,
        *,
        userid: str,
        external_userid: str,
        add_tag: list[str] | None = None,
        remove_tag: list[str] | None = None,
    ) -> None: ...

    def add_corp_tag(
        self, *, group_name: str, tag_names: list[str], group_id: str = ""
    ) -> WecomTagGroup:
        """Create tags in a group (add_corp_tag): the group named `group_id`, else the group
        called `group_name` (WeCom creates it when missing). Returns the group with the new
        tags and their ids."""
        ...

    def del_corp_tag(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> None: ...

    def transfer_customer(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        external_userids: list[str],
        transfer_success_msg: str = "",
        resigned: bool = False,
    ) -> tuple[WecomTransferCustomer, ...]:
        """Give up to 100 customers of one staff member to another: 在职继承
        (externalcontact/transfer_customer) or, `resigned`, 离职继承
        (externalcontact/resigned/transfer_customer)."""
        ...

    def transfer_result(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        cursor: str = "",
        resigned: bool = False,
    ) -> WecomTransferResultPage:
        """Where the customers of one (handover, takeover) pair stand."""
        ...

    def unassigned_list(self, *, cursor: str = "", page_size: int = 1000) -> WecomUnassignedPage:
        """Customers of departed staff members not yet given to anyone."""
        ...

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
        """Create a mass message (企业群发) the sender confirms in WeCom: to customers
        (`single`) or to the sender's customer groups (`group`)."""
        ...

    def groupmsg_send_result(
        self, *, msgid: str, userid: str, cursor: str = "", limit: int = 500
    ) -> WecomSendResultPage:
        """Per recipient, whether one staff member's part of a mass message went out."""
        ...

    def add_moment_task(
        self,
        *,
        content: WecomContent,
        sender_userids: list[str] | None = None,
        customer_tag_ids: list[str] | None = None,
    ) -> str:
        """Create a moment (客户朋友圈) for staff to publish; returns WeCom's jobid."""
        ...

    def groupchat_list(
        self,
        *,
        owner_userids: list[str] | None = None,
        status_filter: int = 0,
        cursor: str = "",
        limit: int = GROUPCHAT_LIMIT_MAX,
    ) -> WecomGroupChatPage: ...

    def groupchat_get(self, *, chat_id: str) -> WecomGroupChat: ...

    def send_welcome_msg(self, *, welcome_code: str, content: WecomContent) -> None:
        """Greet a customer who just added a staff member (the callback's WelcomeCode, valid
        for 20 seconds)."""
        ...

    def group_welcome_template_add(self, *, content: WecomContent, notify: bool = True) -> str:
        """A 入群欢迎语 template (text plus at most one attachment); returns its template_id."""
        ...


def _limit(value: int, maximum: int) -> int:
    return max(1, min(int(value), maximum))


class WechatpyWecomClient:
    """A real corp, through wechatpy's enterprise client, with typed errors and retries."""

    name = "wecom"

    def __init__(
        self,
        *,
        corp_id: str,
        secret: str,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from wechatpy.enterprise import WeChatClient

        token_key = (
            f"wecom:{corp_id}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}:access_token"
        )

        class _CorpClient(WeChatClient):
            # wechatpy keys the token by the secret's first ten characters; two secrets of one
            # corp may share them, and the full secret must not sit in a cache key.
            @property
            def access_token_key(self) -> str:
                return token_key

        self._client = _CorpClient(
            corp_id,
            secret,
            session=DjangoCacheSessionStorage(),
            timeout=timeout,
            auto_retry=False,
        )
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._sleep = sleep

    # --- transport ---------------------------------------------------------------------

    def _drop_token(self) -> None:
        self._client.session.delete(self._client.access_token_key)
        self._client.expires_at = None

    def _once(self, method: str, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        from requests import RequestException
        from wechatpy.exceptions import WeChatClientException

        try:
            if method == "get":
                result = self._client.get(endpoint, params=dict(payload))
            else:
                result = self._client.post(endpoint, data=payload)
        except WeChatClientException as exc:
            errcode = None if exc.errcode is None else int(exc.errcode)
            raise wecom_error(errcode, str(exc.errmsg or "")) from exc
        except (RequestException, OSError, ValueError) as exc:
            raise WecomUnavailable(errcode=None, errmsg=type(exc).__name__) from exc
        if not isinstance(result, dict):
            raise WecomUnavailable(errcode=None, errmsg="answer is not JSON")
        return result

    def _call(self, method: str, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        token_renewed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, endpoint, payload)
            except WecomTokenInvalid:
                # Another process may have fetched a new token (voiding ours), or it expired
                # early: fetch once more. A second refusal is not a token problem.
                if token_renewed:
                    raise
                token_renewed = True
                attempt -= 1
                logger.info("wecom %s: access token refused, fetching a new one", endpoint)
                self._drop_token()
            except (WecomRateLimited, WecomUnavailable) as exc:
                if attempt >= self._max_attempts:
                    raise
                delay = self._backoff * (2 ** (attempt - 1))
                logger.warning(
                    "wecom %s: errcode %s, try %d of %d again in %.2fs",
                    endpoint,
                    exc.errcode,
                    attempt + 1,
                    self._max_attempts,
                    delay,
                )
                self._sleep(delay)

    def _get(self, endpoint: str, **params: Any) -> dict[str, Any]:
        return self._call("get", endpoint, params)

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("post", endpoint, body)

    # --- customers -----------------------------------------------------------------------

    def follow_user_list(self) -> list[str]:
        result = self._get("externalcontact/get_follow_user_list")
        return [str(item) for item in result.get("follow_user") or []]

    def external_contact_list(self, *, userid: str) -> list[str]:
        result = self._get("externalcontact/list", userid=userid)
        return [str(item) for item in result.get("external_userid") or []]

    def external_contact_get(self, *, external_userid: str) -> WecomExternalContact:
        # A customer followed by more than 500 staff members pages follow_user with a cursor.
        follow_users: list[dict[str, Any]] = []
        contact: dict[str, Any] = {}
        cursor = ""
        while True:
            params = {"external_userid": external_userid}
            if cursor:
                params["cursor"] = cursor
            result = self._get("externalcontact/get", **params)
            contact = result.get("external_contact") or contact
            follow_users.extend(result.get("follow_user") or [])
            cursor = str(result.get("next_cursor") or "")
            if not cursor:
                return contact_from_json(contact, follow_users)

    def external_contacts_by_staff(
        self, *, userids: list[str], cursor: str = "", limit: int = BATCH_LIMIT_MAX
    ) -> WecomContactPage:
        result = self._post(
            "externalcontact/batch/get_by_user",
            {"userid_list": list(userids), "cursor": cursor, "limit": _limit(limit, 100)},
        )
        contacts = tuple(
            contact_from_json(item.get("external_contact") or {}, [item.get("follow_info") or {}])
            for item in result.get("external_contact_list") or []
        )
        return WecomContactPage(contacts=contacts, next_cursor=str(result.get("next_cursor") or ""))

    def external_contact_remark(
        self,
        *,
        userid: str,
        external_userid: str,
        remark: str | None = None,
        description: str | None = None,
        remark_mobiles: list[str] | None = None,
    ) -> None:
        # Only the fields given are sent: WeCom leaves absent ones as they are.
        body: dict[str, Any] = {"userid": userid, "external_userid": external_userid}
        if remark is not None:
            body["remark"] = remark
        if description is not None:
            body["description"] = description
        if remark_mobiles is not None:
            body["remark_mobiles"] = list(remark_mobiles)
        self._post("externalcontact/remark", body)

    def corp_tag_list(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> tuple[WecomTagGroup, ...]:
        body: dict[str, Any] = {}
        if tag_ids:
            body["tag_id"] = list(tag_ids)
        if group_ids:
            body["group_id"] = list(group_ids)
        result = self._post("externalcontact/get_corp_tag_list", body)
        return tag_groups_from_json(result.get("tag_group") or [])

    def mark_tag(
        self,
        *,
        userid: str,
        external_userid: str,
        add_tag: list[str] | None = None,
        remove_tag: list[str] | None = None,
    ) -> None:
        body: dict[str, Any] = {"userid": userid, "external_userid": external_userid}
        if add_tag:
            body["add_tag"] = list(add_tag)
        if remove_tag:
            body["remove_tag"] = list(remove_tag)
        self._post("externalcontact/mark_tag", body)

    def add_corp_tag(
        self, *, group_name: str, tag_names: list[str], group_id: str = ""
    ) -> WecomTagGroup:
        body: dict[str, Any] = {"tag": [{"name": name} for name in tag_names]}
        if group_id:
            body["group_id"] = group_id
        else:
            body["group_name"] = group_name
        result = self._post("externalcontact/add_corp_tag", body)
        groups = tag_groups_from_json([result.get("tag_group") or {}])
        return groups[0] if groups else WecomTagGroup(group_id="", name=group_name, tags=())

    def del_corp_tag(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> None:
        body: dict[str, Any] = {}
        if tag_ids:
            body["tag_id"] = list(tag_ids)
        if group_ids:
            body["group_id"] = list(group_ids)
        self._post("externalcontact/del_corp_tag", body)

    # --- customer transfer (在职继承 / 离职继承) ------------------------------------------------

    def transfer_customer(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        external_userids: list[str],
        transfer_success_msg: str = "",
        resigned: bool = False,
    ) -> tuple[WecomTransferCustomer, ...]:
        body: dict[str, Any] = {
            "handover_userid": handover_userid,
            "takeover_userid": takeover_userid,
            "external_userid": list(external_userids),
        }
        # Only 在职继承 notifies the customer (离职继承 has no such field).
        if transfer_success_msg and not resigned:
            body["transfer_success_msg"] = transfer_success_msg
        endpoint = "externalcontact/" + ("resigned/" if resigned else "") + "transfer_customer"
        return transfer_customers_from_json(self._post(endpoint, body))

    def transfer_result(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        cursor: str = "",
        resigned: bool = False,
    ) -> WecomTransferResultPage:
        body: dict[str, Any] = {
            "handover_userid": handover_userid,
            "takeover_userid": takeover_userid,
        }
        if cursor:
            body["cursor"] = cursor
        endpoint = "externalcontact/" + ("resigned/" if resigned else "") + "transfer_result"
        return transfer_result_from_json(self._post(endpoint, body))

    def unassigned_list(self, *, cursor: str = "", page_size: int = 1000) -> WecomUnassignedPage:
        body: dict[str, Any] = {"page_size": _limit(page_size, 1000)}
        if cursor:
            body["cursor"] = cursor
        return unassigned_from_json(self._post("externalcontact/get_unassigned_list", body))

    # --- mass messages and moments --------------------------------------------------------

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
        body: dict[str, Any] = {"chat_type": chat_type, **content.as_json()}
        if sender:
            body["sender"] = sender
        if external_userids:
            body["external_userid"] = list(external_userids)
        if chat_ids:
            body["chat_id_list"] = list(chat_ids)
        if allow_select:
            body["allow_select"] = True
        result = self._post("externalcontact/add_msg_template", body)
        return WecomMassMessageResult(
            msgid=str(result.get("msgid") or ""),
            fail_list=tuple(str(item) for item in result.get("fail_list") or []),
        )

    def groupmsg_send_result(
        self, *, msgid: str, userid: str, cursor: str = "", limit: int = 500
    ) -> WecomSendResultPage:
        body: dict[str, Any] = {"msgid": msgid, "userid": userid, "limit": _limit(limit, 1000)}
        if cursor:
            body["cursor"] = cursor
        return send_result_from_json(self._post("externalcontact/get_groupmsg_send_result", body))

    def add_moment_task(
        self,
        *,
        content: WecomContent,
        sender_userids: list[str] | None = None,
        customer_tag_ids: list[str] | None = None,
    ) -> str:
        body: dict[str, Any] = dict(content.as_json())
        visible: dict[str, Any] = {}
        if sender_userids:
            visible["sender_list"] = {"user_list": list(sender_userids)}
        if customer_tag_ids:
            visible["external_contact_list"] = {"tag_list": list(customer_tag_ids)}
        if visible:
            body["visible_range"] = visible
        result = self._post("externalcontact/add_moment_task", body)
        return str(result.get("jobid") or "")

    # --- customer groups -------------------------------------------------------------------

    def groupchat_list(
        self,
        *,
        owner_userids: list[str] | None = None,
        status_filter: int = 0,
        cursor: str = "",
        limit: int = GROUPCHAT_LIMIT_MAX,
    ) -> WecomGroupChatPage:
        body: dict[str, Any] = {
            "status_filter": status_filter,
            "limit": _limit(limit, GROUPCHAT_LIMIT_MAX),
        }
        if owner_userids:
            body["owner_filter"] = {"userid_list": list(owner_userids)}
        if cursor:
            body["cursor"] = cursor
        result = self._post("externalcontact/groupchat/list", body)
        return WecomGroupChatPage(
            chats=tuple(
                WecomGroupChatSummary(
                    chat_id=str(item.get("chat_id") or ""), status=int(item.get("status") or 0)
                )
                for item in result.get("group_chat_list") or []
            ),
            next_cursor=str(result.get("next_cursor") or ""),
        )

    def groupchat_get(self, *, chat_id: str) -> WecomGroupChat:
        result = self._post("externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})
        return group_chat_from_json(result.get("group_chat") or {})

    def send_welcome_msg(self, *, welcome_code: str, content: WecomContent) -> None:
        self._post(
            "externalcontact/send_welcome_msg", {"welcome_code": welcome_code, **content.as_json()}
        )

    def group_welcome_template_add(self, *, content: WecomContent, notify: bool = True) -> str:
        # This API takes its attachment as a top-level key (image / link / miniprogram), not
        # an `attachments` list like the others.
        body: dict[str, Any] = {"notify": 1 if notify else 0}
        if content.text:
            body["text"] = {"content": content.text}
        if content.attachments:
            attachment = content.attachments[0].as_json()
            kind = attachment["msgtype"]
            body[kind] = attachment[kind]
        result = self._post("externalcontact/group_welcome_template/add", body)
        return str(result.get("template_id") or "")


__all__ = ["WechatpyWecomClient", "WecomClient", "WecomError"]
