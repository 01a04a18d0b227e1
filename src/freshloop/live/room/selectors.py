"""Reads of the room: the session, its channel, who may enter a members-only room, what the
room shows (where to play it, its products pinned first, offers modules above live add — a
presale's card —, running flash sales, live coupons, likes, and for a logged-in viewer what
they already bought here), its recent comments, the list of sessions, and a viewer's PIPL
export section."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from freshloop.catalog.selectors import product_available_in_region, sku_picture
from freshloop.core import clock, realtime
from freshloop.core.errors import NotFound
from freshloop.core.permissions import UserLike
from freshloop.identity.models import Person
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.live.models import (
    FlashSale,
    FlashSaleStatus,
    LiveComment,
    LiveProduct,
    LiveSession,
    LiveStatus,
    LiveViewer,
)
from freshloop.live.room.carts import carts_export
from freshloop.live.room.errors import MembersOnly
from freshloop.live.streams.selectors import stream_provider
from freshloop.membership.selectors import person_is_member
from freshloop.orders.models import BOUGHT_STATUSES, Order
from freshloop.orders.selectors import address_default_for_person
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.selectors import coupon_value_text

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30
"""How often a watching page beats (room.js); a viewer counts as online a little longer."""
ONLINE_WINDOW = dt.timedelta(seconds=HEARTBEAT_SECONDS + 15)
RECENT_COMMENTS = 50
LISTED_SESSIONS = 30


def room_channel(*, code: str) -> str:
    """The real-time channel of a session's room: the viewers' page and the host console."""
    return realtime.channel_name("live", code)


def live_session_get(*, code: str) -> LiveSession:
    session = LiveSession.objects.select_related("host").filter(code=code).first()
    if session is None:
        raise NotFound("直播不存在", detail={"code": code[:40]})
    return session


MEMBERS_ONLY_HOW_TO_JOIN = "在鲜环商城完成任意一笔订单支付即自动成为会员"
"""What a refused viewer is told (the notice on the room page and the 403's detail)."""


def room_operator_admitted(*, session: LiveSession, user: UserLike | None) -> bool:
    """Back-office people who run or oversee live rooms: the session's host, and anyone whose
    role lets them see live sessions in the console (主播, 营销, 管理员)."""
    if user is None or not user.is_authenticated:
        return False
    return session.host_id == user.pk or bool(user.has_perm("live.view_livesession"))


def room_admit(*, session: LiveSession, person: Person | None, user: UserLike | None) -> None:
    """Let the caller into the room or raise `MembersOnly` (403).

    A members-only room admits a logged-in member (`membership.selectors.person_is_member`:
    they hold a membership account, opened by their first paid order) and the back office
    (`room_operator_admitted`); a guest known only by a device is refused like a non-member.
    Every way into the room asks here: state and stream address, the event stream, joining
    and every viewer action, comments, the replay and the local HLS files.
    """
    if not session.members_only or room_operator_admitted(session=session, user=user):
        return
    if person is None:
        raise MembersOnly(
            "本场为会员专享直播，请先登录",
            detail={"reason": "login_required", "how_to_join": MEMBERS_ONLY_HOW_TO_JOIN},
        )
    if not person_is_member(person_id=person.pk):
        raise MembersOnly(detail={"reason": "not_member", "how_to_join": MEMBERS_ONLY_HOW_TO_JOIN})


def live_session_list_current() -> list[LiveSession]:
    """Live now, coming up, and replays (ended sessions without a replay are left out)."""
    listed = LiveSession.objects.exclude(status=LiveStatus.ENDED).order_by("status", "scheduled_at")
    return list(listed[:LISTED_SESSIONS])


def viewers_online_count(*, session: LiveSession, now: dt.datetime) -> int:
    """Viewers who joined or beat within the online window (banned ones too: the room's figure;
    the host's numbers leave them out)."""
    return LiveViewer.objects.filter(session=session, last_seen_at__gte=now - ONLINE_WINDOW).count()


def live_coupon_template(*, session: LiveSession, template_id: int) -> CouponTemplate:
    template = session.coupon_templates.filter(pk=template_id).first()
    if template is None:
        raise NotFound("本场直播没有这张券", detail={"template_id": template_id})
    return template


RoomOfferSource = Callable[[str], list[dict[str, Any]]]
"""Given a session's code, the offers another module shows in that room as product cards:
dicts with `key` (unique in the room), `badge`, `name`, `image_url`, `price_fen`,
`list_price_fen`, `note`, `action_label` and `href` (the page that sells it)."""

_room_offer_sources: list[RoomOfferSource] = []


def register_room_offer_source(source: RoomOfferSource) -> None:
    """Let a module above live (`web`, which composes live with its siblings, e.g. groupbuy's
    presales) add offers to the room's product cards without live importing it. Registered
    once, at start-up (an AppConfig's `ready`)."""
    if source not in _room_offer_sources:
        _room_offer_sources.append(source)


def room_offers(*, code: str) -> list[dict[str, Any]]:
    """Every registered source's offers for the room. A failing source is logged and left
    out: another module's card must never take the room down."""
    offers: list[dict[str, Any]] = []
    for source in _room_offer_sources:
        try:
            offers.extend(source(code))
        except Exception:
            logger.exception("room offer source %r failed for %s", source, code)
    return offers


def product_card(live_product: LiveProduct, available: int) -> dict[str, Any]:
    sku = live_product.sku
    picture = sku_picture(sku)  # the images are prefetched by room_state
    return {
        "sku_id": sku.pk,
        "thumb": picture.webp_400.url if picture else "",
        "image_url": picture.url if picture else "",
        "name": sku.product.name,
        "spec": sku.spec,
        "price_fen": sku.price_fen,
        "storage": sku.product.storage,
        "storage_label": sku.product.get_storage_display(),
        "origin": sku.product.origin,
        "available": available,
        "pinned": live_product.pinned_at is not None,
    }


def room_state(*, session: LiveSession, person: Person | None) -> dict[str, Any]:
    now = clock.now()
    products = list(
        session.products.select_related("sku__product")
        .prefetch_related("sku__product__images")
        .order_by("-pinned_at", "sort_order", "pk")
    )
    # Regional pools (FD-5): a product hidden in the viewer's province (by their default
    # address; the rules are food's, reached through catalog's region hook) is left out. The
    # order stays the host's: in a live show the host's pins are the ranking.
    address = address_default_for_person(person=person) if person is not None else None
    if address is not None and address.province:
        products = [
            p
            for p in products
            if product_available_in_region(product=p.sku.product, province=address.province)
        ]
    available = stock_available_by_sku(sku_ids=[p.sku_id for p in products])
    cards = [product_card(p, available.get(p.sku_id, 0)) for p in products]
    flash_sales = [
        {
            "id": sale.pk,
            "sku_id": sale.sku_id,
            "price_fen": sale.price_fen,
            "quantity": sale.quantity,
            "remaining": sale.quantity - sale.claimed,
            "per_user_limit": sale.per_user_limit,
            "ends_at": sale.ends_at.isoformat(),
        }
        for sale in FlashSale.objects.filter(
            session=session, status=FlashSaleStatus.RUNNING, ends_at__gt=now
        )
    ]
    coupons = [
        {"template_id": t.pk, "name": t.name, "value": coupon_value_text(t)}
        for t in session.coupon_templates.filter(is_active=True)
    ]
    addresses = stream_provider().addresses(stream_name=session.stream_name)
    play_url = session.replay_url if session.status == LiveStatus.REPLAY else addresses.play_url
    me: dict[str, Any] | None = None
    if person is not None:
        viewer = LiveViewer.objects.filter(session=session, person=person).first()
        bought = Order.objects.filter(
            person=person,
            channel="live",
            source_ref=session.code,
            status__in=BOUGHT_STATUSES,
        ).values_list("lines__sku_id", flat=True)
        me = {
            "one_id": person.one_id,
            "nickname": viewer.nickname if viewer else "",
            "muted_until": viewer.muted_until.isoformat()
            if viewer and viewer.muted_until and viewer.muted_until > now
            else None,
            "banned": bool(viewer and viewer.banned),
            "bought_sku_ids": sorted({sku_id for sku_id in bought if sku_id}),
        }
    return {
        "code": session.code,
        "title": session.title,
        "description": session.description,
        "cover_url": session.cover_url,
        "status": session.status,
        "status_label": session.get_status_display(),
        "members_only": session.members_only,
        "scheduled_at": session.scheduled_at.isoformat(),
        "play_url": play_url if session.status in {LiveStatus.LIVE, LiveStatus.REPLAY} else "",
        "likes": session.likes,
        "online": viewers_online_count(session=session, now=now),
        "products": cards,
        "offers": room_offers(code=session.code),
        "flash_sales": flash_sales,
        "coupons": coupons,
        "me": me,
    }


def recent_comments(*, session: LiveSession) -> list[dict[str, Any]]:
    comments = (
        LiveComment.objects.filter(session=session, deleted_at__isnull=True)
        .select_related("viewer")
        .order_by("-id")[:RECENT_COMMENTS]
    )
    return [
        {"id": c.pk, "nickname": c.viewer.nickname, "text": c.text, "at": c.created_at.isoformat()}
        for c in reversed(list(comments))
    ]


def live_export_section(person: Person) -> dict[str, Any]:
    """PIPL export: every room the person watched (nickname, when, how long) and what they
    wrote there, deleted comments included (they are still held)."""
    viewers = LiveViewer.objects.filter(person=person).select_related("session").order_by("pk")
    comments = (
        LiveComment.objects.filter(viewer__person=person).select_related("session").order_by("pk")
    )
    return {
        "viewing": [
            {
                "session": viewer.session.code,
                "title": viewer.session.title,
                "nickname": viewer.nickname,
                "first_seen_at": viewer.first_seen_at.isoformat(),
                "dwell_seconds": viewer.dwell_seconds,
            }
            for viewer in viewers
        ],
        "comments": [
            {
                "session": comment.session.code,
                "text": comment.text,
                "at": comment.created_at.isoformat(),
                "deleted": comment.deleted_at is not None,
            }
            for comment in comments
        ],
        "carts": carts_export(person=person),
    }
