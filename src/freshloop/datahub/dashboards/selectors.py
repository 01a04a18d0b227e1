"""DH-6 operations dashboard: the figures behind /console/data/, read from the event store.

Every selector takes a `DashboardFilter` (a period of Asia/Shanghai days, both ends included,
optionally one channel and/or one live session) and returns plain, JSON-ready data; money is
integer fen, rates are floats in 0..1 (or None when the denominator is zero). `chart_csv`
renders any of them as a CSV for Excel (headers and rows: `dashboards.schemas`). The live-session
table is in `dashboards.live_sessions`, the SQL the charts share in `dashboards.queries`. docs/datahub.md explains each figure to the
people who read them; the definitions below are the same ones, for the people who change them.

Shared definitions:
- A *paid order* is an `order_paid` event, counted once per `order_no` even if two sources
  reported it (the server's own record wins). GMV = paid amount − refunded amount; refunds
  count on the day of the refund (`order_refunded`), in the refund's channel and session.
- *People* are counted by `pid`, the surviving OneID after merges (views `*_resolved`), so a
  person merged into another counts once, with the merged history.
- A *new customer* of the period is a person whose first paid order ever (earliest
  `occurred_at`, then `order_no`) falls in the period; they belong to that first order's
  channel, live session and campaign (`properties.campaign`, else the live session code).
- The channel / live-session filter restricts the orders (or, for cohorts, the first order);
  what a customer does afterwards (repurchase, retention) counts in any channel.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from freshloop.core import clock
from freshloop.datahub.dashboards.errors import DashboardChartUnknown
from freshloop.datahub.dashboards.live_sessions import (
    dashboard_live_sessions,
    live_session_choices,
)
from freshloop.datahub.dashboards.queries import (
    FIRSTS_CTE,
    PAID_CTE,
    channel_label,
    channel_sort_key,
    divide_half_up,
    fetch,
    filter_slice,
    money_by,
    new_customers,
    rate,
    with_ctes,
)
from freshloop.datahub.dashboards.schemas import (
    CHARTS,
    RETENTION_MAX_OFFSET,
    Chart,
    DashboardFilter,
    shanghai_today,
)
from freshloop.datahub.eventstore.selectors import EventStore, event_store
from freshloop.datahub.models import AcquisitionSpend, SourceChannel

__all__ = [
    "CHART_SELECTORS",
    "Chart",
    "chart_csv",
    "chart_data",
    "chart_get",
    "dashboard_acquisition_cost",
    "dashboard_channel_mix",
    "dashboard_funnel",
    "dashboard_gmv_trend",
    "dashboard_live_sessions",
    "dashboard_repurchase",
    "dashboard_retention",
    "dashboard_top_products",
    "live_session_choices",
    "spend_in_period",
    "trend_granularity",
]

DAILY_UP_TO_DAYS = 92  # a quarter is still readable day by day
WEEKLY_UP_TO_DAYS = 366  # up to a year by week, longer periods by month
REPURCHASE_WINDOWS = (30, 60, 90)
TOP_PRODUCTS = 10
VIEW_EVENTS = ("product_view", "page_view", "live_join")
CART_EVENTS = ("add_to_cart", "live_add_to_cart")


# --- 1. funnel -------------------------------------------------------------------------------

FUNNEL_STEPS = (("view", "浏览"), ("cart", "加购"), ("pay", "支付"))


def dashboard_funnel(filter: DashboardFilter, *, store: EventStore | None = None) -> dict[str, Any]:
    """Unique people who viewed, added to cart and paid in the period.

    Steps are counted independently (a person is in "支付" if they paid, whether or not their
    view was tracked), so a step's rate can exceed 100% when payers skip tracked pages. With a
    live session, the steps are that room's `live_join` / `live_add_to_cart` and the orders
    paid in it.
    """
    store = store or event_store()
    view_events: tuple[str, ...]
    cart_events: tuple[str, ...]
    if filter.live_session is not None:
        view_events, cart_events = ("live_join",), ("live_add_to_cart",)
    else:
        view_events, cart_events = VIEW_EVENTS, CART_EVENTS
    sql = (
        with_ctes(PAID_CTE)
        + f"""
        SELECT 'view' AS step, count(DISTINCT pid) AS people FROM events_resolved
        WHERE day BETWEEN $start AND $end AND pid IS NOT NULL
          AND name IN ({", ".join(f"'{n}'" for n in view_events)}) {filter_slice(filter)}
        UNION ALL
        SELECT 'cart', count(DISTINCT pid) FROM events_resolved
        WHERE day BETWEEN $start AND $end AND pid IS NOT NULL
          AND name IN ({", ".join(f"'{n}'" for n in cart_events)}) {filter_slice(filter)}
        UNION ALL
        SELECT 'pay', count(DISTINCT pid) FROM paid
        WHERE day BETWEEN $start AND $end AND pid IS NOT NULL {filter_slice(filter)}
        """
    )
    people = {row["step"]: int(row["people"]) for row in fetch(store, sql, filter)}
    steps = []
    previous: int | None = None
    for key, label in FUNNEL_STEPS:
        count = people.get(key, 0)
        steps.append(
            {
                "key": key,
                "label": label,
                "people": count,
                "rate_from_previous": None if previous is None else rate(count, previous),
            }
        )
        previous = count
    return {
        "steps": steps,
        "overall_rate": rate(people.get("pay", 0), people.get("view", 0)),
        "empty": not any(people.values()),
    }


# --- 2. new-customer acquisition cost --------------------------------------------------------


def spend_in_period(spend: AcquisitionSpend, start: dt.date, end: dt.date) -> int:
    """The share of a spend that falls in start..end, prorated by days (both ends included):
    amount × overlapping days ÷ days the spend covers, rounded half up to the fen."""
    overlap = (min(spend.ends_on, end) - max(spend.starts_on, start)).days + 1
    if overlap <= 0:
        return 0
    covered = (spend.ends_on - spend.starts_on).days + 1
    return divide_half_up(spend.amount_fen * overlap, covered)


def dashboard_acquisition_cost(
    filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """Spend in the period ÷ new customers of the period, per channel and per campaign.

    A channel's row divides all its spend (campaigns included) by all its new customers. A
    campaign's row (only campaigns with spend in the period) divides that campaign's spend by
    the new customers whose first order carried the campaign (`properties.campaign`, or the live
    session code for live orders, so spend entered against a session code is matched to it).
    A live-session filter keeps just that session's campaign row.
    """
    store = store or event_store()
    spends = AcquisitionSpend.objects.filter(starts_on__lte=filter.end, ends_on__gte=filter.start)
    if filter.channel is not None:
        spends = spends.filter(channel=filter.channel)
    if filter.live_session is not None:
        spends = spends.filter(channel=SourceChannel.LIVE, campaign=filter.live_session)
    channel_spend: dict[str, int] = {}
    campaign_spend: dict[tuple[str, str], int] = {}
    for spend in spends.order_by("pk"):
        amount = spend_in_period(spend, filter.start, filter.end)
        channel_spend[spend.channel] = channel_spend.get(spend.channel, 0) + amount
        if spend.campaign:
            key = (spend.channel, spend.campaign)
            campaign_spend[key] = campaign_spend.get(key, 0) + amount
    channel_customers: dict[str, int] = {}
    campaign_customers: dict[tuple[str, str], int] = {}
    for customer in new_customers(store, filter):
        channel = str(customer["channel"])
        channel_customers[channel] = channel_customers.get(channel, 0) + 1
        key = (channel, str(customer["campaign"] or ""))
        campaign_customers[key] = campaign_customers.get(key, 0) + 1

    def row(channel: str, campaign: str, spend_fen: int, customers: int) -> dict[str, Any]:
        return {
            "channel": channel,
            "channel_label": channel_label(channel),
            "campaign": campaign,
            "spend_fen": spend_fen,
            "new_customers": customers,
            "cac_fen": divide_half_up(spend_fen, customers) if customers else None,
        }

    rows: list[dict[str, Any]] = []
    if filter.live_session is not None:
        key = (SourceChannel.LIVE.value, filter.live_session)
        rows.append(row(*key, campaign_spend.get(key, 0), campaign_customers.get(key, 0)))
    else:
        for channel in sorted(set(channel_spend) | set(channel_customers), key=channel_sort_key):
            rows.append(
                row(channel, "", channel_spend.get(channel, 0), channel_customers.get(channel, 0))
            )
            for key in sorted(k for k in campaign_spend if k[0] == channel):
                rows.append(row(*key, campaign_spend[key], campaign_customers.get(key, 0)))
    total_spend = sum(r["spend_fen"] for r in rows if not r["campaign"] or filter.live_session)
    total_customers = sum(
        r["new_customers"] for r in rows if not r["campaign"] or filter.live_session
    )
    return {
        "rows": rows,
        "total": {
            "spend_fen": total_spend,
            "new_customers": total_customers,
            "cac_fen": divide_half_up(total_spend, total_customers) if total_customers else None,
        },
        "empty": not rows or not any(r["spend_fen"] or r["new_customers"] for r in rows),
    }


# --- 3. repurchase within 30/60/90 days ------------------------------------------------------


def dashboard_repurchase(
    filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """Of the period's new customers, the share who paid another order within N days of their
    first one (N = 30, 60, 90), in any channel.

    Only customers whose N-day window has fully passed (first order + N days ≤ now) are in the
    N-day denominator; the younger ones are reported as `immature` and left out, so a recent
    period shows a rate for 30 days before it shows one for 90.
    """
    store = store or event_store()
    now = clock.now().astimezone(dt.UTC).replace(tzinfo=None)
    windows_sql = ", ".join(
        f"""count(*) FILTER (WHERE f.first_at + INTERVAL {days} DAY <= $now) AS eligible_{days},
        count(*) FILTER (WHERE f.first_at + INTERVAL {days} DAY <= $now AND EXISTS (
            SELECT 1 FROM paid p WHERE p.pid = f.pid AND p.order_no IS DISTINCT FROM f.first_order_no
              AND p.occurred_at >= f.first_at
              AND p.occurred_at <= f.first_at + INTERVAL {days} DAY)) AS again_{days}"""
        for days in REPURCHASE_WINDOWS
    )
    sql = (
        with_ctes(PAID_CTE, FIRSTS_CTE)
        + f"""
        SELECT count(*) AS cohort, {windows_sql}
        FROM firsts f WHERE f.first_day BETWEEN $start AND $end {filter_slice(filter, "f.first_")}
        """
    )
    found = fetch(store, sql, filter, now=now)[0]
    cohort = int(found["cohort"])
    windows = []
    for days in REPURCHASE_WINDOWS:
        eligible = int(found[f"eligible_{days}"] or 0)
        again = int(found[f"again_{days}"] or 0)
        windows.append(
            {
                "days": days,
                "label": f"{days} 天复购率",
                "eligible": eligible,
                "repurchased": again,
                "immature": cohort - eligible,
                "rate": rate(again, eligible),
            }
        )
    return {"cohort": cohort, "windows": windows, "empty": cohort == 0}


# --- 4. GMV and orders over time -------------------------------------------------------------


def trend_granularity(filter: DashboardFilter) -> str:
    """Day for up to 92 days, week (Monday to Sunday) up to 366 days, month beyond."""
    if filter.days <= DAILY_UP_TO_DAYS:
        return "day"
    if filter.days <= WEEKLY_UP_TO_DAYS:
        return "week"
    return "month"


def _bucket_start(day: dt.date, granularity: str) -> dt.date:
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _buckets(filter: DashboardFilter, granularity: str) -> list[tuple[dt.date, dt.date]]:
    """Consecutive buckets covering the period, the first and last clipped to it."""
    buckets: list[tuple[dt.date, dt.date]] = []
    day = filter.start
    while day <= filter.end:
        start = day
        while day + dt.timedelta(days=1) <= filter.end and _bucket_start(
            day + dt.timedelta(days=1), granularity
        ) == _bucket_start(start, granularity):
            day += dt.timedelta(days=1)
        buckets.append((start, day))
        day += dt.timedelta(days=1)
    return buckets


def _bucket_label(start: dt.date, granularity: str) -> str:
    if granularity == "month":
        return start.strftime("%Y-%m")
    if granularity == "week":
        return f"{start.isoformat()} 起"
    return start.isoformat()


def dashboard_gmv_trend(
    filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """GMV (paid − refunded) and paid orders per day, week or month of the period (every
    bucket listed, empty ones with zeros)."""
    store = store or event_store()
    by_day = {row["day"]: row for row in money_by(store, filter, key="day")}
    granularity = trend_granularity(filter)
    points = []
    for start, end in _buckets(filter, granularity):
        paid = refunded = orders = 0
        day = start
        while day <= end:
            found = by_day.get(day)
            if found:
                paid += int(found["paid_fen"])
                refunded += int(found["refunded_fen"])
                orders += int(found["orders"])
            day += dt.timedelta(days=1)
        points.append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "label": _bucket_label(start, granularity),
                "paid_fen": paid,
                "refunded_fen": refunded,
                "gmv_fen": paid - refunded,
                "orders": orders,
            }
        )
    return {
        "granularity": granularity,
        "points": points,
        "total": {
            "paid_fen": sum(p["paid_fen"] for p in points),
            "refunded_fen": sum(p["refunded_fen"] for p in points),
            "gmv_fen": sum(p["gmv_fen"] for p in points),
            "orders": sum(p["orders"] for p in points),
        },
        "empty": not by_day,
    }


# --- 5. monthly retention cohorts ------------------------------------------------------------


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def dashboard_retention(
    filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """Monthly cohorts by the month of the first paid order, for every month the period
    touches (a cohort is always its whole calendar month); cell +k is the share of the cohort
    who paid at least one order, in any channel, in the k-th calendar month after it.

    Months after the current one are None; the current month's column is still filling up.
    At most 12 months after the cohort are shown.
    """
    store = store or event_store()
    month_filter = dataclasses.replace(
        filter,
        start=filter.start.replace(day=1),
        end=_last_day_of_month(filter.end),
    )
    sql = (
        with_ctes(PAID_CTE, FIRSTS_CTE)
        + f"""
        SELECT f.pid,
               year(f.first_day) * 12 + month(f.first_day) - 1 AS cohort_month,
               list(DISTINCT year(p.day) * 12 + month(p.day) - 1) AS paid_months
        FROM firsts f JOIN paid p ON p.pid = f.pid
        WHERE f.first_day BETWEEN $start AND $end {filter_slice(filter, "f.first_")}
        GROUP BY f.pid, cohort_month
        """
    )
    current_month = _month_index(shanghai_today())
    cohorts: dict[int, list[set[int]]] = {}
    for row in fetch(store, sql, month_filter):
        cohorts.setdefault(int(row["cohort_month"]), []).append(
            {int(m) for m in row["paid_months"]}
        )
    first_month = _month_index(month_filter.start)
    last_month = _month_index(month_filter.end)
    max_offset = max(0, min(RETENTION_MAX_OFFSET, current_month - first_month))
    rows = []
    for month in range(first_month, last_month + 1):
        members = cohorts.get(month, [])
        cells: list[dict[str, Any] | None] = []
        for offset in range(1, max_offset + 1):
            if month + offset > current_month:
                cells.append(None)
                continue
            people = sum(1 for months in members if month + offset in months)
            cells.append(
                {
                    "offset": offset,
                    "people": people,
                    "rate": rate(people, len(members)),
                    "in_progress": month + offset == current_month,
                }
            )
        rows.append({"month": _month_label(month), "size": len(members), "cells": cells})
    return {
        "max_offset": max_offset,
        "cohorts": rows,
        "empty": not cohorts,
    }


def _last_day_of_month(day: dt.date) -> dt.date:
    following = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return following - dt.timedelta(days=1)


# --- 6. channel mix ---------------------------------------------------------------------------


def dashboard_channel_mix(
    filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """GMV (paid − refunded) and paid orders per channel in the period, with each channel's
    share of the GMV."""
    store = store or event_store()
    found = money_by(store, filter, key="channel")
    total_gmv = sum(int(r["paid_fen"]) - int(r["refunded_fen"]) for r in found)
    rows = []
    for row in sorted(found, key=lambda r: channel_sort_key(str(r["channel"]))):
        gmv = int(row["paid_fen"]) - int(row["refunded_fen"])
        rows.append(
            {
                "channel": row["channel"],
                "channel_label": channel_label(str(row["channel"])),
                "paid_fen": int(row["paid_fen"]),
                "refunded_fen": int(row["refunded_fen"]),
                "gmv_fen": gmv,
                "orders": int(row["orders"]),
                "gmv_share": rate(gmv, total_gmv) if total_gmv > 0 else None,
            }
        )
    return {"rows": rows, "total_gmv_fen": total_gmv, "empty": not rows}


# --- 7. top products ---------------------------------------------------------------------------


def dashboard_top_products(
    filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """The ten products with the most GMV from the lines of orders paid in the period (line
    amounts after discounts; refunds are per order, not per line, so they are not taken off
    here)."""
    store = store or event_store()
    sql = (
        with_ctes(PAID_CTE)
        + f"""
        SELECT COALESCE(i.product_id, -1) AS product_id,
               arg_max(i.product_name, i.occurred_at) AS product_name,
               arg_max(i.category, i.occurred_at) AS category,
               sum(i.amount_fen) AS gmv_fen, sum(i.quantity) AS quantity,
               count(DISTINCT i.order_no) AS orders
        FROM order_items_resolved i JOIN paid p ON p.event_id = i.event_id
        WHERE p.day BETWEEN $start AND $end {filter_slice(filter, "p.")}
        GROUP BY COALESCE(i.product_id, -1)
        ORDER BY gmv_fen DESC, product_name
        LIMIT {TOP_PRODUCTS}
        """
    )
    rows = [
        {
            "rank": index,
            "product_id": int(row["product_id"]) if row["product_id"] != -1 else None,
            "product_name": row["product_name"] or "（未命名商品）",
            "category": row["category"] or "",
            "gmv_fen": int(row["gmv_fen"]),
            "quantity": int(row["quantity"]),
            "orders": int(row["orders"]),
        }
        for index, row in enumerate(fetch(store, sql, filter), start=1)
    ]
    return {"rows": rows, "empty": not rows}


# --- every chart by name ---------------------------------------------------------------------

Selector = Callable[..., dict[str, Any]]

# What computes each chart of `schemas.CHARTS` (one each: tests/datahub/dashboards check it).
CHART_SELECTORS: dict[str, Selector] = {
    "funnel": dashboard_funnel,
    "cac": dashboard_acquisition_cost,
    "repurchase": dashboard_repurchase,
    "gmv": dashboard_gmv_trend,
    "retention": dashboard_retention,
    "channels": dashboard_channel_mix,
    "products": dashboard_top_products,
    "live-sessions": dashboard_live_sessions,
}


def chart_get(name: str) -> Chart:
    """A chart by its name in the address (`/console/data/charts/<name>`)."""
    chart = CHARTS.get(name)
    if chart is None:
        raise DashboardChartUnknown(detail={"chart": name[:64], "allowed": list(CHARTS)})
    return chart


def chart_data(
    chart_name: str, filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """The chart's figures for `filter`, JSON-ready."""
    return CHART_SELECTORS[chart_get(chart_name).name](filter, store=store)


def chart_csv(chart_name: str, filter: DashboardFilter, *, store: EventStore | None = None) -> str:
    """The chart as CSV with Chinese headers, starting with a UTF-8 byte order mark so Excel
    reads the Chinese right; money in yuan with two decimals, rates as percentages."""
    chart = chart_get(chart_name)
    data = chart_data(chart_name, filter, store=store)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(chart.headers)
    for row in chart.rows(data):
        writer.writerow(row)
    return "\ufeff" + buffer.getvalue()
