"""The host console's API (SPEC LV-3) at /api/v1/live/host/{code}/…: go live and end, pin
products, drop coupons, lucky draws, flash sales, moderation, and the live numbers.

Operators only (session cookie + CSRF, role 主播 or admin), and only on sessions they host
unless they are an admin. Thin: parse, check, call `live.host` / `live.flash_sale` / `live.stats`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from freshloop.catalog.models import Sku
from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.errors import NotFound
from freshloop.core.permissions import Role
from freshloop.live import host
from freshloop.live.models import FlashSale, LiveComment, LiveSession, LiveStatus, LiveViewer
from freshloop.live.services import live_session_get
from freshloop.live.stats import session_stats
from freshloop.promotions.models import CouponTemplate

router = Router(tags=["直播主播端 live host"], auth=OperatorAuth(Role.LIVE_HOST))

MAX_COMMENTS_LISTED = 200


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class ReplayIn(_In):
    replay_url: str = Field(..., min_length=1, max_length=300, description="回放地址")


class PinIn(_In):
    sku_id: int = Field(..., ge=1, description="本场直播商品的 SKU")


class CouponDropIn(_In):
    template_id: int = Field(..., ge=1, description="本场直播专享券模板")


class DrawIn(_In):
    prize: str = Field(..., min_length=1, max_length=64, description="奖品")
    winners_count: int = Field(..., ge=1, le=host.MAX_DRAW_WINNERS, description="中奖人数")


class MuteIn(_In):
    minutes: int = Field(10, ge=1, le=host.MAX_MUTE_MINUTES, description="禁言分钟数")


class FlashSaleIn(_In):
    sku_id: int = Field(..., ge=1)
    price_fen: int = Field(..., ge=1, le=100_000_000, description="秒杀价（分）")
    quantity: int = Field(..., ge=1, le=1_000_000, description="秒杀数量")
    per_user_limit: int = Field(1, ge=1, le=99, description="每人限购")
    duration_seconds: int = Field(..., ge=1, le=7 * 86400, description="持续秒数")


class CommentsQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_COMMENTS_LISTED)
    include_deleted: bool = False


class SessionStateOut(Schema):
    code: str
    title: str
    status: str
    status_label: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    replay_url: str


class UnpinOut(Schema):
    unpinned_sku_id: int | None


class CouponDropOut(Schema):
    template_id: int
    name: str


class WinnerOut(Schema):
    viewer_id: int
    person_id: int | None
    nickname: str


class DrawOut(Schema):
    id: int
    prize: str
    winners_count: int
    candidates: int
    seed: str
    winners: list[WinnerOut]
    verified: bool
    created_at: dt.datetime


class ViewerOut(Schema):
    viewer_id: int
    person_id: int
    nickname: str
    muted_until: dt.datetime | None
    banned: bool


class ModerationCommentOut(Schema):
    id: int
    viewer_id: int
    person_id: int
    nickname: str
    text: str
    created_at: dt.datetime
    deleted: bool
    muted_until: dt.datetime | None
    banned: bool


class FlashSaleOut(Schema):
    id: int
    sku_id: int
    price_fen: int
    quantity: int
    claimed: int
    paid: int
    per_user_limit: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str


class FunnelStepOut(Schema):
    action: str
    label: str
    persons: int


class StatsOut(Schema):
    code: str
    status: str
    at: dt.datetime
    online: int
    peak: int
    viewers: int
    average_dwell_seconds: int
    comments_last_minute: int
    likes: int
    product_clicks: int
    add_to_cart: int
    orders: int
    gmv_fen: int
    buyers: int
    conversion_bp: int = Field(..., description="转化率（万分比）：下单支付人数 / 观看人数")
    funnel: list[FunnelStepOut]


# --- helpers --------------------------------------------------------------------------------


def _hosted(request: HttpRequest, code: str) -> LiveSession:
    session = live_session_get(code=code)
    host.host_session_require(request.user, session)
    return session


def _state(session: LiveSession) -> SessionStateOut:
    return SessionStateOut(
        code=session.code,
        title=session.title,
        status=session.status,
        status_label=LiveStatus(session.status).label,
        started_at=session.started_at,
        ended_at=session.ended_at,
        replay_url=session.replay_url,
    )


def draw_out(draw: Any) -> DrawOut:
    viewers = {v.pk: v for v in LiveViewer.objects.filter(pk__in=[int(w) for w in draw.winners])}
    winners = []
    for viewer_id in draw.winners:
        viewer = viewers.get(int(viewer_id))
        winners.append(
            WinnerOut(
                viewer_id=int(viewer_id),
                person_id=viewer.person_id if viewer else None,
                nickname=viewer.nickname if viewer else "",
            )
        )
    return DrawOut(
        id=draw.pk,
        prize=draw.prize,
        winners_count=draw.winners_count,
        candidates=len(draw.candidates),
        seed=draw.seed,
        winners=winners,
        verified=host.lucky_draw_verify(draw=draw),
        created_at=draw.created_at,
    )


def _viewer_out(viewer: LiveViewer) -> ViewerOut:
    return ViewerOut(
        viewer_id=viewer.pk,
        person_id=viewer.person_id,
        nickname=viewer.nickname,
        muted_until=viewer.muted_until,
        banned=viewer.banned,
    )


def _comment_out(comment: LiveComment) -> ModerationCommentOut:
    viewer = comment.viewer
    return ModerationCommentOut(
        id=comment.pk,
        viewer_id=viewer.pk,
        person_id=viewer.person_id,
        nickname=viewer.nickname,
        text=comment.text,
        created_at=comment.created_at,
        deleted=comment.deleted_at is not None,
        muted_until=viewer.muted_until,
        banned=viewer.banned,
    )


def _flash_out(sale: FlashSale) -> FlashSaleOut:
    return FlashSaleOut(
        id=sale.pk,
        sku_id=sale.sku_id,
        price_fen=sale.price_fen,
        quantity=sale.quantity,
        claimed=sale.claimed,
        paid=sale.paid,
        per_user_limit=sale.per_user_limit,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        status=sale.status,
    )


# --- the session ----------------------------------------------------------------------------


@router.post("/{code}/start", response=SessionStateOut, summary="开播")
def start(request: HttpRequest, code: str) -> SessionStateOut:
    session = host.live_session_start(session=_hosted(request, code), actor=request_actor(request))
    return _state(session)


@router.post("/{code}/end", response=SessionStateOut, summary="结束直播（同时结束进行中的秒杀）")
def end(request: HttpRequest, code: str) -> SessionStateOut:
    session = host.live_session_end(session=_hosted(request, code), actor=request_actor(request))
    return _state(session)


@router.post("/{code}/replay", response=SessionStateOut, summary="开放回放")
def replay(request: HttpRequest, code: str, body: ReplayIn) -> SessionStateOut:
    session = host.live_session_replay(
        session=_hosted(request, code), replay_url=body.replay_url, actor=request_actor(request)
    )
    return _state(session)


# --- products and coupons -------------------------------------------------------------------


@router.post("/{code}/pin", summary="置顶商品（同时取消之前的置顶）")
def pin(request: HttpRequest, code: str, body: PinIn) -> dict[str, Any]:
    pinned = host.product_pin(
        session=_hosted(request, code), sku_id=body.sku_id, actor=request_actor(request)
    )
    return host.pinned_card(pinned)


@router.post("/{code}/unpin", response=UnpinOut, summary="取消置顶")
def unpin(request: HttpRequest, code: str) -> UnpinOut:
    unpinned = host.product_unpin(session=_hosted(request, code), actor=request_actor(request))
    return UnpinOut(unpinned_sku_id=unpinned.sku_id if unpinned else None)


@router.post(
    "/{code}/coupons/drop", response=CouponDropOut, summary="发放直播专享券（观众自行领取）"
)
def coupon_drop(request: HttpRequest, code: str, body: CouponDropIn) -> CouponDropOut:
    session = _hosted(request, code)
    template = CouponTemplate.objects.filter(pk=body.template_id).first()
    if template is None:
        raise host.CouponNotInSession(detail={"template_id": body.template_id})
    host.coupon_drop(session=session, template=template, actor=request_actor(request))
    return CouponDropOut(template_id=template.pk, name=template.name)


# --- lucky draw -----------------------------------------------------------------------------


@router.post("/{code}/draws", response={201: DrawOut}, summary="评论抽奖")
def draw(request: HttpRequest, code: str, body: DrawIn) -> Status[DrawOut]:
    drawn = host.lucky_draw(
        session=_hosted(request, code),
        prize=body.prize,
        winners_count=body.winners_count,
        actor=request_actor(request),
    )
    return Status(201, draw_out(drawn))


@router.get("/{code}/draws", response=list[DrawOut], summary="本场抽奖记录（含复核结果）")
def draws(request: HttpRequest, code: str) -> list[DrawOut]:
    session = _hosted(request, code)
    return [draw_out(d) for d in session.draws.order_by("-pk")[:20]]


# --- moderation -----------------------------------------------------------------------------


@router.get(
    "/{code}/comments", response=list[ModerationCommentOut], summary="最近评论（含观众编号）"
)
def comments(
    request: HttpRequest, code: str, query: Query[CommentsQuery]
) -> list[ModerationCommentOut]:
    session = _hosted(request, code)
    rows = LiveComment.objects.filter(session=session).select_related("viewer")
    if not query.include_deleted:
        rows = rows.filter(deleted_at__isnull=True)
    latest = list(rows.order_by("-pk")[: query.limit])
    return [_comment_out(c) for c in reversed(latest)]


@router.post(
    "/{code}/comments/{comment_id}/delete", response=ModerationCommentOut, summary="删除评论"
)
def comment_delete(request: HttpRequest, code: str, comment_id: int) -> ModerationCommentOut:
    session = _hosted(request, code)
    comment = LiveComment.objects.filter(pk=comment_id, session=session).first()
    if comment is None:
        raise NotFound("评论不存在", detail={"comment_id": comment_id})
    deleted = host.comment_delete(comment=comment, actor=request_actor(request))
    return _comment_out(LiveComment.objects.select_related("viewer").get(pk=deleted.pk))


@router.post("/{code}/viewers/{person_id}/mute", response=ViewerOut, summary="禁言观众")
def mute(request: HttpRequest, code: str, person_id: int, body: MuteIn) -> ViewerOut:
    viewer = host.viewer_mute(
        session=_hosted(request, code),
        person_id=person_id,
        minutes=body.minutes,
        actor=request_actor(request),
    )
    return _viewer_out(viewer)


@router.post("/{code}/viewers/{person_id}/unmute", response=ViewerOut, summary="解除禁言")
def unmute(request: HttpRequest, code: str, person_id: int) -> ViewerOut:
    viewer = host.viewer_unmute(
        session=_hosted(request, code), person_id=person_id, actor=request_actor(request)
    )
    return _viewer_out(viewer)


@router.post(
    "/{code}/viewers/{person_id}/ban", response=ViewerOut, summary="拉黑观众（移出直播间）"
)
def ban(request: HttpRequest, code: str, person_id: int) -> ViewerOut:
    viewer = host.viewer_ban(
        session=_hosted(request, code), person_id=person_id, actor=request_actor(request)
    )
    return _viewer_out(viewer)


@router.post("/{code}/viewers/{person_id}/unban", response=ViewerOut, summary="解除拉黑")
def unban(request: HttpRequest, code: str, person_id: int) -> ViewerOut:
    viewer = host.viewer_unban(
        session=_hosted(request, code), person_id=person_id, actor=request_actor(request)
    )
    return _viewer_out(viewer)


# --- flash sales ----------------------------------------------------------------------------


@router.post("/{code}/flash-sales", response={201: FlashSaleOut}, summary="发起秒杀")
def flash_sale_start(request: HttpRequest, code: str, body: FlashSaleIn) -> Status[FlashSaleOut]:
    from freshloop.live import flash_sale

    session = _hosted(request, code)
    if not session.products.filter(sku_id=body.sku_id).exists():
        raise host.ProductNotInSession(detail={"sku_id": body.sku_id})
    sale = flash_sale.flash_sale_start(
        session=session,
        sku=Sku.objects.get(pk=body.sku_id),
        price_fen=body.price_fen,
        quantity=body.quantity,
        per_user_limit=body.per_user_limit,
        duration_seconds=body.duration_seconds,
        actor=request_actor(request),
    )
    return Status(201, _flash_out(sale))


@router.get("/{code}/flash-sales", response=list[FlashSaleOut], summary="本场秒杀（最近 20 场）")
def flash_sales(request: HttpRequest, code: str) -> list[FlashSaleOut]:
    session = _hosted(request, code)
    return [_flash_out(sale) for sale in session.flash_sales.order_by("-pk")[:20]]


@router.post("/{code}/flash-sales/{flash_sale_id}/end", response=FlashSaleOut, summary="结束秒杀")
def flash_sale_end(request: HttpRequest, code: str, flash_sale_id: int) -> FlashSaleOut:
    from freshloop.live import flash_sale

    session = _hosted(request, code)
    sale = FlashSale.objects.filter(pk=flash_sale_id, session=session).first()
    if sale is None:
        raise NotFound("秒杀不存在", detail={"flash_sale_id": flash_sale_id})
    flash_sale.flash_sale_end(flash_sale=sale, actor=request_actor(request))
    sale.refresh_from_db()
    return _flash_out(sale)


# --- numbers --------------------------------------------------------------------------------


@router.get(
    "/{code}/stats", response=StatsOut, summary="实时数据：在线、峰值、评论/分钟、加购、订单、GMV"
)
def stats(request: HttpRequest, code: str) -> dict[str, Any]:
    return session_stats(session=_hosted(request, code)).as_dict()
