"""The viewer's API for the live room: room state, join/heartbeat/leave, comments, likes,
behaviour tracking, reservations and live coupons. Buying uses the shop API with
`channel: "live"` and the session code as `source_ref` (and the flash-sale API for 秒杀).

Watching needs no login: a guest is known by a device id (a weak identifier) until they log in,
when the device is linked to their phone's OneID and the guest's history follows them.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput, NotAuthenticated, NotFound, RateLimited
from freshloop.identity.auth import ConsumerAuth, consumer_from_request, request_person
from freshloop.identity.errors import (
    ConflictingIdentifiers,
    InvalidIdentifier,
    TokenInvalid,
    TooManyIdentifiers,
)
from freshloop.identity.models import Person
from freshloop.live.flash_sale.selectors import flash_sale_quote
from freshloop.live.models import LiveAction, LiveSession
from freshloop.live.room import selectors, services
from freshloop.live.room.errors import CommentRefused, LiveSessionNotLive, ViewerBanned, ViewerMuted
from freshloop.live.room.schemas import (
    CommentIn,
    CommentOut,
    DeviceIn,
    FlashQuoteIn,
    JoinIn,
    JoinOut,
    LikeIn,
    TrackIn,
)
from freshloop.membership.errors import MemberNotFound
from freshloop.orders.errors import CartEmpty, CartLimitExceeded
from freshloop.orders.schemas import QuoteOut, quote_out
from freshloop.promotions.errors import (
    CouponLimitReached,
    CouponNotForLive,
    CouponSoldOut,
    CouponTemplateInactive,
    CouponUnavailable,
)
from freshloop.promotions.services import coupon_issue_in_live

router = Router(tags=["直播间 live"])


def _logged_in(request: HttpRequest) -> Person | None:
    try:
        record = consumer_from_request(request)
    except TokenInvalid:
        return None
    return record.person if record is not None else None


def _viewer(request: HttpRequest, device_id: str) -> tuple[Person, bool]:
    """The person watching: the logged-in buyer (their device linked to them), or a guest."""
    person = _logged_in(request)
    if person is not None:
        if device_id:
            person = services.viewer_device_link(person=person, device_id=device_id)
        return person, False
    if not device_id:
        raise NotAuthenticated("请先登录或刷新页面")
    return services.guest_for_device(device_id=device_id), True


def _session(code: str) -> LiveSession:
    return selectors.live_session_get(code=code)


@router.get("/{code}", summary="直播间当前状态：视频地址、商品与置顶、秒杀、直播券、点赞")
@raises(NotFound)
def room_state(request: HttpRequest, code: str) -> dict[str, Any]:
    return selectors.room_state(session=_session(code), person=_logged_in(request))


@router.post("/{code}/join", response=JoinOut, summary="进入直播间（未登录时用设备标识）")
@raises(
    ConflictingIdentifiers,
    InvalidIdentifier,
    LiveSessionNotLive,
    NotAuthenticated,
    NotFound,
    TooManyIdentifiers,
    ViewerBanned,
)
def join(request: HttpRequest, code: str, body: JoinIn) -> JoinOut:
    session = _session(code)
    person, guest = _viewer(request, body.device_id)
    viewer = services.viewer_join(session=session, person=person, nickname=body.nickname)
    return JoinOut(nickname=viewer.nickname, guest=guest, one_id=person.one_id)


@router.post("/{code}/heartbeat", summary="观看心跳（每 30 秒），累计观看时长")
@raises(ConflictingIdentifiers, InvalidIdentifier, NotAuthenticated, NotFound, TooManyIdentifiers)
def heartbeat(request: HttpRequest, code: str, body: DeviceIn) -> dict[str, int]:
    person, _ = _viewer(request, body.device_id)
    return {"dwell_seconds": services.viewer_heartbeat(session=_session(code), person=person)}


@router.post("/{code}/leave", response={204: None}, summary="离开直播间")
@raises(ConflictingIdentifiers, InvalidIdentifier, NotAuthenticated, NotFound, TooManyIdentifiers)
def leave(request: HttpRequest, code: str, body: DeviceIn) -> Status[None]:
    person, _ = _viewer(request, body.device_id)
    services.viewer_leave(session=_session(code), person=person)
    return Status(204, None)


@router.get("/{code}/comments", response=list[CommentOut], summary="最近的评论")
@raises(NotFound)
def comments(request: HttpRequest, code: str) -> list[dict[str, Any]]:
    return selectors.recent_comments(session=_session(code))


@router.post(
    "/{code}/comments", response={201: CommentOut}, auth=ConsumerAuth(), summary="发评论（需登录）"
)
@raises(CommentRefused, LiveSessionNotLive, NotFound, RateLimited, ViewerBanned, ViewerMuted)
def comment(request: HttpRequest, code: str, body: CommentIn) -> Status[dict[str, Any]]:
    text = services.comment_text_check(body.text)
    posted = services.comment_post(
        session=_session(code), person=request_person(request), text=text
    )
    return Status(
        201,
        {
            "id": posted.pk,
            "nickname": posted.viewer.nickname,
            "text": posted.text,
            "at": posted.created_at.isoformat(),
        },
    )


@router.post("/{code}/likes", summary="点赞")
@raises(
    ConflictingIdentifiers,
    InvalidIdentifier,
    InvalidInput,
    LiveSessionNotLive,
    NotAuthenticated,
    NotFound,
    TooManyIdentifiers,
)
def likes(request: HttpRequest, code: str, body: LikeIn) -> dict[str, int]:
    person, _ = _viewer(request, body.device_id)
    return {"likes": services.like(session=_session(code), person=person, count=body.count)}


@router.post("/{code}/track", response={204: None}, summary="记录点击商品 / 加购")
@raises(
    ConflictingIdentifiers,
    InvalidIdentifier,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyIdentifiers,
)
def track(request: HttpRequest, code: str, body: TrackIn) -> Status[None]:
    person, _ = _viewer(request, body.device_id)
    services.product_action(
        session=_session(code), person=person, action=LiveAction(body.action), sku_id=body.sku_id
    )
    return Status(204, None)


@router.post(
    "/{code}/flash-sales/{flash_sale_id}/quote",
    response=QuoteOut,
    auth=ConsumerAuth(),
    summary="秒杀价格预览（抢到后按此价格下单）",
)
@raises(CartEmpty, CartLimitExceeded, InvalidInput, MemberNotFound, NotFound)
def flash_quote(
    request: HttpRequest, code: str, flash_sale_id: int, body: FlashQuoteIn
) -> QuoteOut:
    quote = flash_sale_quote(
        session=_session(code),
        flash_sale_id=flash_sale_id,
        person=request_person(request),
        quantity=body.quantity,
        coupon_ids=body.coupon_ids,
    )
    return quote_out(quote)


@router.post("/{code}/reserve", auth=ConsumerAuth(), summary="预约直播，开播前提醒")
@raises(LiveSessionNotLive, NotFound)
def reserve(request: HttpRequest, code: str) -> dict[str, bool]:
    services.live_reserve(session=_session(code), person=request_person(request))
    return {"reserved": True}


@router.post(
    "/{code}/coupons/{template_id}/claim",
    auth=ConsumerAuth(),
    summary="领取直播间专享券",
)
@raises(
    CouponLimitReached,
    CouponNotForLive,
    CouponSoldOut,
    CouponTemplateInactive,
    CouponUnavailable,
    InvalidInput,
    NotFound,
)
def claim_coupon(request: HttpRequest, code: str, template_id: int) -> dict[str, Any]:
    session = _session(code)
    template = selectors.live_coupon_template(session=session, template_id=template_id)
    coupon = coupon_issue_in_live(
        template=template, live_session_id=session.code, person=request_person(request)
    )
    return {"coupon_id": coupon.pk, "name": template.name, "valid_until": coupon.valid_until}
