"""Groups, 活码, topics and challenges as the API answers them (the console pages reuse it)."""

from __future__ import annotations

import segno
from django.db.models import Count
from django.http import HttpRequest

from freshloop.community import selectors
from freshloop.community.challenges import challenge_progress
from freshloop.community.health import GroupHealth
from freshloop.community.join_codes import join_code_current
from freshloop.community.models import (
    ChallengeStatus,
    CustomerGroup,
    GroupChallenge,
    GroupStatus,
    JoinCode,
    TopicPrompt,
    TopicSendStatus,
    WelcomeTemplate,
)
from freshloop.community.schemas import (
    ChallengeOut,
    DayOut,
    GroupOut,
    HealthOut,
    JoinCodeGroupOut,
    JoinCodeOut,
    TopicOut,
    TopicSendOut,
    WelcomeTemplateOut,
)

JOIN_PATH = "/community/join/"


def qr_svg(content: str) -> str:
    return str(segno.make(content, error="m").svg_data_uri(scale=5, border=2))


def join_url(request: HttpRequest | None, join_code: JoinCode) -> str:
    path = f"{JOIN_PATH}{join_code.code}"
    return request.build_absolute_uri(path) if request is not None else path


def health_out(health: GroupHealth) -> HealthOut:
    return HealthOut(
        groups=health.groups,
        members=health.members,
        customers=health.customers,
        joins=health.joins,
        leaves=health.leaves,
        active_members=health.active_members,
        active_rate=round(health.active_rate, 4),
        orders=health.orders,
        gmv_fen=health.gmv_fen,
        messages_available=health.messages_available,
        days=[
            DayOut(day=day.day, joins=day.joins, leaves=day.leaves, messages=day.messages)
            for day in health.days
        ],
    )


def group_out(group: CustomerGroup) -> GroupOut:
    return GroupOut(
        chat_id=group.chat_id,
        name=group.name,
        owner_userid=group.owner_userid,
        notice=group.notice,
        status=group.status,
        status_label=GroupStatus(group.status).label,
        member_count=group.member_count,
        customer_count=group.customer_count,
        welcome_template_id=group.welcome_template_id,
        created_at=group.created_at,
        dismissed_at=group.dismissed_at,
        synced_at=group.synced_at,
    )


def join_code_out(join_code: JoinCode, request: HttpRequest | None) -> JoinCodeOut:
    current = join_code_current(join_code=join_code)
    url = join_url(request, join_code)
    return JoinCodeOut(
        id=join_code.pk,
        code=join_code.code,
        name=join_code.name,
        url=url,
        qr_svg=qr_svg(url),
        scans=join_code.scans,
        current_chat_id=current.group.chat_id if current is not None else None,
        welcome_template_id=join_code.welcome_template_id,
        groups=[
            JoinCodeGroupOut(
                chat_id=entry.group.chat_id,
                name=entry.group.name,
                position=entry.position,
                threshold=entry.threshold,
                customer_count=entry.group.customer_count,
                full=entry.group.customer_count >= entry.threshold
                or entry.group.status != GroupStatus.ACTIVE,
                scans=entry.scans,
                qr_content=entry.qr_content,
            )
            for entry in selectors.join_code_entries(join_code=join_code)
        ],
        created_at=join_code.created_at,
    )


def welcome_templates_out(templates: list[WelcomeTemplate]) -> list[WelcomeTemplateOut]:
    counts = dict(
        CustomerGroup.objects.filter(welcome_template__in=templates)
        .values_list("welcome_template")
        .annotate(n=Count("id"))
        .values_list("welcome_template", "n")
    )
    return [
        WelcomeTemplateOut(
            id=template.pk,
            name=template.name,
            text=template.text,
            image_url=template.image_url,
            link_title=template.link_title,
            link_url=template.link_url,
            miniprogram_title=template.miniprogram_title,
            wecom_template_id=template.wecom_template_id,
            group_count=counts.get(template.pk, 0),
            created_at=template.created_at,
        )
        for template in templates
    ]


def topic_out(topic: TopicPrompt) -> TopicOut:
    return TopicOut(
        id=topic.pk,
        chat_id=topic.group.chat_id,
        group_name=topic.group.name,
        text=topic.text,
        repeat=topic.repeat,
        next_run_at=topic.next_run_at,
        is_active=topic.is_active,
        sends=[
            TopicSendOut(
                due_at=send.due_at,
                status=send.status,
                status_label=TopicSendStatus(send.status).label,
                detail=send.detail,
                msgid=send.msgid,
                sent_at=send.sent_at,
            )
            for send in topic.sends.order_by("-due_at")[:10]
        ],
    )


def challenge_out(challenge: GroupChallenge) -> ChallengeOut:
    progress = challenge_progress(challenge=challenge)
    return ChallengeOut(
        id=challenge.pk,
        chat_id=challenge.group.chat_id,
        group_name=challenge.group.name,
        name=challenge.name,
        target_fen=challenge.target_fen,
        gmv_fen=progress.gmv_fen,
        percent=progress.percent,
        starts_at=challenge.starts_at,
        ends_at=challenge.ends_at,
        coupon_template_id=challenge.coupon_template_id,
        coupon_name=challenge.coupon_template.name,
        status=challenge.status,
        status_label=ChallengeStatus(challenge.status).label,
        rewarded_count=challenge.rewarded_count,
        rewarded_at=challenge.rewarded_at,
    )
