"""Contacts, WeCom tag sync and staff transfer at /api/v1/scrm (mounted by scrm.api)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput
from freshloop.core.permissions import Role

# --- Contacts, tags synced with WeCom, staff transfer (跟进人继承) -------------------------------
# Transfers change who serves a customer: community managers (and admins) only.
from freshloop.messaging.errors import WecomError
from freshloop.scrm import selectors, services
from freshloop.scrm import tasks as scrm_tasks
from freshloop.scrm.errors import (
    ComputedTagInvalid,
    ContactTransferInvalid,
    ContactTransferUnavailable,
)
from freshloop.scrm.models import (
    ComputedTagPush,
    ContactStatus,
    ContactTransfer,
    TransferStatus,
)
from freshloop.scrm.roles import JOURNEY_ROLES
from freshloop.scrm.schemas import (
    ComputedTagPushIn,
    ComputedTagPushOut,
    ContactListOut,
    ContactOut,
    TagsOut,
    TagSyncOut,
    TransferIn,
    TransferListOut,
    TransferOut,
    TransferPollOut,
    TransferRowOut,
    WecomTagOut,
)
from freshloop.scrm.tag_push import PUSHABLE

router = Router(tags=["客户旅程 SOP scrm"], auth=OperatorAuth(*JOURNEY_ROLES))
TRANSFER_AUTH = OperatorAuth(Role.COMMUNITY_MANAGER)


def transfer_out(row: ContactTransfer) -> TransferRowOut:
    return TransferRowOut(
        id=row.pk,
        external_userid=row.contact.external_userid,
        kind=row.kind,
        handover_userid=row.handover_userid,
        takeover_userid=row.takeover_userid,
        status=row.status,
        status_label=TransferStatus(row.status).label,
        errcode=row.errcode,
        fail_reason=row.fail_reason,
        requested_at=row.requested_at,
        finished_at=row.finished_at,
    )


@router.get("/contacts", response=ContactListOut, summary="企业微信客户：跟进人、标签、继承状态")
@raises(InvalidInput)
def contact_list(request: HttpRequest, staff: str = "", status: str = "") -> ContactListOut:
    if status and status not in ContactStatus.values:
        raise InvalidInput("没有这个客户状态", detail={"status": status[:32]})
    rows = selectors.contacts_list(staff=staff[:64], status=status)
    return ContactListOut(
        items=[
            ContactOut(
                external_userid=row.contact.external_userid,
                name=row.contact.name,
                one_id=row.contact.person.one_id,
                follow_userid=row.contact.follow_userid,
                status=row.contact.status,
                status_label=ContactStatus(row.contact.status).label,
                tags=row.tags,
                transfer_status=row.transfer.status if row.transfer else "",
                transfer_label=TransferStatus(row.transfer.status).label if row.transfer else "",
                takeover_userid=row.transfer.takeover_userid if row.transfer else "",
            )
            for row in rows
        ]
    )


@router.post(
    "/contacts/transfer",
    response={201: TransferOut},
    auth=TRANSFER_AUTH,
    summary="客户继承：把一位员工的客户转给一位或几位同事（离职继承 / 在职继承）",
    description=(
        "每位客户一次只能有一个进行中的继承；企业微信受理后客户处于「等待接替」，接替完毕时"
        "（定时查询 transfer_result）跟进人才改为接替员工。原跟进人的待办任务随客户转给接替员工"
        "（离职继承：全部待办任务轮流分配）。"
    ),
)
@raises(ContactTransferInvalid, ContactTransferUnavailable)
def contact_transfer(request: HttpRequest, body: TransferIn) -> Status[TransferOut]:
    outcome = services.contacts_transfer(
        handover_userid=body.handover_userid,
        takeover_userids=body.takeover_userids,
        kind=body.kind,
        external_userids=body.external_userids,
        assignments=body.assignments,
        transfer_success_msg=body.transfer_success_msg,
        actor=request_actor(request),
    )
    return Status(
        201,
        TransferOut(
            waiting=outcome.waiting,
            rejected=outcome.rejected,
            skipped=outcome.skipped,
            tasks_moved=outcome.tasks_moved,
            transfers=[transfer_out(row) for row in outcome.transfers],
        ),
    )


@router.get("/transfers", response=TransferListOut, summary="最近的客户继承（新的在前）")
def transfer_list(request: HttpRequest) -> TransferListOut:
    return TransferListOut(items=[transfer_out(row) for row in selectors.transfers_recent()])


@router.post(
    "/transfers/poll",
    response=TransferPollOut,
    auth=TRANSFER_AUTH,
    summary="立即向企业微信查询继承结果（定时任务每 10 分钟也会查）",
)
@raises(ContactTransferUnavailable)
def transfer_poll(request: HttpRequest) -> TransferPollOut:
    try:
        ended = services.transfers_poll()
    except WecomError as error:
        raise ContactTransferUnavailable(
            detail={"errcode": error.errcode, "errmsg": error.errmsg[:200]}
        ) from error
    return TransferPollOut(ended=ended)


@router.get(
    "/tags", response=TagsOut, summary="企业微信标签与 FreshLoop 标签的对应、计算标签推送设置"
)
def tag_list(request: HttpRequest) -> TagsOut:
    return TagsOut(
        tags=[
            WecomTagOut(
                tag_id=tag.tag_id,
                group_name=tag.group_name,
                name=tag.name,
                freshloop_tag=tag.freshloop_tag,
                kind=tag.kind,
            )
            for tag in selectors.wecom_tags_list()
        ],
        pushes=[computed_push_out(push) for push in selectors.computed_tag_pushes()],
        pushable=PUSHABLE,
    )


def computed_push_out(push: ComputedTagPush) -> ComputedTagPushOut:
    return ComputedTagPushOut(
        column=push.column,
        value=push.value,
        enabled=push.enabled,
        wecom_tag_id=push.wecom_tag_id,
        pushed_count=push.pushed_count,
        last_pushed_at=push.last_pushed_at,
    )


@router.post(
    "/tags/sync",
    response={202: TagSyncOut},
    summary="立即同步企业微信标签（标签库与全部客户的标签，后台执行）",
)
def tag_sync(request: HttpRequest) -> Status[TagSyncOut]:
    scrm_tasks.tags_sync()
    return Status(202, TagSyncOut(queued=True))


@router.post(
    "/tags/computed-push",
    response=ComputedTagPushOut,
    summary="设置把一个计算标签值推送为企业微信标签（开启后后台打标签，关闭后摘掉）",
)
@raises(ComputedTagInvalid)
def computed_tag_push(request: HttpRequest, body: ComputedTagPushIn) -> ComputedTagPushOut:
    push = services.computed_tag_push_set(
        column=body.column, value=body.value, enabled=body.enabled, actor=request_actor(request)
    )
    scrm_tasks.tags_push()
    push.refresh_from_db()
    return computed_push_out(push)
