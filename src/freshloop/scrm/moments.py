"""Moments (客户朋友圈, SC-1): a post the chosen staff members publish to their customers'
WeChat moments, created in WeCom with `add_moment_task`.

A moment is not pushed to anyone: customers see it when they open their moments, so the
marketing policy (consent, caps, quiet hours) does not apply to it — WeCom limits moments on
its own (each customer sees at most 3 of a corp's moments a day). Like a mass message it is a
task the staff member confirms in WeCom. Visible to: every customer of the senders, or only
those with some WeCom customer tags.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.messaging.errors import WecomError
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    WecomAttachment,
    WecomContent,
    WecomImage,
    WecomLink,
    sandbox_staff,
    wecom_client,
)
from freshloop.scrm.errors import (
    MomentInvalid,
    MomentNotEditable,
    MomentRejected,
    MomentWecomUnavailable,
)
from freshloop.scrm.locks import moment_lock
from freshloop.scrm.models import ContactStatus, MomentKind, MomentStatus, MomentTask, WecomContact

MAX_TEXT_BYTES = 4000  # add_moment_task: text.content at most 4,000 bytes
MAX_IDS = 100
MAX_ID_CHARS = 64


@dataclass(frozen=True)
class MomentDraft:
    text: str
    kind: str
    image_url: str = ""
    link_title: str = ""
    link_url: str = ""
    sender_userids: tuple[str, ...] = ()
    visible_tag_ids: tuple[str, ...] = ()


def _url_ok(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value) <= 500 and " " not in value


def _ids(values: tuple[str, ...], field: str, problems: list[tuple[str, str]]) -> list[str]:
    clean = sorted({value.strip() for value in values if value.strip()})
    if len(clean) > MAX_IDS or any(len(value) > MAX_ID_CHARS for value in clean):
        problems.append((field, f"最多 {MAX_IDS} 个，每个最多 {MAX_ID_CHARS} 字符"))
    return clean


def moment_check(draft: MomentDraft) -> dict[str, object]:
    problems: list[tuple[str, str]] = []
    text = draft.text.strip()
    if len(text.encode()) > MAX_TEXT_BYTES:
        problems.append(("text", f"文字内容超过企业微信的上限 {MAX_TEXT_BYTES} 字节"))
    if draft.kind not in MomentKind.values:
        problems.append(("kind", "附件只能是仅文字、图片或链接"))
    elif draft.kind == MomentKind.TEXT and not text:
        problems.append(("text", "请填写朋友圈的文字内容"))
    elif draft.kind == MomentKind.IMAGE and not _url_ok(draft.image_url.strip()):
        problems.append(("image_url", "请填写以 https:// 开头的图片地址"))
    elif draft.kind == MomentKind.LINK:
        if not draft.link_title.strip() or len(draft.link_title.strip()) > 64:
            problems.append(("link_title", "请填写链接标题（最多 64 字）"))
        if not _url_ok(draft.link_url.strip()):
            problems.append(("link_url", "请填写以 https:// 开头的链接地址"))
    senders = _ids(draft.sender_userids, "sender_userids", problems)
    tags = _ids(draft.visible_tag_ids, "visible_tag_ids", problems)
    if problems:
        raise MomentInvalid.for_fields(problems)
    return {
        "text": text,
        "kind": draft.kind,
        "image_url": draft.image_url.strip() if draft.kind == MomentKind.IMAGE else "",
        "link_title": draft.link_title.strip() if draft.kind == MomentKind.LINK else "",
        "link_url": draft.link_url.strip() if draft.kind == MomentKind.LINK else "",
        "sender_userids": senders,
        "visible_tag_ids": tags,
    }


def moment_create(*, draft: MomentDraft, actor: Actor) -> MomentTask:
    """A moment, as a draft (`moment_publish` hands it to WeCom)."""
    fields = moment_check(draft)
    with transaction.atomic():
        moment = MomentTask.objects.create(
            **fields, created_by=actor.label[:64], created_at=clock.now()
        )
        audit_record(actor=actor, action="scrm.moment_create", target=moment, after=fields)
    return moment


def _content(moment: MomentTask) -> WecomContent:
    attachments: tuple[WecomAttachment, ...] = ()
    if moment.kind == MomentKind.IMAGE:
        attachments = (WecomImage(pic_url=moment.image_url),)
    elif moment.kind == MomentKind.LINK:
        attachments = (WecomLink(title=moment.link_title, url=moment.link_url),)
    return WecomContent(text=moment.text, attachments=attachments)


def moment_publish(*, moment: MomentTask, actor: Actor) -> MomentTask:
    """Create the moment task in WeCom (`add_moment_task`). A moment already handed over is
    409; WeCom refusing it (an unknown staff member or tag, …) marks it failed with the reason
    and raises MomentRejected (MomentWecomUnavailable when WeCom did not answer); a failed one
    may be published again."""
    with transaction.atomic():
        locked = moment_lock(moment_id=moment.pk)
        if locked.status == MomentStatus.PUBLISHED:
            raise MomentNotEditable(detail={"moment_id": moment.pk})
    try:
        jobid = wecom_client().add_moment_task(
            content=_content(locked),
            sender_userids=list(locked.sender_userids) or None,
            customer_tag_ids=list(locked.visible_tag_ids) or None,
        )
    except WecomError as error:
        MomentTask.objects.filter(pk=locked.pk).update(
            status=MomentStatus.FAILED, error=error.message[:200]
        )
        detail = {"errcode": error.errcode, "wecom": error.message}
        if error.retryable:
            raise MomentWecomUnavailable(detail=detail) from error
        raise MomentRejected(f"企业微信拒绝了这条朋友圈：{error.message}", detail=detail) from error
    with transaction.atomic():
        MomentTask.objects.filter(pk=locked.pk).update(
            status=MomentStatus.PUBLISHED, jobid=jobid[:64], error="", published_at=clock.now()
        )
        locked.refresh_from_db()
        audit_record(
            actor=actor, action="scrm.moment_publish", target=locked, after={"jobid": jobid}
        )
    return locked


def moment_staff_options() -> list[str]:
    """The staff members who may publish: those following customers (and, with the sandbox,
    its staff)."""
    staff = set(
        WecomContact.objects.filter(status=ContactStatus.ACTIVE).values_list(
            "follow_userid", flat=True
        )
    )
    if isinstance(wecom_client(), SandboxWecomClient):
        staff |= set(sandbox_staff())
    return sorted(staff)


def moment_tag_options() -> list[tuple[str, str]]:
    """WeCom's customer tags as (tag id, "group · name"), for "visible to"; empty when WeCom
    cannot be asked right now."""
    try:
        groups = wecom_client().corp_tag_list()
    except WecomError:
        return []
    return [(tag.tag_id, f"{group.name} · {tag.name}") for group in groups for tag in group.tags]
