"""Reads of community operations: groups, 活码, welcome templates, topics, challenges; group
message counts, assistant replies, check-ins and draws (one block per feature)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate

from freshloop.community.checkin import checkin_calendar, checkin_current_streak, checkin_day
from freshloop.community.draws import group_draw_verify, winner_names
from freshloop.community.errors import (
    ChallengeNotFound,
    DrawNotFound,
    GroupNotFound,
    JoinCodeNotFound,
    RuleNotFound,
    TopicNotFound,
    WelcomeTemplateNotFound,
)
from freshloop.community.models import (
    AssistantReply,
    AssistantRule,
    CustomerGroup,
    GroupChallenge,
    GroupDraw,
    GroupMember,
    GroupMessage,
    JoinCode,
    JoinCodeGroup,
    ReplyChannel,
    ReplyStatus,
    SenderType,
    TopicPrompt,
    TopicSend,
    WelcomeTemplate,
)
from freshloop.core import clock


def group_list() -> QuerySet[CustomerGroup]:
    return CustomerGroup.objects.select_related("welcome_template").order_by("status", "-id")


def group_get(*, chat_id: str) -> CustomerGroup:
    group = CustomerGroup.objects.select_related("welcome_template").filter(chat_id=chat_id).first()
    if group is None:
        raise GroupNotFound(detail={"chat_id": chat_id[:128]})
    return group


def group_members(*, group: CustomerGroup) -> QuerySet[GroupMember]:
    return GroupMember.objects.filter(group=group, left_at__isnull=True).order_by(
        "member_type", "join_time", "id"
    )


def join_code_list() -> QuerySet[JoinCode]:
    return JoinCode.objects.select_related("welcome_template").order_by("-id")


def join_code_get(*, join_code_id: int) -> JoinCode:
    found = JoinCode.objects.select_related("welcome_template").filter(pk=join_code_id).first()
    if found is None:
        raise JoinCodeNotFound(detail={"id": join_code_id})
    return found


def join_code_entries(*, join_code: JoinCode) -> QuerySet[JoinCodeGroup]:
    return JoinCodeGroup.objects.filter(join_code=join_code).select_related("group")


def welcome_template_list() -> QuerySet[WelcomeTemplate]:
    return WelcomeTemplate.objects.order_by("-id")


def welcome_template_get(*, template_id: int) -> WelcomeTemplate:
    found = WelcomeTemplate.objects.filter(pk=template_id).first()
    if found is None:
        raise WelcomeTemplateNotFound(detail={"id": template_id})
    return found


def topic_list(*, group: CustomerGroup | None = None) -> QuerySet[TopicPrompt]:
    topics = TopicPrompt.objects.select_related("group").order_by(
        "-is_active", "next_run_at", "-id"
    )
    return topics.filter(group=group) if group is not None else topics


def topic_get(*, topic_id: int) -> TopicPrompt:
    found = TopicPrompt.objects.select_related("group").filter(pk=topic_id).first()
    if found is None:
        raise TopicNotFound(detail={"id": topic_id})
    return found


def topic_sends(*, limit: int = 50) -> list[TopicSend]:
    return list(
        TopicSend.objects.select_related("group", "topic").order_by("-due_at", "-id")[:limit]
    )


def challenge_list() -> QuerySet[GroupChallenge]:
    return GroupChallenge.objects.select_related("group", "coupon_template").order_by("-id")


def challenge_get(*, challenge_id: int) -> GroupChallenge:
    found = (
        GroupChallenge.objects.select_related("group", "coupon_template")
        .filter(pk=challenge_id)
        .first()
    )
    if found is None:
        raise ChallengeNotFound(detail={"id": challenge_id})
    return found


# --- the inbound group-message API, the keyword assistant, check-in and draws ----------------


@dataclass(frozen=True)
class GroupMessageCounts:
    """One group's messages since a moment: totals, per Asia/Shanghai day, who spoke."""

    chat_id: str
    messages: int
    customer_messages: int
    active_senders: int
    active_customers: int
    per_day: dict[dt.date, int]


