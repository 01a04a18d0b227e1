"""Reads of the messaging module: a person's outbound messages with the policy's decision on
each, for the 360° timeline ("由旅程 12 第 3 步发送" / "未发送：免打扰时段，08:00 发送"), and
what the WeCom sandbox recorded for a customer's simulated phone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q

from freshloop.messaging import policy

# The policy's dry run (mass-message preview counts) lives beside the policy it runs.
from freshloop.messaging.marketing_preview import marketing_preview as marketing_preview
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
    message_class_label: str
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
                message_class_label=str(MessageClass(dispatch.message_class).label),
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


def marketing_opted_out_channel_labels(*, person_id: int) -> list[str]:
    """The channels a person opted out of marketing on, as people read them (企业微信, 短信)."""
    return [
        policy.channel_label(channel)
        for channel in marketing_opted_out_channels(person_id=person_id)
    ]


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


def marketing_outcomes(*, source: str) -> dict[tuple[str, str], int]:
    """How the marketing sends of one source (a mass message's "mass:7") came out: the number
    of decisions per (status, reason code), e.g. ("sent", "allowed"), ("suppressed",
    "frequency_cap"), ("held", "quiet_hours")."""
    rows = (
        MarketingDispatch.objects.filter(message_class=MessageClass.MARKETING, source=source)
        .values("status", "reason_code")
        .annotate(n=Count("pk"))
        .values_list("status", "reason_code", "n")
    )
    return {(status, reason): n for status, reason, n in rows}


def marketing_quiet_release(*, at: dt.datetime) -> dt.datetime | None:
    """When the quiet hours holding `at` end (a marketing send then is held until this
    time), or None outside them."""
    return policy.quiet_hours_end(at, policy.policy_settings())


@dataclass(frozen=True)
class InboxMessage:
    """One in-app message as the person reads it."""

    at: dt.datetime
    title: str
    body: str
    url: str


def inbox_for_person(*, person_id: int, limit: int = 50) -> list[InboxMessage]:
    """The person's in-app messages that were delivered, newest first."""
    found = []
    for dispatch in (
        MarketingDispatch.objects.filter(
            person_id=person_id, channel="in_app", status=DispatchStatus.SENT
        )
        .select_related("outbox_message")
        .order_by("-queued_at", "-pk")[:limit]
    ):
        payload = dispatch.outbox_message.payload if dispatch.outbox_message else {}
        payload = payload if isinstance(payload, dict) else {}
        order_no = str(payload.get("order_no", ""))
        found.append(
            InboxMessage(
                at=dispatch.queued_at or dispatch.created_at,
                title=str(payload.get("title", "")) or dispatch.purpose,
                body=str(payload.get("body", "")),
                url=str(payload.get("url", "")) or (f"/m/orders/{order_no}" if order_no else ""),
            )
        )
    return found
