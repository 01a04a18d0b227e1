"""入群欢迎语 templates and scheduled topic prompts (话题), both sent through WeCom.

Welcome: WeCom itself greets whoever joins a group whose owner picked a 入群欢迎语 template;
FreshLoop registers the template (group_welcome_template/add: text plus at most one image,
link or mini-program card) and records which group — directly or through its 活码 — uses
which, so the owner knows what to pick.

Topics: a topic is text for one group at a time, once or every week. When it is due, the
worker creates a group mass message (add_msg_template, chat_type=group) with the group's owner
as sender; WeCom shows it to the owner, who confirms with one tap — WeCom has no API that
posts into a customer group on its own. The send is `pending` until get_groupmsg_send_result
says the owner sent it (or it failed).

Policy (group messages are not per-customer marketing, so `messaging.marketing_send`'s
per-customer consent and caps do not fit): times are limited to 08:00–22:00 Asia/Shanghai when
the topic is saved (quiet hours, as for marketing), and a group gets at most as many topic
messages a month as the month has days — WeCom's own limit for mass messages to one customer
group; one beyond that is recorded as skipped, not sent.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from freshloop.community.errors import CommunityInvalid
from freshloop.community.models import (
    CustomerGroup,
    GroupStatus,
    TopicPrompt,
    TopicRepeat,
    TopicSend,
    TopicSendStatus,
    WelcomeTemplate,
)
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.messaging.errors import WecomError
from freshloop.messaging.wecom import (
    WecomAttachment,
    WecomContent,
    WecomImage,
    WecomLink,
    WecomMiniProgram,
    wecom_client,
)

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_TEXT_CHARS = 1000  # well under WeCom's 4,000 bytes (3 bytes a Chinese character)
EARLIEST = dt.time(8, 0)
LATEST = dt.time(22, 0)
SEND_BATCH = 100
INTERRUPTED_AFTER = dt.timedelta(minutes=10)


# --- welcome templates -------------------------------------------------------------------


@dataclass(frozen=True)
class WelcomeSpec:
    name: str
    text: str = ""
    image_url: str = ""
    link_title: str = ""
    link_url: str = ""
    miniprogram_title: str = ""
    miniprogram_appid: str = ""
    miniprogram_page: str = ""
    miniprogram_pic_media_id: str = ""


def _welcome_attachment(spec: WelcomeSpec) -> tuple[list[WecomAttachment], list[tuple[str, str]]]:
    attachments: list[WecomAttachment] = []
    problems: list[tuple[str, str]] = []
    if spec.image_url:
        attachments.append(WecomImage(pic_url=spec.image_url))
    if spec.link_url or spec.link_title:
        if not (spec.link_url and spec.link_title):
            problems.append(("link_title", "链接需要标题和地址"))
        attachments.append(WecomLink(title=spec.link_title, url=spec.link_url))
    mini = (spec.miniprogram_title, spec.miniprogram_appid, spec.miniprogram_page)
    if any(mini) or spec.miniprogram_pic_media_id:
        if not (all(mini) and spec.miniprogram_pic_media_id):
            problems.append(("miniprogram_appid", "小程序需要标题、AppID、页面和封面 media_id"))
        attachments.append(
            WecomMiniProgram(
                title=spec.miniprogram_title,
                appid=spec.miniprogram_appid,
                page=spec.miniprogram_page,
                pic_media_id=spec.miniprogram_pic_media_id,
            )
        )
    if len(attachments) > 1:
        problems.append(("image_url", "入群欢迎语最多带一个附件（图片、链接或小程序）"))
    return attachments, problems


def welcome_template_create(*, spec: WelcomeSpec, actor: Actor) -> WelcomeTemplate:
    """Check, register with WeCom, keep. WeCom is called first: a template it refuses is
    not kept (its refusal comes back as the typed WeCom error)."""
    problems: list[tuple[str, str]] = []
    name = spec.name.strip()
    if not name or len(name) > 64:
        problems.append(("name", "请填写名称（最多 64 字）"))
    if len(spec.text) > MAX_TEXT_CHARS:
        problems.append(("text", f"欢迎语最多 {MAX_TEXT_CHARS} 字"))
    attachments, attachment_problems = _welcome_attachment(spec)
    problems += attachment_problems
    if not spec.text.strip() and not attachments:
        problems.append(("text", "请填写欢迎语，或带一个附件"))
    if problems:
        raise CommunityInvalid.for_fields(problems)
    template_id = wecom_client().group_welcome_template_add(
        content=WecomContent(text=spec.text.strip(), attachments=tuple(attachments))
    )
    return WelcomeTemplate.objects.create(
        name=name,
        text=spec.text.strip(),
        image_url=spec.image_url,
        link_title=spec.link_title,
        link_url=spec.link_url,
        miniprogram_title=spec.miniprogram_title,
        miniprogram_appid=spec.miniprogram_appid,
        miniprogram_page=spec.miniprogram_page,
        miniprogram_pic_media_id=spec.miniprogram_pic_media_id,
        wecom_template_id=template_id[:128],
        created_by=actor.label[:64],
        created_at=clock.now(),
    )


def group_welcome_set(*, group: CustomerGroup, template: WelcomeTemplate | None) -> CustomerGroup:
    """Record the template the group's owner is to pick in WeCom (None: no welcome)."""
    group.welcome_template = template
    group.save(update_fields=["welcome_template"])
    return group


