"""Reads of the host's side: who may run a session, its live numbers, the comments to moderate,
the pinned product's card, and lucky draws (the candidates, and recomputing a draw).

The live numbers (`session_stats`) are read by the host console every 2 seconds, so every
figure is one indexed query. Definitions (the issue leaves them open; docs/live-host.md repeats them):
- online: viewers not banned whose last heartbeat/join is within the online window (45 s);
- peak: the session's recorded peak, or the current online count if that is higher;
- average dwell: mean `dwell_seconds` over every viewer who joined, rounded down;
- comments in the last minute: comments posted in the last 60 s, deleted ones included (the
  figure measures activity, not what is on screen);
- orders / GMV / buyers: orders with channel "live" and `source_ref` = the session code in a
  paid-or-later status; GMV = paid − refunded, in fen;
- conversion: unique buyers / unique viewers, in basis points (integer, rounded down);
- funnel: unique persons per step from the room's own behaviour log (`LiveActivity`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Annotated, Any

from django.db.models import Avg, Count, F, QuerySet, Sum
from pydantic import Field

from freshloop.core import clock
from freshloop.core.permissions import UserLike, register_object_rule, user_is_admin
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.live.host.errors import NotSessionHost
from freshloop.live.models import (
    LiveAction,
    LiveActivity,
    LiveComment,
    LiveProduct,
    LiveSession,
    LiveStatus,
    LiveViewer,
    LuckyDraw,
)
from freshloop.live.room.carts import cart_stats
from freshloop.live.room.selectors import ONLINE_WINDOW, product_card
from freshloop.orders.models import Order, OrderStatus

# --- who may act ----------------------------------------------------------------------------


def _is_session_host(user: Any, session: LiveSession) -> bool:
    return bool(user.is_authenticated and session.host_id == user.pk)


register_object_rule(LiveSession, _is_session_host)


def host_session_require(user: UserLike, session: LiveSession) -> None:
    """The session's own host or an admin; another host gets a 403 (the session is not secret:
    its code is on the public room page)."""
    if user_is_admin(user) or _is_session_host(user, session):
        return
    raise NotSessionHost(detail={"code": session.code})


# --- the live numbers -----------------------------------------------------------------------

PAID_OR_LATER = [
    OrderStatus.PAID,
    OrderStatus.ALLOCATED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.REFUND_REQUESTED,
    OrderStatus.REFUNDED,
    OrderStatus.PARTIALLY_REFUNDED,
]
FUNNEL_STEPS = (
    (LiveAction.JOIN, "观看"),
    (LiveAction.ADD_TO_CART, "加购"),
    (LiveAction.PAY, "支付"),
)


@dataclasses.dataclass(frozen=True)
class FunnelStep:
    action: str
    label: str
    persons: int


@dataclasses.dataclass(frozen=True)
class SessionStats:
    """The numbers, also the host API's answer as they are (`host.api.stats`)."""

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
    conversion_bp: Annotated[int, Field(description="转化率（万分比）：下单支付人数 / 观看人数")]
    funnel: list[FunnelStep]
    carts_abandoned: Annotated[int, Field(description="加购后未在规定分钟内支付的观众数")]
    carts_recovered: Annotated[int, Field(description="其中之后又支付了的观众数（挽回）")]
    carts_recovered_fen: Annotated[int, Field(description="挽回订单中这些商品的实付金额（分）")]

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["at"] = self.at.isoformat()
        return data


def live_orders(*, session: LiveSession) -> Any:
    """Orders placed in this session's room that were paid (refunded ones included)."""
    return Order.objects.filter(channel="live", source_ref=session.code, status__in=PAID_OR_LATER)