def group_message_counts(
    *, chat_ids: Iterable[str], since: dt.datetime
) -> dict[str, GroupMessageCounts]:
    """Messages and active senders per group since `since` (what group health shows); a
    group without messages is answered with zeros."""
    wanted = sorted(set(chat_ids))
    rows = GroupMessage.objects.filter(chat_id__in=wanted, sent_at__gte=since)
    totals = {
        row["chat_id"]: row
        for row in rows.values("chat_id").annotate(
            messages=Count("id"),
            customer_messages=Count("id", filter=Q(sender_type=SenderType.CUSTOMER)),
            active_senders=Count("sender", distinct=True),
            active_customers=Count(
                "sender", distinct=True, filter=Q(sender_type=SenderType.CUSTOMER)
            ),
        )
    }
    per_day: dict[str, dict[dt.date, int]] = {chat_id: {} for chat_id in wanted}
    for row in (
        rows.annotate(day=TruncDate("sent_at", tzinfo=clock.SHANGHAI))
        .values("chat_id", "day")
        .annotate(n=Count("id"))
    ):
        per_day[row["chat_id"]][row["day"]] = row["n"]
    return {
        chat_id: GroupMessageCounts(
            chat_id=chat_id,
            messages=totals.get(chat_id, {}).get("messages", 0),
            customer_messages=totals.get(chat_id, {}).get("customer_messages", 0),
            active_senders=totals.get(chat_id, {}).get("active_senders", 0),
            active_customers=totals.get(chat_id, {}).get("active_customers", 0),
            per_day=dict(sorted(per_day[chat_id].items())),
        )
        for chat_id in wanted
    }


def group_messages_connected() -> bool:
    """Whether a 会话存档 relay has posted any group message: without one, health shows no
    message figures rather than zeros."""
    return GroupMessage.objects.exists()


def group_message_senders(*, chat_ids: Iterable[str], since: dt.datetime) -> dict[str, set[str]]:
    """Who spoke in each group since `since` (WeCom userid / external_userid): health's
    active members."""
    spoke: dict[str, set[str]] = {chat_id: set() for chat_id in chat_ids}
    for chat_id, sender in (
        GroupMessage.objects.filter(chat_id__in=list(spoke), sent_at__gte=since)
        .values_list("chat_id", "sender")
        .distinct()
    ):
        spoke[chat_id].add(sender)
    return spoke


def rule_list() -> list[AssistantRule]:
    return list(AssistantRule.objects.order_by("pk"))


def rule_get(*, rule_id: int) -> AssistantRule:
    rule = AssistantRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise RuleNotFound(detail={"rule_id": rule_id})
    return rule


def replies_pending(*, chat_id: str = "", limit: int = 100) -> list[AssistantReply]:
    """Prepared, unexpired replies waiting for a group owner (newest first)."""
    rows = AssistantReply.objects.select_related("rule").filter(
        status=ReplyStatus.PREPARED, channel=ReplyChannel.SIDEBAR, expires_at__gt=clock.now()
    )
    if chat_id:
        rows = rows.filter(chat_id=chat_id)
    return list(rows.order_by("-created_at", "-pk")[:limit])


def replies_recent(*, limit: int = 100) -> list[AssistantReply]:
    return list(
        AssistantReply.objects.select_related("rule").order_by("-created_at", "-pk")[:limit]
    )


def chats_with_pending_replies() -> list[str]:
    return sorted(
        set(
            AssistantReply.objects.filter(
                status=ReplyStatus.PREPARED,
                channel=ReplyChannel.SIDEBAR,
                expires_at__gt=clock.now(),
            ).values_list("chat_id", flat=True)
        )
    )


def draw_list(*, limit: int = 50) -> list[GroupDraw]:
    return list(GroupDraw.objects.order_by("-pk")[:limit])


def draw_get(*, draw_id: int) -> GroupDraw:
    draw = GroupDraw.objects.filter(pk=draw_id).first()
    if draw is None:
        raise DrawNotFound(detail={"draw_id": draw_id})
    return draw


__all__ = [
    "GroupMessageCounts",
    "chats_with_pending_replies",
    "checkin_calendar",
    "checkin_current_streak",
    "checkin_day",
    "draw_get",
    "draw_list",
    "group_draw_verify",
    "group_message_counts",
    "group_message_senders",
    "group_messages_connected",
    "replies_pending",
    "replies_recent",
    "rule_get",
    "rule_list",
    "winner_names",
]
