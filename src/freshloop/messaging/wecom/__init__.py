"""WeCom (企业微信) for every module: the API client, its sandbox, the callback handling.

Higher modules (scrm, community) call `wecom_client()` and use the types below; the callback
endpoint publishes `messaging.events.WecomContactChanged` / `WecomGroupChatChanged`; the
errors are re-exported by `messaging.errors`. docs/scrm.md tells how to connect a real corp.
"""

from __future__ import annotations

import logging

from django.conf import settings

from freshloop.messaging.wecom.client import WechatpyWecomClient, WecomClient
from freshloop.messaging.wecom.sandbox import (
    SandboxWecomClient,
    sandbox_contact_add,
    sandbox_contacts,
    sandbox_directory_reset,
    sandbox_group_name,
    sandbox_staff,
)
from freshloop.messaging.wecom.sandbox_groups import (
    sandbox_group_create,
    sandbox_group_join,
    sandbox_group_leave,
    sandbox_group_rename,
)
from freshloop.messaging.wecom.sandbox_transfer import (
    sandbox_staff_resign,
    sandbox_transfer_settle,
)
from freshloop.messaging.wecom.types import (
    TRANSFER_MAX_CUSTOMERS,
    TRANSFER_SUCCESS_MSG_MAX,
    WecomAttachment,
    WecomContactPage,
    WecomContent,
    WecomExternalContact,
    WecomFollowUser,
    WecomGroupChat,
    WecomGroupChatPage,
    WecomGroupChatSummary,
    WecomGroupMember,
    WecomImage,
    WecomLink,
    WecomMassMessageResult,
    WecomMiniProgram,
    WecomSendResultPage,
    WecomSendStatus,
    WecomTag,
    WecomTagGroup,
    WecomTransferCustomer,
    WecomTransferResultPage,
    WecomTransferStatus,
    WecomUnassigned,
    WecomUnassignedPage,
)

logger = logging.getLogger(__name__)


def wecom_client() -> WecomClient:
    """The corp the settings configure (FRESHLOOP_WECOM_CORP_ID + 客户联系 secret), or the
    sandbox when there is none. Cheap to build: the token lives in the shared cache."""
    wecom = settings.FRESHLOOP.wecom
    if wecom.configured:
        return WechatpyWecomClient(
            corp_id=wecom.corp_id,
            secret=wecom.contact_secret,
            timeout=wecom.timeout_seconds,
            max_attempts=wecom.max_attempts,
            backoff_seconds=wecom.backoff_seconds,
        )
    if settings.FRESHLOOP.is_production:
        logger.warning("no WeCom corp configured: WeCom calls go to the sandbox and reach nobody")
    return SandboxWecomClient()


__all__ = [
    "TRANSFER_MAX_CUSTOMERS",
    "TRANSFER_SUCCESS_MSG_MAX",
    "SandboxWecomClient",
    "WechatpyWecomClient",
    "WecomAttachment",
    "WecomClient",
    "WecomContactPage",
    "WecomContent",
    "WecomExternalContact",
    "WecomFollowUser",
    "WecomGroupChat",
    "WecomGroupChatPage",
    "WecomGroupChatSummary",
    "WecomGroupMember",
    "WecomImage",
    "WecomLink",
    "WecomMassMessageResult",
    "WecomMiniProgram",
    "WecomSendResultPage",
    "WecomSendStatus",
    "WecomTag",
    "WecomTagGroup",
    "WecomTransferCustomer",
    "WecomTransferResultPage",
    "WecomTransferStatus",
    "WecomUnassigned",
    "WecomUnassignedPage",
    "sandbox_contact_add",
    "sandbox_contacts",
    "sandbox_directory_reset",
    "sandbox_group_create",
    "sandbox_group_join",
    "sandbox_group_leave",
    "sandbox_group_name",
    "sandbox_group_rename",
    "sandbox_staff",
    "sandbox_staff_resign",
    "sandbox_transfer_settle",
    "wecom_client",
]
