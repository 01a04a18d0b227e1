"""Messaging reads."""

from __future__ import annotations

from django.db.models import Q

from freshloop.messaging.models import WecomSandboxMessage
from freshloop.messaging.wecom.sandbox import sandbox_group_members


def wecom_sandbox_messages_for_contact(
    *, external_userid: str, limit: int = 100
) -> list[WecomSandboxMessage]:
    """What a customer's simulated phone shows, newest first: the 1:1 messages, moments and
    welcomes sent to them, and the messages of the sandbox groups they are in."""
    chats = sandbox_group_members(external_userid=external_userid)
    query = Q(external_userid=external_userid)
    if chats:
        query |= Q(chat_id__in=chats)
    return list(WecomSandboxMessage.objects.filter(query).order_by("-created_at", "-id")[:limit])
