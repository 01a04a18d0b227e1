"""The host console's API (SPEC LV-3) at /api/v1/live/host/{code}/…: go live and end, pin
products, drop coupons, lucky draws, flash sales, moderation, and the live numbers.

Operators only (session cookie + CSRF, role 主播 or admin), and only on sessions they host
unless they are an admin. Thin: parse, check, call the host's (or the flash sales') services
and selectors.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from freshloop.catalog.models import Sku
from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import Conflict, InvalidInput, NotFound
from freshloop.core.permissions import Role
from freshloop.live.flash_sale import services as flash_sale
from freshloop.live.flash_sale.errors import (
    FlashSaleAlreadyRunning,
    FlashSaleInvalid,
    FlashSaleSessionNotLive,
)
from freshloop.live.host import selectors, services
from freshloop.live.host.errors import (
    CouponNotInSession,
    LiveStateInvalid,
    NoDrawCandidates,
    NotSessionHost,
    ProductNotInSession,
    ViewerNotInSession,
)
from freshloop.live.host.schemas import (
    CommentsQuery,
    CouponDropIn,
    CouponDropOut,
    DrawIn,
    DrawOut,
    FlashSaleIn,
    FlashSaleOut,
    ModerationCommentOut,
    MuteIn,
    PinIn,
    ReplayIn,
    SessionStateOut,
    UnpinOut,
    ViewerOut,
    comment_out,
    draw_out,
    flash_sale_out,
    state_out,
    viewer_out,
)
from freshloop.live.models import FlashSale, LiveComment, LiveSession
from freshloop.live.room.errors import LiveSessionNotLive
from freshloop.live.room.selectors import live_session_get
from freshloop.promotions.models import CouponTemplate

router = Router(tags=["直播主播端 live host"], auth=OperatorAuth(Role.LIVE_HOST))


def _hosted(request: HttpRequest, code: str) -> LiveSession:
    session = live_session_get(code=code)
    selectors.host_session_require(request.user, session)
    return session


# --- the session ----------------------------------------------------------------------------


@router.post("/{code}/start", response=SessionStateOut, summary="开播")
@raises(LiveStateInvalid, NotFound, NotSessionHost)
def start(request: HttpRequest, code: str) -> SessionStateOut:
    session = services.live_session_start(
        session=_hosted(request, code), actor=request_actor(request)
    )
    return state_out(session)


@router.post("/{code}/end", response=SessionStateOut, summary="结束直播（同时结束进行中的秒杀）")
@raises(LiveStateInvalid, NotFound, NotSessionHost)
def end(request: HttpRequest, code: str) -> SessionStateOut:
    session = services.live_session_end(
        session=_hosted(request, code), actor=request_actor(request)
    )
    return state_out(session)


@router.post("/{code}/replay", response=SessionStateOut, summary="开放回放")
@raises(InvalidInput, LiveStateInvalid, NotFound, NotSessionHost)
def replay(request: HttpRequest, code: str, body: ReplayIn) -> SessionStateOut:
    session = services.live_session_replay(
        session=_hosted(request, code), replay_url=body.replay_url, actor=request_actor(request)
    )
    return state_out(session)


# --- products and coupons -------------------------------------------------------------------


@router.post("/{code}/pin", summary="置顶商品（同时取消之前的置顶）")
@raises(LiveStateInvalid, NotFound, NotSessionHost, ProductNotInSession)
def pin(request: HttpRequest, code: str, body: PinIn) -> dict[str, Any]:
    pinned = services.product_pin(
        session=_hosted(request, code), sku_id=body.sku_id, actor=request_actor(request)
    )
    return selectors.pinned_card(pinned)


@router.post("/{code}/unpin", response=UnpinOut, summary="取消置顶")
@raises(NotFound, NotSessionHost)
def unpin(request: HttpRequest, code: str) -> UnpinOut:
    unpinned = services.product_unpin(session=_hosted(request, code), actor=request_actor(request))
    return UnpinOut(unpinned_sku_id=unpinned.sku_id if unpinned else None)


@router.post(
    "/{code}/coupons/drop", response=CouponDropOut, summary="发放直播专享券（观众自行领取）"
)
@raises(CouponNotInSession, LiveSessionNotLive, NotFound, NotSessionHost)
def coupon_drop(request: HttpRequest, code: str, body: CouponDropIn) -> CouponDropOut:
    session = _hosted(request, code)
    template = CouponTemplate.objects.filter(pk=body.template_id).first()
    if template is None:
        raise CouponNotInSession(detail={"template_id": body.template_id})
    services.coupon_drop(session=session, template=template, actor=request_actor(request))
    return CouponDropOut(template_id=template.pk, name=template.name)


# --- lucky draw -----------------------------------------------------------------------------


@router.post("/{code}/draws", response={201: DrawOut}, summary="评论抽奖")
@raises(InvalidInput, LiveStateInvalid, NoDrawCandidates, NotFound, NotSessionHost)
def draw(request: HttpRequest, code: str, body: DrawIn) -> Status[DrawOut]:
    drawn = services.lucky_draw(
        session=_hosted(request, code),
        prize=body.prize,
        winners_count=body.winners_count,
        actor=request_actor(request),
    )
    return Status(201, draw_out(drawn))


@router.get("/{code}/draws", response=list[DrawOut], summary="本场抽奖记录（含复核结果）")
@raises(NotFound, NotSessionHost)
def draws(request: HttpRequest, code: str) -> list[DrawOut]:
    session = _hosted(request, code)
    return [draw_out(d) for d in selectors.lucky_draws_recent(session=session)]


# --- moderation -----------------------------------------------------------------------------


@router.get(
    "/{code}/comments", response=list[ModerationCommentOut], summary="最近评论（含观众编号）"
)
@raises(NotFound, NotSessionHost)
def comments(
    request: HttpRequest, code: str, query: Query[CommentsQuery]
) -> list[ModerationCommentOut]:
    session = _hosted(request, code)
    listed = selectors.comments_for_moderation(
        session=session, limit=query.limit, include_deleted=query.include_deleted
    )
    return [comment_out(c) for c in listed]


@router.post(
    "/{code}/comments/{comment_id}/delete", response=ModerationCommentOut, summary="删除评论"
)
@raises(NotFound, NotSessionHost)
def comment_delete(request: HttpRequest, code: str, comment_id: int) -> ModerationCommentOut:
    session = _hosted(request, code)
    comment = LiveComment.objects.filter(pk=comment_id, session=session).first()
    if comment is None:
        raise NotFound("评论不存在", detail={"comment_id": comment_id})
    deleted = services.comment_delete(comment=comment, actor=request_actor(request))
    return comment_out(LiveComment.objects.select_related("viewer").get(pk=deleted.pk))


@router.post("/{code}/viewers/{person_id}/mute", response=ViewerOut, summary="禁言观众")
@raises(InvalidInput, NotFound, NotSessionHost, ViewerNotInSession)
def mute(request: HttpRequest, code: str, person_id: int, body: MuteIn) -> ViewerOut:
    viewer = services.viewer_mute(
        session=_hosted(request, code),
        person_id=person_id,
        minutes=body.minutes,
        actor=request_actor(request),
    )
    return viewer_out(viewer)


@router.post("/{code}/viewers/{person_id}/unmute", response=ViewerOut, summary="解除禁言")
@raises(NotFound, NotSessionHost, ViewerNotInSession)
def unmute(request: HttpRequest, code: str, person_id: int) -> ViewerOut:
    viewer = services.viewer_unmute(
        session=_hosted(request, code), person_id=person_id, actor=request_actor(request)
    )
    return viewer_out(viewer)


@router.post(
    "/{code}/viewers/{person_id}/ban", response=ViewerOut, summary="拉黑观众（移出直播间）"
)
@raises(NotFound, NotSessionHost, ViewerNotInSession)
def ban(request: HttpRequest, code: str, person_id: int) -> ViewerOut:
    viewer = services.viewer_ban(
        session=_hosted(request, code), person_id=person_id, actor=request_actor(request)
    )
    return viewer_out(viewer)


@router.post("/{code}/viewers/{person_id}/unban", response=ViewerOut, summary="解除拉黑")
@raises(NotFound, NotSessionHost, ViewerNotInSession)
def unban(request: HttpRequest, code: str, person_id: int) -> ViewerOut:
    viewer = services.viewer_unban(
        session=_hosted(request, code), person_id=person_id, actor=request_actor(request)
    )
    return viewer_out(viewer)


# --- flash sales ----------------------------------------------------------------------------


@router.post("/{code}/flash-sales", response={201: FlashSaleOut}, summary="发起秒杀")
@raises(
    FlashSaleAlreadyRunning,
    FlashSaleInvalid,
    FlashSaleSessionNotLive,
    NotFound,
    NotSessionHost,
    ProductNotInSession,
    # Setting the sale's units aside (inventory.stock_block_reserve) checks the quantity and
    # that the block is new again.
    InvalidInput,
    Conflict,
)
def flash_sale_start(request: HttpRequest, code: str, body: FlashSaleIn) -> Status[FlashSaleOut]:
    session = _hosted(request, code)
    if not session.products.filter(sku_id=body.sku_id).exists():
        raise ProductNotInSession(detail={"sku_id": body.sku_id})
    sale = flash_sale.flash_sale_start(
        session=session,
        sku=Sku.objects.get(pk=body.sku_id),
        price_fen=body.price_fen,
        quantity=body.quantity,
        per_user_limit=body.per_user_limit,
        duration_seconds=body.duration_seconds,
        actor=request_actor(request),
    )
    return Status(201, flash_sale_out(sale))


@router.get("/{code}/flash-sales", response=list[FlashSaleOut], summary="本场秒杀（最近 20 场）")
@raises(NotFound, NotSessionHost)
def flash_sales(request: HttpRequest, code: str) -> list[FlashSaleOut]:
    session = _hosted(request, code)
    return [flash_sale_out(sale) for sale in session.flash_sales.order_by("-pk")[:20]]


@router.post("/{code}/flash-sales/{flash_sale_id}/end", response=FlashSaleOut, summary="结束秒杀")
@raises(NotFound, NotSessionHost)
def flash_sale_end(request: HttpRequest, code: str, flash_sale_id: int) -> FlashSaleOut:
    session = _hosted(request, code)
    sale = FlashSale.objects.filter(pk=flash_sale_id, session=session).first()
    if sale is None:
        raise NotFound("秒杀不存在", detail={"flash_sale_id": flash_sale_id})
    flash_sale.flash_sale_end(flash_sale=sale, actor=request_actor(request))
    sale.refresh_from_db()
    return flash_sale_out(sale)


# --- numbers --------------------------------------------------------------------------------


@router.get(
    "/{code}/stats",
    response=selectors.SessionStats,
    summary="实时数据：在线、峰值、评论/分钟、加购、订单、GMV",
)
@raises(NotFound, NotSessionHost)
def stats(request: HttpRequest, code: str) -> selectors.SessionStats:
    return selectors.session_stats(session=_hosted(request, code))
