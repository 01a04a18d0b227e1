"""The live-heat demand forecast's inputs (DH-8), gathered from the real tables into the pure
core's types (`intelligence.forecast`).

Every reader takes `now`, the moment being forecast from, and reads the data as it stood then
(what was recorded at `now` or before) — never anything recorded later, so a forecast made
(or re-made, or back-tested) "as of" a moment sees what an operator could have seen then:

* sessions: created by `now`; history = sessions that ended at least one payment window
  (`orders.services.PAYMENT_WINDOW`) before `now`, so their late payers are in;
* a session line's pre-live interest — reservations, preview page / product views, shares —
  counts what happened before the session began *and* by `now` (an event must also have
  been received by `now`: a phone that uploads late does not rewrite the past);
* the session price: the list price, or a lower live-channel flash-price campaign covering the
  session's start, or a flash sale of the session — each only when it existed before the
  session began and by `now`. Flash sales open only once a session is live, so in practice
  the session price is what was planned in advance, for past sessions and coming ones alike
  (no feature the model learns from is one a coming session can never have);
* units sold in a past session: live-channel orders with `source_ref` = the session's code,
  paid by `now`, net of refunds paid out by `now` (`RefundRequest.lines`), by SKU;
* viewers: the session's `LiveViewer` rows first seen by `now`;
* daily regular demand per SKU × warehouse: stock reservations of non-live orders (not
  blocks) by their Asia/Shanghai day, for whole days before `now`'s day, leaving out the
  reservations already released by `now` (unpaid, cancelled orders);
* available stock at `now`: on hand − reserved, with every stock movement recorded after `now`
  undone.

Limits: list prices and a session's product list have no history, so both are today's;
a reservation shrunk after `now` (units refunded before shipping) counts at its current size.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from freshloop.catalog.models import Sku
from freshloop.datahub.eventstore.selectors import EventStore, business_day, to_naive_utc
from freshloop.intelligence.forecast import (
    DAILY_DEMAND_COLUMNS,
    SHANGHAI,
    PastSession,
    SessionPlan,
)
from freshloop.inventory.models import (
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Warehouse,
)
from freshloop.live.host.selectors import PAID_OR_LATER
from freshloop.live.models import (
    FlashSale,
    FlashSaleStatus,
    LiveProduct,
    LiveReservation,
    LiveSession,
    LiveStatus,
    LiveViewer,
)
from freshloop.orders.models import Order, OrderLine, RefundRequest, RefundStatus
from freshloop.orders.services import PAYMENT_WINDOW
from freshloop.promotions.models import Campaign, CampaignKind

LIVE_CHANNEL = "live"
DEMAND_LOOKBACK_DAYS = 365  # a year: ETS needs 28+ days, the holiday factor past breaks
PAGE_VIEW_EVENTS = ("page_view", "product_view")
SHARE_EVENTS = ("share",)


# --- moments -------------------------------------------------------------------------------


def history_end_for(now: dt.datetime) -> dt.date:
    """The last whole Asia/Shanghai day before `now`: today is still being sold, so a partial
    day would read as a slump."""
    return business_day(now) - dt.timedelta(days=1)


def day_start(day: dt.date) -> dt.datetime:
    """Midnight of an Asia/Shanghai day, as aware UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)


def session_start(session: LiveSession) -> dt.datetime:
    """When the session began (or is to begin): pre-live interest is what came before it."""
    return session.started_at or session.scheduled_at


# --- sessions ------------------------------------------------------------------------------


def upcoming_sessions(*, now: dt.datetime, days: int) -> list[LiveSession]:
    """Scheduled sessions starting from today (Asia/Shanghai) to `days` days after `now`, in
    start order — a session late to start today is still coming."""
    return list(
        LiveSession.objects.select_related("host")
        .filter(
            status=LiveStatus.SCHEDULED,
            created_at__lte=now,
            scheduled_at__gte=day_start(business_day(now)),
            scheduled_at__lt=now + dt.timedelta(days=days),
        )
        .order_by("scheduled_at", "pk")
    )