# --- topics ------------------------------------------------------------------------------


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(SHANGHAI)


def topic_create(
    *,
    group: CustomerGroup,
    text: str,
    repeat: str,
    first_at: dt.datetime,
    actor: Actor,
) -> TopicPrompt:
    """A topic first due at `first_at` (aware); weekly topics recur on that weekday and time."""
    problems: list[tuple[str, str]] = []
    text = text.strip()
    if not text:
        problems.append(("text", "请填写话题内容"))
    elif len(text) > MAX_TEXT_CHARS:
        problems.append(("text", f"话题内容最多 {MAX_TEXT_CHARS} 字"))
    if repeat not in TopicRepeat.values:
        problems.append(("repeat", "重复方式应为 once（一次）或 weekly（每周）"))
    if first_at.tzinfo is None:
        problems.append(("first_at", "时间需要带时区"))
    else:
        local = _local(first_at).time()
        if not EARLIEST <= local <= LATEST:
            problems.append(("first_at", "话题发送时间应在 08:00–22:00（北京时间）之间"))
        if first_at <= clock.now():
            problems.append(("first_at", "发送时间应晚于现在"))
    if group.status != GroupStatus.ACTIVE:
        problems.append(("chat_id", "群已解散"))
    if problems:
        raise CommunityInvalid.for_fields(problems)
    return TopicPrompt.objects.create(
        group=group,
        text=text,
        repeat=repeat,
        next_run_at=first_at,
        created_by=actor.label[:64],
        created_at=clock.now(),
    )


def topic_stop(*, topic: TopicPrompt) -> TopicPrompt:
    topic.is_active = False
    topic.save(update_fields=["is_active"])
    return topic


def _month_limit_reached(send: TopicSend) -> bool:
    """Whether the group already got WeCom's monthly number of group messages (this one not
    counted)."""
    group, due_at = send.group, send.due_at
    local = _local(due_at)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(local.year, local.month)[1]
    used = (
        TopicSend.objects.filter(
            group=group,
            due_at__gte=first.astimezone(dt.UTC),
            status__in=[TopicSendStatus.PENDING, TopicSendStatus.SENT],
        )
        .exclude(pk=send.pk)
        .count()
    )
    return used >= days


def _claim(topic: TopicPrompt, due_at: dt.datetime, now: dt.datetime) -> TopicSend | None:
    """Write the occurrence and move the topic on, in one transaction: a second worker (or
    a retried task) finds the occurrence taken and creates nothing."""
    try:
        with transaction.atomic():
            send = TopicSend.objects.create(
                topic=topic,
                group=topic.group,
                due_at=due_at,
                sender=topic.group.owner_userid,
                created_at=now,
            )
            if topic.repeat == TopicRepeat.WEEKLY:
                following = due_at + dt.timedelta(days=7)
                while following <= now:  # a worker down for weeks does not post them all
                    following += dt.timedelta(days=7)
                topic.next_run_at = following
            else:
                topic.next_run_at = None
                topic.is_active = False
            topic.save(update_fields=["next_run_at", "is_active"])
    except IntegrityError:
        return None
    return send


