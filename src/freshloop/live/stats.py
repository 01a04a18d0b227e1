"""The host's live numbers for one session: who is watching, how lively the room is, and what it
sold. Read by the host console every 2 seconds, so every figure is one indexed query.

Definitions (the issue leaves them open; docs/live-host.md repeats them):
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
from typing import Any

from django.db.models import Avg, Count, F, Sum

from freshloop.core import clock
from freshloop.live.models import LiveAction, LiveActivity, LiveComment, LiveSession, LiveViewer
from freshloop.live.services import ONLINE_WINDOW
from freshloop.orders.models import Order, OrderStatus

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
    conversion_bp: int
    funnel: list[FunnelStep]

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
    )