def ended_sessions(*, now: dt.datetime) -> list[LiveSession]:
    """Sessions that ended at least a payment window before `now`, oldest first."""
    return list(
        LiveSession.objects.select_related("host")
        .filter(
            status__in=(LiveStatus.ENDED, LiveStatus.REPLAY),
            ended_at__isnull=False,
            ended_at__lte=now - PAYMENT_WINDOW,
        )
        .order_by("scheduled_at", "pk")
    )


@dataclasses.dataclass(frozen=True)
class _LineFacts:
    reservations: int
    page_views: int
    shares: int
    list_price_fen: int
    session_price_fen: int


def _known_before_start(moment: dt.datetime, session: LiveSession, now: dt.datetime) -> bool:
    """Whether something recorded at `moment` was known before the session began, as of
    `now` (what happened at `now` itself is known; what happened at the start is not pre-live)."""
    return moment < session_start(session) and moment <= now


def _session_skus(sessions: Sequence[LiveSession]) -> dict[int, list[int]]:
    skus: dict[int, list[int]] = defaultdict(list)
    rows = LiveProduct.objects.filter(session__in=sessions).order_by("sort_order", "pk")
    for session_id, sku_id in rows.values_list("session_id", "sku_id"):
        skus[session_id].append(sku_id)
    return skus


def _reservations(sessions: Sequence[LiveSession], now: dt.datetime) -> dict[int, int]:
    rows = (
        LiveReservation.objects.filter(session__in=sessions, created_at__lte=now)
        .filter(created_at__lt=Coalesce(F("session__started_at"), F("session__scheduled_at")))
        .values("session_id")
        .annotate(count=Count("pk"))
    )
    return {row["session_id"]: row["count"] for row in rows}


def pre_live_interest(
    sessions: Sequence[LiveSession], *, now: dt.datetime, store: EventStore
) -> dict[str, tuple[int, int]]:
    """Session code → (pre-live page and product views, shares), counted in the event store
    before the session began and by `now`, received by `now`."""
    if not sessions:
        return {}
    codes = [session.code for session in sessions]
    starts = [to_naive_utc(session_start(session)) for session in sessions]
    rows = store.fetch(
        """
        SELECT e.live_session, e.name, count(*)
        FROM events_resolved e
        JOIN (SELECT unnest($codes::VARCHAR[]) AS code,
                     unnest($starts::TIMESTAMP[]) AS starts_at) c
          ON e.live_session = c.code
        WHERE e.name IN ('page_view', 'product_view', 'share')
          AND e.occurred_at < c.starts_at
          AND e.occurred_at <= $now
          AND e.received_at <= $now
        GROUP BY 1, 2
        """,
        {"codes": codes, "starts": starts, "now": to_naive_utc(now)},
    )
    views: dict[str, int] = defaultdict(int)
    shares: dict[str, int] = defaultdict(int)
    for code, name, count in rows:
        if name in PAGE_VIEW_EVENTS:
            views[code] += int(count)
        elif name in SHARE_EVENTS:
            shares[code] += int(count)
    return {code: (views[code], shares[code]) for code in codes}


def _session_prices(
    sessions: Sequence[LiveSession], list_prices: dict[int, int], now: dt.datetime
) -> dict[tuple[int, int], int]:
    """(session id, sku id) → the lowest live price known before the session began."""
    prices: dict[tuple[int, int], int] = {}

    def offer(session: LiveSession, sku_id: int, price_fen: int) -> None:
        key = (session.pk, sku_id)
        prices[key] = min(prices.get(key, list_prices[sku_id]), price_fen)

    by_id = {session.pk: session for session in sessions}
    sales = FlashSale.objects.filter(session__in=sessions, sku_id__in=list_prices).exclude(
        status=FlashSaleStatus.CANCELLED
    )
    for session_id, sku_id, price_fen, created_at in sales.values_list(
        "session_id", "sku_id", "price_fen", "created_at"
    ):
        session = by_id[session_id]
        if _known_before_start(created_at, session, now):
            offer(session, sku_id, price_fen)
    starts = [session_start(session) for session in sessions]
    campaigns = Campaign.objects.filter(
        kind=CampaignKind.FLASH_PRICE,
        is_active=True,
        created_at__lte=now,
        starts_at__lte=max(starts),
        ends_at__gt=min(starts),
    ).prefetch_related("prices")
    for campaign in campaigns:
        if LIVE_CHANNEL not in (campaign.channels or []):
            continue  # channels is a JSON list: filtered here, SQLite cannot look inside it
        for session in sessions:
            covered = campaign.starts_at <= session_start(session) < campaign.ends_at
            if not covered or not _known_before_start(campaign.created_at, session, now):
                continue
            for price in campaign.prices.all():
                if price.sku_id in list_prices:
                    offer(session, price.sku_id, price.price_fen)
    return prices