def session_stats(*, session: LiveSession, now: dt.datetime | None = None) -> SessionStats:
    moment = now or clock.now()
    viewers = LiveViewer.objects.filter(session=session)
    online = viewers.filter(banned=False, last_seen_at__gte=moment - ONLINE_WINDOW).count()
    viewer_numbers = viewers.aggregate(count=Count("pk"), dwell=Avg("dwell_seconds"))
    viewer_count = int(viewer_numbers["count"] or 0)
    comments = LiveComment.objects.filter(
        session=session, created_at__gt=moment - dt.timedelta(minutes=1), created_at__lte=moment
    ).count()
    activity = LiveActivity.objects.filter(session=session)
    counts = dict(
        activity.filter(action__in=[LiveAction.CLICK_PRODUCT, LiveAction.ADD_TO_CART])
        .values_list("action")
        .annotate(n=Count("pk"))
        .values_list("action", "n")
    )
    persons = dict(
        activity.filter(action__in=[step for step, _ in FUNNEL_STEPS])
        .values_list("action")
        .annotate(n=Count("person", distinct=True))
        .values_list("action", "n")
    )
    orders = live_orders(session=session).aggregate(
        count=Count("pk"),
        gmv=Sum(F("paid_fen") - F("refunded_fen")),
        buyers=Count("person", distinct=True),
    )
    buyers = int(orders["buyers"] or 0)
    carts = cart_stats(session=session)
    return SessionStats(
        code=session.code,
        status=session.status,
        at=moment,
        online=online,
        peak=max(session.peak_viewers, online),
        viewers=viewer_count,
        average_dwell_seconds=int(viewer_numbers["dwell"] or 0),
        comments_last_minute=comments,
        likes=session.likes,
        product_clicks=int(counts.get(LiveAction.CLICK_PRODUCT, 0)),
        add_to_cart=int(counts.get(LiveAction.ADD_TO_CART, 0)),
        orders=int(orders["count"] or 0),
        gmv_fen=int(orders["gmv"] or 0),
        buyers=buyers,
        conversion_bp=buyers * 10000 // viewer_count if viewer_count else 0,
        funnel=[
            FunnelStep(action=str(action), label=label, persons=int(persons.get(action, 0)))
            for action, label in FUNNEL_STEPS
        ],
        carts_abandoned=carts.abandoned,
        carts_recovered=carts.recovered,
        carts_recovered_fen=carts.recovered_fen,
    )


# --- the room as the host sees it -----------------------------------------------------------


def comments_for_moderation(
    *, session: LiveSession, limit: int, include_deleted: bool = False
) -> list[LiveComment]:
    """The latest `limit` comments, oldest first, with their viewers (deleted ones on request)."""
    rows = LiveComment.objects.filter(session=session).select_related("viewer")
    if not include_deleted:
        rows = rows.filter(deleted_at__isnull=True)
    latest = list(rows.order_by("-pk")[:limit])
    return list(reversed(latest))


def pinned_card(live_product: LiveProduct) -> dict[str, Any]:
    """The product card the room shows (the viewer's card plus the main image)."""
    available = stock_available_by_sku(sku_ids=[live_product.sku_id]).get(live_product.sku_id, 0)
    product = live_product.sku.product
    image = product.image_url or next((i.url for i in product.images.all()), "")
    return {**product_card(live_product, available), "image": image}


# --- lucky draws ----------------------------------------------------------------------------


def draw_candidates(*, session: LiveSession) -> list[int]:
    """Viewer ids, ascending, of viewers who have a comment still shown in this session and are
    not banned (a comment the host deleted does not earn a ticket)."""
    ids = (
        LiveComment.objects.filter(session=session, deleted_at__isnull=True, viewer__banned=False)
        .values_list("viewer_id", flat=True)
        .distinct()
    )
    return sorted(set(ids))


def draw_winners(seed: str, candidates: list[int], k: int) -> list[int]:
    """The winners of a draw: `k` of the sorted `candidates`, chosen by `seed` alone.

    A str seed is hashed with SHA-512 by `random.seed` (version 2): the same on every machine
    and independent of PYTHONHASHSEED, so anyone can recompute a draw.
    """
    return random.Random(seed).sample(candidates, k)  # noqa: S311 (a public, replayable draw)


def lucky_draw_verify(*, draw: LuckyDraw) -> bool:
    """Recompute the winners from the stored seed and candidates."""
    candidates = [int(c) for c in draw.candidates]
    if candidates != sorted(set(candidates)) or draw.winners_count > len(candidates):
        return False
    return draw_winners(draw.seed, candidates, draw.winners_count) == list(draw.winners)


def lucky_draws_recent(*, session: LiveSession, limit: int = 20) -> QuerySet[LuckyDraw]:
    return session.draws.order_by("-pk")[:limit]


def live_session_list_for_host(
    *, user: UserLike, now: dt.datetime | None = None, upcoming_days: int = 7
) -> tuple[list[LiveSession], list[LiveSession]]:
    """A host's sessions for their home page: (live now or scheduled for today, the next ones
    within `upcoming_days`). An admin sees every host's sessions."""
    now = now or clock.now()
    # "Today" is the brand's day (Asia/Shanghai), not UTC's.
    local_today = clock.to_shanghai(now).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = local_today + dt.timedelta(days=1)
    sessions = LiveSession.objects.select_related("host").order_by("scheduled_at", "pk")
    if not user_is_admin(user):
        sessions = sessions.filter(host_id=user.pk)
    today = list(
        sessions.filter(status=LiveStatus.LIVE)
        | sessions.filter(
            status=LiveStatus.SCHEDULED, scheduled_at__gte=local_today, scheduled_at__lt=tomorrow
        )
    )
    upcoming = list(
        sessions.filter(
            status=LiveStatus.SCHEDULED,
            scheduled_at__gte=tomorrow,
            scheduled_at__lt=local_today + dt.timedelta(days=upcoming_days + 1),
        )[:20]
    )
    return today, upcoming