def _finish(send: TopicSend, status: str, detail: str, msgid: str = "") -> None:
    send.status = status
    send.detail = detail[:200]
    send.msgid = msgid[:128]
    send.save(update_fields=["status", "detail", "msgid"])


def topic_send(*, send: TopicSend, text: str) -> TopicSend:
    """Create the group mass message for one occurrence (the owner confirms it in WeCom)."""
    group = send.group
    if group.status != GroupStatus.ACTIVE:
        _finish(send, TopicSendStatus.SKIPPED, "群已解散")
    elif not group.owner_userid:
        _finish(send, TopicSendStatus.SKIPPED, "群没有群主")
    elif _month_limit_reached(send):
        _finish(send, TopicSendStatus.SKIPPED, "本月群发次数已达企业微信上限")
    else:
        try:
            result = wecom_client().add_msg_template(
                chat_type="group",
                content=WecomContent(text=text),
                sender=group.owner_userid,
                chat_ids=[group.chat_id],
            )
        except WecomError as error:
            _finish(send, TopicSendStatus.FAILED, f"企业微信拒绝：{error.text}")
        else:
            if group.chat_id in result.fail_list:
                _finish(send, TopicSendStatus.FAILED, "群主不能向这个群群发", result.msgid)
            else:
                _finish(send, TopicSendStatus.PENDING, "已通知群主确认发送", result.msgid)
    return send


def topics_run_due(*, now: dt.datetime | None = None) -> int:
    """Every due topic: one occurrence claimed and its message created. Returns how many."""
    now = now or clock.now()
    done = 0
    due = (
        TopicPrompt.objects.filter(is_active=True, next_run_at__lte=now)
        .select_related("group")
        .order_by("next_run_at", "id")[:SEND_BATCH]
    )
    for topic in list(due):
        assert topic.next_run_at is not None
        send = _claim(topic, topic.next_run_at, now)
        if send is not None:
            topic_send(send=send, text=topic.text)
            done += 1
    return done


def topic_results_check(*, now: dt.datetime | None = None) -> int:
    """Pending sends: ask WeCom whether the owner sent them. Returns how many settled."""
    now = now or clock.now()
    # An occurrence claimed by a worker that died before WeCom answered has no msgid: WeCom may
    # or may not have the message, so it is marked failed rather than created a second time.
    interrupted = TopicSend.objects.filter(
        status=TopicSendStatus.PENDING, msgid="", created_at__lt=now - INTERRUPTED_AFTER
    ).update(status=TopicSendStatus.FAILED, detail="创建群发时中断，请到企业微信查看或重新安排")
    settled = interrupted
    client = wecom_client()
    pending = TopicSend.objects.filter(status=TopicSendStatus.PENDING).exclude(msgid="")
    for send in list(pending.select_related("group")[:SEND_BATCH]):
        try:
            page = client.groupmsg_send_result(msgid=send.msgid, userid=send.sender)
        except WecomError as error:
            logger.warning("topic send %s: result not read (%s)", send.pk, error.text)
            continue
        for item in page.items:
            if item.chat_id and item.chat_id != send.group.chat_id:
                continue
            if item.status == 1:
                send.status = TopicSendStatus.SENT
                send.detail = "群主已确认发送"
                send.sent_at = (
                    dt.datetime.fromtimestamp(item.send_time, tz=dt.UTC) if item.send_time else now
                )
            elif item.status in (2, 3):
                send.status = TopicSendStatus.FAILED
                send.detail = "企业微信未能发送到群"
            else:
                continue
            send.save(update_fields=["status", "detail", "sent_at"])
            settled += 1
            break
    return settled