def _line_facts(
    sessions: Sequence[LiveSession], *, now: dt.datetime, store: EventStore
) -> tuple[dict[int, list[int]], dict[tuple[int, int], _LineFacts]]:
    skus = _session_skus(sessions)
    sku_ids = {sku_id for ids in skus.values() for sku_id in ids}
    list_prices = dict(Sku.objects.filter(pk__in=sku_ids).values_list("pk", "price_fen"))
    reservations = _reservations(sessions, now)
    interest = pre_live_interest(sessions, now=now, store=store)
    prices = _session_prices(sessions, list_prices, now) if sessions else {}
    facts = {}
    for session in sessions:
        views, shares = interest.get(session.code, (0, 0))
        for sku_id in skus.get(session.pk, []):
            facts[(session.pk, sku_id)] = _LineFacts(
                reservations=reservations.get(session.pk, 0),
                page_views=views,
                shares=shares,
                list_price_fen=list_prices[sku_id],
                session_price_fen=prices.get((session.pk, sku_id), list_prices[sku_id]),
            )
    return skus, facts


def session_plans(
    sessions: Sequence[LiveSession], *, now: dt.datetime, store: EventStore
) -> dict[int, list[SessionPlan]]:
    """Session id → one plan per SKU on sale in it, with what was known at `now`."""
    skus, facts = _line_facts(sessions, now=now, store=store)
    plans: dict[int, list[SessionPlan]] = {}
    for session in sessions:
        plans[session.pk] = [
            SessionPlan(
                session_id=session.code,
                sku_id=sku_id,
                starts_at=session.scheduled_at,
                host_id=session.host_id,
                **dataclasses.asdict(facts[(session.pk, sku_id)]),
            )
            for sku_id in skus.get(session.pk, [])
        ]
    return plans


def live_units_sold(codes: Iterable[str], *, now: dt.datetime) -> dict[tuple[str, int], int]:
    """(session code, sku id) → units sold in the session's room: paid by `now`, less the
    units of refunds paid out by `now`."""
    wanted = list(codes)
    if not wanted:
        return {}
    orders = Order.objects.filter(
        channel=LIVE_CHANNEL,
        source_ref__in=wanted,
        status__in=PAID_OR_LATER,
        paid_at__lte=now,
    )
    units: dict[tuple[str, int], int] = defaultdict(int)
    sold = (
        OrderLine.objects.filter(order__in=orders)
        .values("order__source_ref", "sku_id")
        .annotate(quantity=Sum("quantity"))
    )
    for row in sold:
        units[(row["order__source_ref"], row["sku_id"])] += int(row["quantity"])
    refunded: dict[int, int] = defaultdict(int)
    for lines in RefundRequest.objects.filter(
        order__in=orders, status=RefundStatus.REFUNDED, refunded_at__lte=now
    ).values_list("lines", flat=True):
        for item in lines or []:
            refunded[int(item["line_id"])] += int(item["quantity"])
    if refunded:
        for line_id, code, sku_id in OrderLine.objects.filter(pk__in=refunded).values_list(
            "pk", "order__source_ref", "sku_id"
        ):
            units[(code, sku_id)] -= refunded[line_id]
    return {key: max(0, value) for key, value in units.items()}


def _viewers(sessions: Sequence[LiveSession], now: dt.datetime) -> dict[int, int]:
    rows = (
        LiveViewer.objects.filter(session__in=sessions, first_seen_at__lte=now)
        .values("session_id")
        .annotate(count=Count("pk"))
    )
    return {row["session_id"]: row["count"] for row in rows}


