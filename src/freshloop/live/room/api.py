"""The viewer API of the live room: room state, join/heartbeat/leave, comments, likes,
behaviour tracking, reservations and live coupons. Buying uses the shop API with
`channel: "live"` and the session code as `source_ref` (and the flash-sale API for 秒杀).

Watching needs no login: a guest is known by a device id (a weak identifier) until they log in,
when the device is linked to their phone's OneID and the guest's history follows them. Once a
device belongs to an account, it no longer speaks for that person on its own: an anonymous
caller presenting it is refused (`live_device_login_required`) and starts a new device id.
A cookie-authenticated write carries the CSRF token (`room.access.request_buyer_writing`); a
members-only room lets in only logged-in members and the back office (`room_admit`).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from freshloop.core.api_errors import raises
from freshloop.core.errors import (
    InvalidInput,
    MalformedRequest,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    RateLimiterUnavailable,
)
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.identity.errors import (
    ConflictingIdentifiers,
    InvalidIdentifier,
    TooManyIdentifiers,
)
from freshloop.identity.models import Person
from freshloop.live.flash_sale.selectors import flash_sale_quote
from freshloop.live.models import LiveAction, LiveSession
from freshloop.live.room import selectors, services
from freshloop.live.room.access import request_admit, request_buyer, request_buyer_writing
from freshloop.live.room.errors import (
    CommentRefused,
    DeviceLoginRequired,
    LiveSessionNotLive,
    MembersOnly,
    ViewerBanned,
    ViewerMuted,
)
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

# What every anonymous-capable viewer action may answer besides its own errors: the device
# resolved through OneID, a bound device, CSRF on a cookie write, a members-only room.
VIEWER_ERRORS = (
    ConflictingIdentifiers,
    DeviceLoginRequired,
    InvalidIdentifier,
    MalformedRequest,
    MembersOnly,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyIdentifiers,
)


def _viewer(buyer: Person | None, device_id: str) -> tuple[Person, bool]:
    """The person watching: the logged-in buyer (their device linked to them), or a guest."""
    if buyer is not None:
        if device_id:
            buyer = services.viewer_device_link(person=buyer, device_id=device_id)
        return buyer, False
    if not device_id:
        raise NotAuthenticated("请先登录或刷新页面")
    return services.guest_for_device(device_id=device_id), True


def _room(request: HttpRequest, code: str, *, person: Person | None) -> LiveSession:
    """The session, once the caller is let in (members-only rooms)."""
    session = selectors.live_session_get(code=code)
    request_admit(request, session=session, person=person)
    return session


def _viewer_in_room(request: HttpRequest, code: str, device_id: str) -> tuple[LiveSession, Person]:
    """Admission is decided before a guest is created for the device: a refused caller
    leaves nothing behind."""
    buyer = request_buyer_writing(request)
    session = _room(request, code, person=buyer)
    person, _ = _viewer(buyer, device_id)
    return session, person


@router.get("/{code}", summary="直播间当前状态：视频地址、商品与置顶、秒杀、直播券、点赞")
@raises(MembersOnly, NotFound)
def room_state(request: HttpRequest, code: str) -> dict[str, Any]:
    buyer = request_buyer(request)
    return selectors.room_state(session=_room(request, code, person=buyer), person=buyer)


@router.post("/{code}/join", response=JoinOut, summary="进入直播间（未登录时用设备标识）")
@raises(*VIEWER_ERRORS, LiveSessionNotLive, ViewerBanned)
def join(request: HttpRequest, code: str, body: JoinIn) -> JoinOut:
    buyer = request_buyer_writing(request)
    session = _room(request, code, person=buyer)
    person, guest = _viewer(buyer, body.device_id)
    viewer = services.viewer_join(session=session, person=person, nickname=body.nickname)
    return JoinOut(nickname=viewer.nickname, guest=guest, one_id=person.one_id)


@router.post("/{code}/heartbeat", summary="观看心跳（每 30 秒），累计观看时长")
@raises(*VIEWER_ERRORS)
def heartbeat(request: HttpRequest, code: str, body: DeviceIn) -> dict[str, int]:
    session, person = _viewer_in_room(request, code, body.device_id)
    return {"dwell_seconds": services.viewer_heartbeat(session=session, person=person)}


@router.post("/{code}/leave", response={204: None}, summary="离开直播间")
@raises(*VIEWER_ERRORS)
def leave(request: HttpRequest, code: str, body: DeviceIn) -> Status[None]:
    session, person = _viewer_in_room(request, code, body.device_id)
    services.viewer_leave(session=session, person=person)
    return Status(204, None)


@router.get("/{code}/comments", response=list[CommentOut], summary="最近的评论")
@raises(MembersOnly, NotFound)
def comments(request: HttpRequest, code: str) -> list[dict[str, Any]]:
    session = _room(request, code, person=request_buyer(request))
    return selectors.recent_comments(session=session)


@router.post(
    "/{code}/comments", response={201: CommentOut}, auth=ConsumerAuth(), summary="发评论（需登录）"
)
@raises(
    CommentRefused,
    LiveSessionNotLive,
    MembersOnly,
    NotFound,
    RateLimited,
    RateLimiterUnavailable,
    ViewerBanned,
    ViewerMuted,
)
def comment(request: HttpRequest, code: str, body: CommentIn) -> Status[dict[str, Any]]:
    person = request_person(request)
    session = _room(request, code, person=person)
    text = services.comment_text_check(body.text)
    posted = services.comment_post(session=session, person=person, text=text)
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
@raises(*VIEWER_ERRORS, InvalidInput, LiveSessionNotLive)
def likes(request: HttpRequest, code: str, body: LikeIn) -> dict[str, int]:
    session, person = _viewer_in_room(request, code, body.device_id)
    return {"likes": services.like(session=session, person=person, count=body.count)}


@router.post("/{code}/track", response={204: None}, summary="记录点击商品 / 加购")
@raises(*VIEWER_ERRORS, InvalidInput)
def track(request: HttpRequest, code: str, body: TrackIn) -> Status[None]:
    session, person = _viewer_in_room(request, code, body.device_id)
    services.product_action(
        session=session, person=person, action=LiveAction(body.action), sku_id=body.sku_id
    )
    return Status(204, None)


@router.post(
    "/{code}/flash-sales/{flash_sale_id}/quote",
    response=QuoteOut,
    auth=ConsumerAuth(),
    summary="秒杀价格预览（抢到后按此价格下单）",
)
@raises(CartEmpty, CartLimitExceeded, InvalidInput, MemberNotFound, MembersOnly, NotFound)
def flash_quote(
    request: HttpRequest, code: str, flash_sale_id: int, body: FlashQuoteIn
) -> QuoteOut:
    person = request_person(request)
    quote = flash_sale_quote(
        session=_room(request, code, person=person),
        flash_sale_id=flash_sale_id,
        person=person,
        quantity=body.quantity,
        coupon_ids=body.coupon_ids,
    )
    return quote_out(quote)


@router.post("/{code}/reserve", auth=ConsumerAuth(), summary="预约直播，开播前提醒")
@raises(LiveSessionNotLive, MembersOnly, NotFound)
def reserve(request: HttpRequest, code: str) -> dict[str, bool]:
    person = request_person(request)
    services.live_reserve(session=_room(request, code, person=person), person=person)
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
    MembersOnly,
    NotFound,
)
def claim_coupon(request: HttpRequest, code: str, template_id: int) -> dict[str, Any]:
    person = request_person(request)
    session = _room(request, code, person=person)
    template = selectors.live_coupon_template(session=session, template_id=template_id)
    coupon = coupon_issue_in_live(template=template, live_session_id=session.code, person=person)
    return {"coupon_id": coupon.pk, "name": template.name, "valid_until": coupon.valid_until}
