"""Mass messages (企业群发) and moments (客户朋友圈) at /api/v1/scrm (mounted by scrm.api)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Router, Status

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.schemas import MAX_ID
from freshloop.messaging.errors import MarketingChannelUnknown, MarketingPersonUnknown
from freshloop.scrm import selectors, services
from freshloop.scrm.errors import (
    BroadcastInvalid,
    BroadcastNotEditable,
    BroadcastNotFound,
    MomentInvalid,
    MomentNotEditable,
    MomentNotFound,
    MomentRejected,
    MomentWecomUnavailable,
)
from freshloop.scrm.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    MomentStatus,
    MomentTask,
)
from freshloop.scrm.roles import JOURNEY_ROLES
from freshloop.scrm.schemas import (
    AudienceListOut,
    AudienceOut,
    BroadcastIn,
    BroadcastListOut,
    BroadcastOut,
    BroadcastScheduleIn,
    MomentIn,
    MomentListOut,
    MomentOut,
    PreviewIn,
    PreviewOut,
    ReasonOut,
    ResultsOut,
)

router = Router(tags=["客户旅程 SOP scrm"], auth=OperatorAuth(*JOURNEY_ROLES))

# --- mass messages (企业群发) and moments (客户朋友圈) ---------------------------------------
# Same operators as journeys. A mass message is composed as a draft, then scheduled (or sent
# now); the preview is the marketing policy's dry run. Moments are handed to WeCom at once.

BroadcastId = Path(..., ge=1, le=MAX_ID, description="群发编号")
MomentId = Path(..., ge=1, le=MAX_ID, description="朋友圈任务编号")


def _reasons_out(reasons: list[Any]) -> list[ReasonOut]:
    return [ReasonOut(code=r.code, label=r.label, count=r.count) for r in reasons]


def broadcast_out(broadcast: Broadcast) -> BroadcastOut:
    """A mass message as the API and the console show it, with its results once sending."""
    results = None
    if broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.SENT):
        got = selectors.broadcast_results(broadcast=broadcast)
        results = ResultsOut(
            audience=got.audience,
            recipients=got.recipients,
            confirmed=got.confirmed,
            pending=got.pending,
            held=got.held,
            not_received=got.not_received,
            reasons=_reasons_out(got.reasons),
            clicks=got.clicks,
            orders=got.orders,
            gmv_fen=got.gmv_fen,
            window_ends=got.window_ends,
        )
    return BroadcastOut(
        id=broadcast.pk,
        title=broadcast.title,
        kind=broadcast.kind,
        kind_label=BroadcastKind(broadcast.kind).label,
        text=broadcast.text,
        image_url=broadcast.image_url,
        product_id=broadcast.product_id,
        miniprogram=broadcast.miniprogram or {},
        segment_id=broadcast.segment_id,
        audience_label=broadcast.audience_label,
        scheduled_at=broadcast.scheduled_at,
        status=broadcast.status,
        status_label=BroadcastStatus(broadcast.status).label,
        tracking_code=broadcast.tracking_code,
        created_by=broadcast.created_by,
        created_at=broadcast.created_at,
        started_at=broadcast.started_at,
        sent_at=broadcast.sent_at,
        results=results,
    )


def _draft(body: BroadcastIn) -> services.BroadcastDraft:
    return services.BroadcastDraft(
        title=body.title,
        kind=body.kind,
        text=body.text,
        image_url=body.image_url,
        product_id=body.product_id,
        miniprogram=body.miniprogram.model_dump() if body.miniprogram else None,
        segment_id=body.segment_id,
        scheduled_at=body.scheduled_at,
    )


@router.get(
    "/audiences", response=AudienceListOut, summary="群发可选的人群（数据中台已保存的人群）"
)
def audience_list(request: HttpRequest) -> AudienceListOut:
    return AudienceListOut(
        items=[
            AudienceOut(id=segment.pk, name=segment.name, member_count=segment.member_count)
            for segment in selectors.audiences()
        ]
    )


@router.post(
    "/broadcasts/preview",
    response=PreviewOut,
    summary="预计触达：人群中有多少人会收到（按发送规则试算，不发送）",
    description=(
        "对人群中的企业微信好友按营销消息规则试算：退订、频次上限、企业微信群发上限、免打扰时段"
        "（在免打扰时段的计划时间按次日 08:00 计算上限）。不是企业微信好友的人收不到。只读，不预留名额。"
    ),
)
# The policy's own checks (a channel it knows, a person who exists) cannot fail here: the
# channel is WeCom's and the people come from the segment; listed because the code reaches them.
@raises(BroadcastInvalid, MarketingChannelUnknown, MarketingPersonUnknown)
def broadcast_preview(request: HttpRequest, body: PreviewIn) -> PreviewOut:
    preview = selectors.broadcast_preview(segment_id=body.segment_id, at=body.scheduled_at)
    return PreviewOut(
        audience=preview.audience,
        receive=preview.receive,
        now=preview.now,
        held=preview.held,
        release_at=preview.release_at,
        reasons=_reasons_out(preview.reasons),
    )


@router.get("/broadcasts", response=BroadcastListOut, summary="企业群发列表（新建的在前）与结果")
def broadcast_list(request: HttpRequest) -> BroadcastListOut:
    return BroadcastListOut(
        items=[broadcast_out(broadcast) for broadcast, _ in selectors.broadcasts_with_results()]
    )


@router.post("/broadcasts", response={201: BroadcastOut}, summary="新建企业群发（草稿）")
@raises(BroadcastInvalid)
def broadcast_create(request: HttpRequest, body: BroadcastIn) -> Status[BroadcastOut]:
    broadcast = services.broadcast_create(draft=_draft(body), actor=request_actor(request))
    return Status(201, broadcast_out(broadcast))


@router.get("/broadcasts/{broadcast_id}", response=BroadcastOut, summary="群发详情与结果")
@raises(BroadcastNotFound)
def broadcast_detail(request: HttpRequest, broadcast_id: int = BroadcastId) -> BroadcastOut:
    return broadcast_out(selectors.broadcast_get(broadcast_id=broadcast_id))


@router.put(
    "/broadcasts/{broadcast_id}",
    response=BroadcastOut,
    summary="修改草稿或待发送的群发（已开始发送、已发送、已取消的不能修改）",
)
@raises(BroadcastInvalid, BroadcastNotEditable, BroadcastNotFound)
def broadcast_update(
    request: HttpRequest, body: BroadcastIn, broadcast_id: int = BroadcastId
) -> BroadcastOut:
    broadcast = selectors.broadcast_get(broadcast_id=broadcast_id)
    updated = services.broadcast_update(
        broadcast=broadcast, draft=_draft(body), actor=request_actor(request)
    )
    return broadcast_out(selectors.broadcast_get(broadcast_id=updated.pk))


@router.post(
    "/broadcasts/{broadcast_id}/schedule",
    response=BroadcastOut,
    summary="定时发送（或立即发送）",
    description="到计划时间由后台任务发送；每位客户由其跟进人发出，经过营销消息规则，每人只发一次。",
)
@raises(BroadcastInvalid, BroadcastNotEditable, BroadcastNotFound)
def broadcast_schedule(
    request: HttpRequest, body: BroadcastScheduleIn, broadcast_id: int = BroadcastId
) -> BroadcastOut:
    broadcast = selectors.broadcast_get(broadcast_id=broadcast_id)
    services.broadcast_schedule(
        broadcast=broadcast, actor=request_actor(request), send_now=body.send_now
    )
    return broadcast_out(selectors.broadcast_get(broadcast_id=broadcast_id))


@router.post("/broadcasts/{broadcast_id}/cancel", response=BroadcastOut, summary="取消群发")
@raises(BroadcastNotEditable, BroadcastNotFound)
def broadcast_cancel(request: HttpRequest, broadcast_id: int = BroadcastId) -> BroadcastOut:
    broadcast = selectors.broadcast_get(broadcast_id=broadcast_id)
    services.broadcast_cancel(broadcast=broadcast, actor=request_actor(request))
    return broadcast_out(selectors.broadcast_get(broadcast_id=broadcast_id))


def moment_out(moment: MomentTask) -> MomentOut:
    return MomentOut(
        id=moment.pk,
        text=moment.text,
        kind=moment.kind,
        image_url=moment.image_url,
        link_title=moment.link_title,
        link_url=moment.link_url,
        sender_userids=list(moment.sender_userids),
        visible_tag_ids=list(moment.visible_tag_ids),
        status=moment.status,
        status_label=MomentStatus(moment.status).label,
        jobid=moment.jobid,
        error=moment.error,
        created_by=moment.created_by,
        created_at=moment.created_at,
        published_at=moment.published_at,
    )


@router.get("/moments", response=MomentListOut, summary="客户朋友圈任务（新建的在前）")
def moment_list(request: HttpRequest) -> MomentListOut:
    return MomentListOut(items=[moment_out(moment) for moment in selectors.moment_list()])


@router.post(
    "/moments",
    response={201: MomentOut},
    summary="新建客户朋友圈（默认立即提交企业微信，由员工在企业微信中确认发表）",
)
@raises(MomentInvalid, MomentNotEditable, MomentNotFound, MomentRejected, MomentWecomUnavailable)
def moment_create(request: HttpRequest, body: MomentIn) -> Status[MomentOut]:
    actor = request_actor(request)
    moment = services.moment_create(
        draft=services.MomentDraft(
            text=body.text,
            kind=body.kind,
            image_url=body.image_url,
            link_title=body.link_title,
            link_url=body.link_url,
            sender_userids=tuple(body.sender_userids),
            visible_tag_ids=tuple(body.visible_tag_ids),
        ),
        actor=actor,
    )
    if body.publish:
        moment = services.moment_publish(moment=moment, actor=actor)
    return Status(201, moment_out(moment))


@router.post(
    "/moments/{moment_id}/publish",
    response=MomentOut,
    summary="把草稿或提交失败的朋友圈提交企业微信",
)
@raises(MomentNotEditable, MomentNotFound, MomentRejected, MomentWecomUnavailable)
def moment_publish(request: HttpRequest, moment_id: int = MomentId) -> MomentOut:
    moment = selectors.moment_get(moment_id=moment_id)
    return moment_out(services.moment_publish(moment=moment, actor=request_actor(request)))
