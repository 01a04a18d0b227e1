"""Reads of the messaging module: a person's outbound messages with the policy's decision on
each, for the 360° timeline ("由旅程 12 第 3 步发送" / "未发送：免打扰时段，08:00 发送"), and
what the WeCom sandbox recorded for a customer's simulated phone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q

from freshloop.messaging import policy
from freshloop.messaging.models import (
    DispatchStatus,
    MarketingConsent,
    MarketingDispatch,
    MessageClass,
    WecomSandboxMessage,
)
from freshloop.messaging.wecom.sandbox import sandbox_group_members


@dataclass(frozen=True)
class DispatchEntry:
    """One outbound message on a person's timeline."""

    dispatch_id: int
    at: dt.datetime
    channel: str
    channel_label: str
    message_class: str
    purpose: str
    source: str
    source_label: str
    status: str
    status_label: str
    reason_code: str
    reason: str
    scheduled_for: dt.datetime | None
    outbox_message_id: int | None
    summary: str


def _summary(dispatch: MarketingDispatch, source_label: str) -> str:
    by = f"由{source_label}" if source_label else ""
    if dispatch.status == DispatchStatus.SUPPRESSED:
        return f"未发送：{dispatch.reason}"
    if dispatch.status == DispatchStatus.HELD:
        return f"暂缓：{dispatch.reason}"
    if dispatch.status == DispatchStatus.FAILED:
        return f"发送失败：{dispatch.reason}"
    if dispatch.status == DispatchStatus.PENDING_CONFIRMATION:
        return f"{by}发起，待员工确认"
    if dispatch.status == DispatchStatus.SENT:
        return f"{by}发送"
    return f"{by}发送（排队中）"


def marketing_timeline_for_person(*, person_id: int, limit: int = 100) -> list[DispatchEntry]:
    """A person's outbound messages, newest first, each with the decision and its reason."""
    entries = []
    rows = MarketingDispatch.objects.filter(person_id=person_id).order_by("-created_at", "-pk")
    for dispatch in rows[:limit]:
        label = policy.source_label(dispatch.source)
        entries.append(
            DispatchEntry(
                dispatch_id=dispatch.pk,
                at=dispatch.created_at,
                channel=dispatch.channel,
                channel_label=policy.channel_label(dispatch.channel),
                message_class=dispatch.message_class,
                purpose=dispatch.purpose,
                source=dispatch.source,
                source_label=label,
                status=dispatch.status,
                status_label=str(DispatchStatus(dispatch.status).label),
                reason_code=dispatch.reason_code,
                reason=dispatch.reason,
                scheduled_for=dispatch.scheduled_for,
                outbox_message_id=dispatch.outbox_message_id,
                summary=_summary(dispatch, label),
            )
        )
    return entries


def marketing_opted_out_channels(*, person_id: int) -> list[str]:
    """The channels a person opted out of marketing on."""
    return sorted(
        MarketingConsent.objects.filter(person_id=person_id, opted_out=True).values_list(
            "channel", flat=True
        )
    )


def marketing_sent_count(*, source_prefix: str) -> int:
    """Marketing messages that went out (or wait for a staff member) for a source, e.g. a
    journey step's "journey:12:step:3" (per-step stats above messaging)."""
    return MarketingDispatch.objects.filter(
        message_class=MessageClass.MARKETING,
        source__startswith=source_prefix,
        status__in=[DispatchStatus.SENT, DispatchStatus.PENDING_CONFIRMATION],
    ).count()


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