def past_sessions(*, now: dt.datetime, store: EventStore) -> list[PastSession]:
    """One line per SKU on sale in every session that ended (and settled) before `now`."""
    sessions = ended_sessions(now=now)
    if not sessions:
        return []
    skus, facts = _line_facts(sessions, now=now, store=store)
    sold = live_units_sold((session.code for session in sessions), now=now)
    viewers = _viewers(sessions, now)
    history = []
    for session in sessions:
        for sku_id in skus.get(session.pk, []):
            history.append(
                PastSession(
                    session_id=session.code,
                    sku_id=sku_id,
                    starts_at=session_start(session),
                    host_id=session.host_id,
                    **dataclasses.asdict(facts[(session.pk, sku_id)]),
                    units_sold=sold.get((session.code, sku_id), 0),
                    viewers=viewers.get(session.pk, 0),
                )
            )
    return history


# --- warehouses, demand, stock -------------------------------------------------------------


def eligible_warehouses(sku_ids: Iterable[int]) -> dict[int, list[Warehouse]]:
    """Per SKU, the active warehouses able to store it (cold chain): the only ones a forecast
    places demand at or suggests a transfer from."""
    warehouses = list(Warehouse.objects.filter(is_active=True).order_by("pk"))
    storage = dict(Sku.objects.filter(pk__in=set(sku_ids)).values_list("pk", "product__storage"))
    return {
        sku_id: [warehouse for warehouse in warehouses if warehouse.can_store(kind)]
        for sku_id, kind in storage.items()
    }


def daily_demand(
    *,
    sku_ids: Iterable[int],
    now: dt.datetime,
    eligible: dict[int, list[Warehouse]],
    lookback_days: int = DEMAND_LOOKBACK_DAYS,
) -> pd.DataFrame:
    """Regular (non-live) units per SKU × warehouse × Asia/Shanghai day, the whole days before
    `now`'s day, as `intelligence.forecast` takes them (columns DAILY_DEMAND_COLUMNS)."""
    until = day_start(business_day(now))
    since = until - dt.timedelta(days=lookback_days)
    allowed = {(sku, w.pk) for sku, warehouses in eligible.items() for w in warehouses}
    live_orders = Order.objects.filter(
        channel=LIVE_CHANNEL, created_at__gte=since - dt.timedelta(days=1)
    ).values("order_no")
    released_by_now = Q(status=ReservationStatus.RELEASED) & (
        Q(closed_at__isnull=True) | Q(closed_at__lte=now)
    )
    rows = (
        Reservation.objects.filter(
            is_block=False,
            stock__sku_id__in=list(set(sku_ids)),
            created_at__gte=since,
            created_at__lt=until,
        )
        .exclude(released_by_now)
        .exclude(order_ref__in=live_orders)
        .annotate(day=TruncDate("created_at", tzinfo=SHANGHAI))
        .values("stock__sku_id", "stock__warehouse_id", "day")
        .annotate(units=Sum("quantity"))
        .order_by()
    )
    records = [
        {
            "sku_id": row["stock__sku_id"],
            "warehouse_id": row["stock__warehouse_id"],
            "day": row["day"],
            "units": float(row["units"]),
        }
        for row in rows
        if (row["stock__sku_id"], row["stock__warehouse_id"]) in allowed
    ]
    return pd.DataFrame.from_records(records, columns=list(DAILY_DEMAND_COLUMNS))


def available_at(
    *, sku_ids: Iterable[int], warehouse_ids: Iterable[int], now: dt.datetime
) -> dict[tuple[int, int], int]:
    """(sku, warehouse) → on hand − reserved at `now`: today's levels with every movement
    recorded after `now` undone (a forecast made as of an earlier moment sees that moment's
    stock)."""
    levels = list(
        StockLevel.objects.filter(sku_id__in=set(sku_ids), warehouse_id__in=set(warehouse_ids))
    )
    later = (
        StockMovement.objects.filter(stock__in=levels, created_at__gt=now)
        .values("stock_id")
        .annotate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
    )
    undo: dict[int, Any] = {row["stock_id"]: row for row in later}
    available = {}
    for level in levels:
        change = undo.get(level.pk)
        value = level.available
        if change is not None:
            value -= int(change["on_hand"] or 0) - int(change["reserved"] or 0)
        available[(level.sku_id, level.warehouse_id)] = max(0, value)
    return available
