"""DH-6 operations dashboard: the figures behind /console/data/, read from the event store.

Every selector takes a `DashboardFilter` (a period of Asia/Shanghai days, both ends included,
optionally one channel and/or one live session) and returns plain, JSON-ready data; money is
integer fen, rates are floats in 0..1 (or None when the denominator is zero). `chart_csv`
renders any of them as a CSV for Excel. docs/datahub.md explains each figure to the
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
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from freshloop.core import clock
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.money import fen_to_yuan
from freshloop.core.spreadsheet import spreadsheet_cell
from freshloop.datahub.models import AcquisitionSpend, SourceChannel
from freshloop.datahub.store import EventStore, business_day, event_store

MAX_PERIOD_DAYS = 3 * 365 + 1  # "at most three years", a leap day included
DAILY_UP_TO_DAYS = 92  # a quarter is still readable day by day
WEEKLY_UP_TO_DAYS = 366  # up to a year by week, longer periods by month
REPURCHASE_WINDOWS = (30, 60, 90)
RETENTION_MAX_OFFSET = 12  # months after the first order shown in the heatmap
TOP_PRODUCTS = 10
LIVE_SESSION_MAX_LENGTH = 64

# The channels an operator can filter by and spend money in (the system's own "server"
# channel is where facts without a touchpoint land, never a sales channel).
CHANNELS: dict[str, str] = {
    value: str(label) for value, label in SourceChannel.choices if value != SourceChannel.SERVER
}
CHANNEL_ORDER = list(CHANNELS)

VIEW_EVENTS = ("product_view", "page_view", "live_join")
CART_EVENTS = ("add_to_cart", "live_add_to_cart")
# What viewers do in a live room (not the room's own facts such as live_session_started).
ROOM_EVENTS = (
    "live_join",
    "live_leave",
    "live_heartbeat",
    "live_click_product",
    "live_comment",
    "live_like",
    "live_add_to_cart",
    "live_order",
    "live_pay",
)


# --- errors and the filter ------------------------------------------------------------------


class DashboardFilterInvalid(InvalidInput):
    code = "dashboard_filter_invalid"
    message = "筛选条件不正确"


class DashboardDateInvalid(DashboardFilterInvalid):
    code = "dashboard_date_invalid"
    message = "日期格式不正确，应为 YYYY-MM-DD"


class DashboardPeriodReversed(DashboardFilterInvalid):
    code = "dashboard_period_reversed"
    message = "结束日期不能早于开始日期"


class DashboardPeriodTooLong(DashboardFilterInvalid):
    code = "dashboard_period_too_long"
    message = "统计周期不能超过 3 年"


class DashboardChannelUnknown(DashboardFilterInvalid):
    code = "dashboard_channel_unknown"
    message = "未知的渠道"


class DashboardChartUnknown(NotFound):
    code = "dashboard_chart_unknown"
    message = "没有这个图表"


@dataclasses.dataclass(frozen=True)
class DashboardFilter:
    """Which facts a chart looks at: Shanghai days `start`..`end` (both included), optionally
    one channel and one live session (a live session belongs to the live channel)."""

    start: dt.date
    end: dt.date
    channel: str | None = None
    live_session: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise DashboardPeriodReversed(
                detail={"start": self.start.isoformat(), "end": self.end.isoformat()}
            )
        if self.days > MAX_PERIOD_DAYS:
            raise DashboardPeriodTooLong(detail={"days": self.days, "max_days": MAX_PERIOD_DAYS})
        if self.channel is not None and self.channel not in CHANNELS:
            raise DashboardChannelUnknown(
                detail={"channel": self.channel, "allowed": CHANNEL_ORDER}
            )
        if self.live_session is not None:
            if not self.live_session or len(self.live_session) > LIVE_SESSION_MAX_LENGTH:
                raise DashboardFilterInvalid("直播场次编码不正确")
            if self.channel not in (None, SourceChannel.LIVE):
                raise DashboardFilterInvalid(
                    "直播场次只属于直播间渠道，请把渠道选为“直播间”或“全部”",
                    detail={"channel": self.channel, "live_session": self.live_session},
                )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "channel": self.channel,
            "live_session": self.live_session,
        }


def shanghai_today() -> dt.date:
    return business_day(clock.now())


def dashboard_filter_parse(
    params: Mapping[str, str], *, today: dt.date | None = None
) -> DashboardFilter:
    """Read a filter from query parameters `start`, `end` (YYYY-MM-DD), `channel`,
    `live_session`. Missing dates mean the last 30 days up to today (Shanghai)."""
    today = today or shanghai_today()
    end = _date_param(params, "end") or today
    start = _date_param(params, "start") or end - dt.timedelta(days=29)
    channel = (params.get("channel") or "").strip() or None
    live_session = (params.get("live_session") or "").strip() or None
    return DashboardFilter(start=start, end=end, channel=channel, live_session=live_session)


def _date_param(params: Mapping[str, str], name: str) -> dt.date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise DashboardDateInvalid(detail={"field": name, "value": raw[:32]}) from None


# --- query helpers ---------------------------------------------------------------------------

_PARAM = re.compile(r"\$([a-z_]+)")

# One row per paid order (a second report of the same order_no, e.g. by a partner's source
# as well as by the server, is dropped: the server's own record wins, then the earliest).
_PAID_CTE = """
paid AS (
    SELECT event_id, order_no, day, occurred_at, channel, live_session, pid,
           COALESCE(amount_fen, 0) AS amount_fen,
           COALESCE(NULLIF(json_extract_string(properties, '$.campaign'), ''), live_session, '')
               AS campaign
    FROM (
        SELECT *, row_number() OVER (
            PARTITION BY COALESCE(order_no, event_id)
            ORDER BY (source = 'server') DESC, occurred_at, event_id
        ) AS copy_rank
        FROM events_resolved WHERE name = 'order_paid'
    ) WHERE copy_rank = 1
)"""

# Each person's first paid order ever: the moment they became a customer, and where.
_FIRSTS_CTE = """
firsts AS (
    SELECT DISTINCT ON (pid) pid, occurred_at AS first_at, day AS first_day,
           order_no AS first_order_no, channel AS first_channel,
           live_session AS first_live_session, campaign AS first_campaign
    FROM paid WHERE pid IS NOT NULL
    ORDER BY pid, occurred_at, order_no
)"""

_REFUNDS_CTE = """
refunds AS (
    SELECT day, channel, live_session, COALESCE(amount_fen, 0) AS amount_fen
    FROM events_resolved WHERE name = 'order_refunded'
)"""


def _with(*ctes: str) -> str:
    return "WITH " + ",".join(ctes)


def _slice(filter: DashboardFilter, prefix: str = "") -> str:
    """SQL conditions for the filter's channel and live session on a row alias."""
    conditions = []
    if filter.channel is not None:
        conditions.append(f"{prefix}channel = $channel")
    if filter.live_session is not None:
        conditions.append(f"{prefix}live_session = $live_session")
    return "".join(f" AND {condition}" for condition in conditions)


def _fetch(
    store: EventStore, sql: str, filter: DashboardFilter, **extra: Any
) -> list[dict[str, Any]]:
    values: dict[str, Any] = {
        "start": filter.start,
        "end": filter.end,
        "channel": filter.channel,
        "live_session": filter.live_session,
        **extra,
    }
    # DuckDB refuses parameters the statement does not use: pass exactly the ones it names.
    used = set(_PARAM.findall(sql))
    return store.fetch_dicts(sql, {name: values[name] for name in used})


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator in whole fen, half up, on integers (no float on money)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _channel_sort_key(channel: str) -> tuple[int, str]:
    return (CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNELS), channel)


def channel_label(channel: str) -> str:
    return CHANNELS.get(channel, "系统" if channel == SourceChannel.SERVER else channel)


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
        _with(_PAID_CTE)
        + f"""
        SELECT 'view' AS step, count(DISTINCT pid) AS people FROM events_resolved
        WHERE day BETWEEN $start AND $end AND pid IS NOT NULL
          AND name IN ({", ".join(f"'{n}'" for n in view_events)}) {_slice(filter)}
        UNION ALL
        SELECT 'cart', count(DISTINCT pid) FROM events_resolved
        WHERE day BETWEEN $start AND $end AND pid IS NOT NULL
          AND name IN ({", ".join(f"'{n}'" for n in cart_events)}) {_slice(filter)}
        UNION ALL
        SELECT 'pay', count(DISTINCT pid) FROM paid
        WHERE day BETWEEN $start AND $end AND pid IS NOT NULL {_slice(filter)}
        """
    )
    people = {row["step"]: int(row["people"]) for row in _fetch(store, sql, filter)}
    steps = []
    previous: int | None = None
    for key, label in FUNNEL_STEPS:
        count = people.get(key, 0)
        steps.append(
            {
                "key": key,
                "label": label,
                "people": count,
                "rate_from_previous": None if previous is None else _rate(count, previous),
            }
        )
        previous = count
    return {
        "steps": steps,
        "overall_rate": _rate(people.get("pay", 0), people.get("view", 0)),
        "empty": not any(people.values()),
    }


# --- new customers (shared by 2, 3, 5) -------------------------------------------------------


def _new_customers(store: EventStore, filter: DashboardFilter) -> list[dict[str, Any]]:
    """People whose first paid order ever falls in the period (and in the filter's slice)."""
    sql = (
        _with(_PAID_CTE, _FIRSTS_CTE)
        + f"""
        SELECT pid, first_at, first_day, first_order_no, first_channel AS channel,
               first_live_session AS live_session, first_campaign AS campaign
        FROM firsts f WHERE first_day BETWEEN $start AND $end {_slice(filter, "f.first_")}
        """
    )
    return _fetch(store, sql, filter)


# --- 2. new-customer acquisition cost --------------------------------------------------------


def spend_in_period(spend: AcquisitionSpend, start: dt.date, end: dt.date) -> int:
    """The share of a spend that falls in start..end, prorated by days (both ends included):
    amount × overlapping days ÷ days the spend covers, rounded half up to the fen."""
    overlap = (min(spend.ends_on, end) - max(spend.starts_on, start)).days + 1
    if overlap <= 0:
        return 0
    covered = (spend.ends_on - spend.starts_on).days + 1
    return _divide_half_up(spend.amount_fen * overlap, covered)


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
    for customer in _new_customers(store, filter):
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
            "cac_fen": _divide_half_up(spend_fen, customers) if customers else None,
        }

    rows: list[dict[str, Any]] = []
    if filter.live_session is not None:
        key = (SourceChannel.LIVE.value, filter.live_session)
        rows.append(row(*key, campaign_spend.get(key, 0), campaign_customers.get(key, 0)))
    else:
        for channel in sorted(set(channel_spend) | set(channel_customers), key=_channel_sort_key):
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
            "cac_fen": _divide_half_up(total_spend, total_customers) if total_customers else None,
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
        _with(_PAID_CTE, _FIRSTS_CTE)
        + f"""
        SELECT count(*) AS cohort, {windows_sql}
        FROM firsts f WHERE f.first_day BETWEEN $start AND $end {_slice(filter, "f.first_")}
        """
    )
    found = _fetch(store, sql, filter, now=now)[0]
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
                "rate": _rate(again, eligible),
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
    sql = (
        _with(_PAID_CTE, _REFUNDS_CTE)
        + f"""
        SELECT day, sum(paid_fen) AS paid_fen, sum(refunded_fen) AS refunded_fen,
               sum(orders) AS orders
        FROM (
            SELECT day, amount_fen AS paid_fen, 0 AS refunded_fen, 1 AS orders FROM paid
            WHERE day BETWEEN $start AND $end {_slice(filter)}
            UNION ALL
            SELECT day, 0, amount_fen, 0 FROM refunds
            WHERE day BETWEEN $start AND $end {_slice(filter)}
        ) GROUP BY day
        """
    )
    by_day = {row["day"]: row for row in _fetch(store, sql, filter)}
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
        _with(_PAID_CTE, _FIRSTS_CTE)
        + f"""
        SELECT f.pid,
               year(f.first_day) * 12 + month(f.first_day) - 1 AS cohort_month,
               list(DISTINCT year(p.day) * 12 + month(p.day) - 1) AS paid_months
        FROM firsts f JOIN paid p ON p.pid = f.pid
        WHERE f.first_day BETWEEN $start AND $end {_slice(filter, "f.first_")}
        GROUP BY f.pid, cohort_month
        """
    )
    current_month = _month_index(shanghai_today())
    cohorts: dict[int, list[set[int]]] = {}
    for row in _fetch(store, sql, month_filter):
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
                    "rate": _rate(people, len(members)),
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
    sql = (
        _with(_PAID_CTE, _REFUNDS_CTE)
        + f"""
        SELECT channel, sum(paid_fen) AS paid_fen, sum(refunded_fen) AS refunded_fen,
               sum(orders) AS orders
        FROM (
            SELECT channel, amount_fen AS paid_fen, 0 AS refunded_fen, 1 AS orders FROM paid
            WHERE day BETWEEN $start AND $end {_slice(filter)}
            UNION ALL
            SELECT channel, 0, amount_fen, 0 FROM refunds
            WHERE day BETWEEN $start AND $end {_slice(filter)}
        ) GROUP BY channel
        """
    )
    found = _fetch(store, sql, filter)
    total_gmv = sum(int(r["paid_fen"]) - int(r["refunded_fen"]) for r in found)
    rows = []
    for row in sorted(found, key=lambda r: _channel_sort_key(str(r["channel"]))):
        gmv = int(row["paid_fen"]) - int(row["refunded_fen"])
        rows.append(
            {
                "channel": row["channel"],
                "channel_label": channel_label(str(row["channel"])),
                "paid_fen": int(row["paid_fen"]),
                "refunded_fen": int(row["refunded_fen"]),
                "gmv_fen": gmv,
                "orders": int(row["orders"]),
                "gmv_share": _rate(gmv, total_gmv) if total_gmv > 0 else None,
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
        _with(_PAID_CTE)
        + f"""
        SELECT COALESCE(i.product_id, -1) AS product_id,
               arg_max(i.product_name, i.occurred_at) AS product_name,
               arg_max(i.category, i.occurred_at) AS category,
               sum(i.amount_fen) AS gmv_fen, sum(i.quantity) AS quantity,
               count(DISTINCT i.order_no) AS orders
        FROM order_items_resolved i JOIN paid p ON p.event_id = i.event_id
        WHERE p.day BETWEEN $start AND $end {_slice(filter, "p.")}
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
        for index, row in enumerate(_fetch(store, sql, filter), start=1)
    ]
    return {"rows": rows, "empty": not rows}


# --- 8. live sessions -------------------------------------------------------------------------


def dashboard_live_sessions(
    filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    """One row per live session with room events or paid orders in the period (latest first).

    viewers: people who joined (`live_join`); average dwell: each viewer's watching time in
    the session, averaged over the viewers (a viewer with no report counts as 0 s), rounded
    down; comments, product clicks and add-to-cart are event counts; orders, GMV (paid −
    refunded) and buyers come from the session's paid orders; conversion = buyers ÷ viewers.

    A viewer's watching time is the larger of two readings: the sum of the steps the live
    module's own heartbeats report (recorded `LiveViewerEvent`s: server source, `action` in
    the properties; `live.services.viewer_heartbeat` sends the seconds added since the
    previous beat, the same steps that add up to `LiveViewer.dwell_seconds`), and the longest
    running total any other source reported (`dwell_seconds` on a tracked heartbeat or leave).
    """
    store = store or event_store()
    if filter.channel not in (None, SourceChannel.LIVE):
        return {"rows": [], "empty": True}
    session_slice = " AND live_session = $live_session" if filter.live_session else ""
    sql = (
        _with(_PAID_CTE, _REFUNDS_CTE)
        + f""",
        room AS (
            SELECT * FROM events_resolved
            WHERE day BETWEEN $start AND $end AND live_session IS NOT NULL
              AND name IN ({", ".join(f"'{n}'" for n in ROOM_EVENTS)}) {session_slice}
        ),
        viewers AS (
            SELECT live_session, pid FROM room WHERE name = 'live_join' AND pid IS NOT NULL
            GROUP BY live_session, pid
        ),
        dwell_reports AS (
            SELECT live_session, pid,
                   TRY_CAST(json_extract_string(properties, '$.dwell_seconds') AS BIGINT)
                       AS seconds,
                   COALESCE(source = 'server'
                            AND json_extract_string(properties, '$.action') IS NOT NULL, false)
                       AS is_step
            FROM room WHERE name IN ('live_heartbeat', 'live_leave') AND pid IS NOT NULL
        ),
        dwell AS (
            SELECT live_session, pid,
                   greatest(COALESCE(sum(seconds) FILTER (WHERE is_step), 0),
                            COALESCE(max(seconds) FILTER (WHERE NOT is_step), 0)) AS seconds
            FROM dwell_reports GROUP BY live_session, pid
        ),
        watch AS (
            SELECT v.live_session, count(*) AS viewers,
                   sum(COALESCE(d.seconds, 0)) AS dwell_total
            FROM viewers v LEFT JOIN dwell d USING (live_session, pid)
            GROUP BY v.live_session
        ),
        activity AS (
            SELECT live_session, min(occurred_at) AS first_at,
                   count(*) FILTER (WHERE name = 'live_comment') AS comments,
                   count(*) FILTER (WHERE name = 'live_click_product') AS clicks,
                   count(*) FILTER (WHERE name = 'live_add_to_cart') AS carts
            FROM room GROUP BY live_session
        ),
        sales AS (
            SELECT live_session, min(occurred_at) AS first_at, count(*) AS orders,
                   sum(amount_fen) AS paid_fen, count(DISTINCT pid) AS buyers
            FROM paid
            WHERE day BETWEEN $start AND $end AND live_session IS NOT NULL {session_slice}
            GROUP BY live_session
        ),
        refunded AS (
            SELECT live_session, sum(amount_fen) AS refunded_fen FROM refunds
            WHERE day BETWEEN $start AND $end AND live_session IS NOT NULL {session_slice}
            GROUP BY live_session
        ),
        sessions AS (
            SELECT live_session FROM activity UNION SELECT live_session FROM sales
        )
        SELECT s.live_session,
               least(COALESCE(a.first_at, sa.first_at), COALESCE(sa.first_at, a.first_at))
                   AS first_at,
               COALESCE(w.viewers, 0) AS viewers, COALESCE(w.dwell_total, 0) AS dwell_total,
               COALESCE(a.comments, 0) AS comments, COALESCE(a.clicks, 0) AS clicks,
               COALESCE(a.carts, 0) AS carts, COALESCE(sa.orders, 0) AS orders,
               COALESCE(sa.paid_fen, 0) AS paid_fen, COALESCE(r.refunded_fen, 0) AS refunded_fen,
               COALESCE(sa.buyers, 0) AS buyers
        FROM sessions s
        LEFT JOIN activity a USING (live_session)
        LEFT JOIN watch w USING (live_session)
        LEFT JOIN sales sa USING (live_session)
        LEFT JOIN refunded r USING (live_session)
        ORDER BY first_at DESC, s.live_session
        """
    )
    found = _fetch(store, sql, filter)
    titles = _session_titles([str(row["live_session"]) for row in found])
    rows = []
    for row in found:
        viewers = int(row["viewers"])
        buyers = int(row["buyers"])
        code = str(row["live_session"])
        rows.append(
            {
                "live_session": code,
                "title": titles.get(code, ""),
                "first_at": row["first_at"].replace(tzinfo=dt.UTC).isoformat()
                if row["first_at"]
                else None,
                "viewers": viewers,
                "average_dwell_seconds": int(row["dwell_total"]) // viewers if viewers else 0,
                "comments": int(row["comments"]),
                "product_clicks": int(row["clicks"]),
                "add_to_cart": int(row["carts"]),
                "orders": int(row["orders"]),
                "gmv_fen": int(row["paid_fen"]) - int(row["refunded_fen"]),
                "buyers": buyers,
                "conversion": _rate(buyers, viewers),
            }
        )
    return {"rows": rows, "empty": not rows}


def _session_titles(codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
    from freshloop.live.models import LiveSession

    return dict(LiveSession.objects.filter(code__in=codes).values_list("code", "title"))


def live_session_choices(
    *, store: EventStore | None = None, limit: int = 200
) -> list[dict[str, str]]:
    """The live sessions the store has events for, latest first (for the filter's menu)."""
    store = store or event_store()
    found = store.fetch(
        "SELECT live_session, max(occurred_at) AS last_at FROM events "
        "WHERE live_session IS NOT NULL AND live_session <> '' "
        "GROUP BY live_session ORDER BY last_at DESC LIMIT $limit",
        {"limit": limit},
    )
    codes = [str(row[0]) for row in found]
    titles = _session_titles(codes)
    return [
        {
            "code": code,
            "title": titles.get(code, ""),
            "day": business_day(last_at).isoformat(),
        }
        for code, last_at in ((str(row[0]), row[1]) for row in found)
    ]


# --- the registry and CSV ---------------------------------------------------------------------

Selector = Callable[..., dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Chart:
    name: str
    title: str
    selector: Selector
    headers: tuple[str, ...]
    rows: Callable[[dict[str, Any]], Iterable[Sequence[Any]]]
    hint: str = ""  # one line under the chart's title: how its figure is defined


def _yuan(fen: int | None) -> str:
    return "" if fen is None else str(fen_to_yuan(fen))


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.2f}%"


def _funnel_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for step in data["steps"]:
        yield (step["label"], step["people"], _percent(step["rate_from_previous"]))


def _cac_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (
            row["channel_label"],
            spreadsheet_cell(row["campaign"]) or "（渠道合计）",
            _yuan(row["spend_fen"]),
            row["new_customers"],
            _yuan(row["cac_fen"]),
        )


def _repurchase_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for window in data["windows"]:
        yield (
            f"{window['days']} 天",
            data["cohort"],
            window["eligible"],
            window["repurchased"],
            _percent(window["rate"]),
            window["immature"],
        )


def _gmv_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for point in data["points"]:
        yield (
            point["start"],
            point["end"],
            _yuan(point["paid_fen"]),
            _yuan(point["refunded_fen"]),
            _yuan(point["gmv_fen"]),
            point["orders"],
        )


def _retention_headers() -> tuple[str, ...]:
    return (
        "首单月份",
        "新客数",
        *(f"第 {k} 个月" for k in range(1, RETENTION_MAX_OFFSET + 1)),
    )


def _retention_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for cohort in data["cohorts"]:
        cells = [_percent(cell["rate"]) if cell else "" for cell in cohort["cells"]]
        cells += [""] * (RETENTION_MAX_OFFSET - len(cells))
        yield (cohort["month"], cohort["size"], *cells)


def _channel_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (
            row["channel_label"],
            _yuan(row["paid_fen"]),
            _yuan(row["refunded_fen"]),
            _yuan(row["gmv_fen"]),
            row["orders"],
            _percent(row["gmv_share"]),
        )


def _product_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (
            row["rank"],
            spreadsheet_cell(row["product_name"]),
            spreadsheet_cell(row["category"]),
            _yuan(row["gmv_fen"]),
            row["quantity"],
            row["orders"],
        )


def _live_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (
            spreadsheet_cell(row["live_session"]),
            spreadsheet_cell(row["title"]),
            row["viewers"],
            row["average_dwell_seconds"],
            row["comments"],
            row["product_clicks"],
            row["add_to_cart"],
            row["orders"],
            _yuan(row["gmv_fen"]),
            row["buyers"],
            _percent(row["conversion"]),
        )


CHARTS: dict[str, Chart] = {
    chart.name: chart
    for chart in (
        Chart(
            "funnel",
            "转化漏斗",
            dashboard_funnel,
            ("环节", "人数", "环节转化率"),
            _funnel_rows,
            hint="浏览、加购、支付的去重人数(按合并后的 OneID)；选直播场次时为该场的进房、加购、支付。",
        ),
        Chart(
            "cac",
            "新客获客成本",
            dashboard_acquisition_cost,
            ("渠道", "活动", "花费(元)", "新客数", "获客成本(元)"),
            _cac_rows,
            hint="获客成本 = 期间内该渠道/活动的花费(按天分摊) ÷ 首单落在期间内的新客数。",
        ),
        Chart(
            "repurchase",
            "新客复购率",
            dashboard_repurchase,
            ("复购窗口", "新客数", "已满窗口新客数", "复购人数", "复购率", "未满窗口新客数"),
            _repurchase_rows,
            hint="期间内新客在首单后 30/60/90 天内再次支付的比例；窗口未满的新客不计入分母。",
        ),
        Chart(
            "gmv",
            "GMV 与订单趋势",
            dashboard_gmv_trend,
            ("开始日期", "结束日期", "支付金额(元)", "退款金额(元)", "GMV(元)", "支付订单数"),
            _gmv_rows,
            hint="GMV = 支付金额 − 退款金额(退款计入退款当天)；90 天内按天，一年内按周，更长按月。",
        ),
        Chart(
            "retention",
            "月度留存",
            dashboard_retention,
            _retention_headers(),
            _retention_rows,
            hint="按首单月份分组：之后第 k 个自然月仍有支付的人数占比(颜色越深留存越高)。",
        ),
        Chart(
            "channels",
            "渠道构成",
            dashboard_channel_mix,
            ("渠道", "支付金额(元)", "退款金额(元)", "GMV(元)", "支付订单数", "GMV 占比"),
            _channel_rows,
            hint="各渠道的 GMV 与支付订单数及 GMV 占比。",
        ),
        Chart(
            "products",
            "热销商品 Top 10",
            dashboard_top_products,
            ("排名", "商品", "类目", "销售额(元)", "销量(件)", "订单数"),
            _product_rows,
            hint="按期间内支付订单的商品行金额(优惠后)排名。",
        ),
        Chart(
            "live-sessions",
            "直播场次",
            dashboard_live_sessions,
            (
                "场次编码",
                "直播标题",
                "观看人数",
                "平均观看时长(秒)",
                "评论数",
                "商品点击",
                "加购次数",
                "支付订单",
                "GMV(元)",
                "购买人数",
                "转化率",
            ),
            _live_rows,
            hint="每场的观看人数、平均观看时长、互动、加购、支付订单、GMV 与转化率(购买人数 ÷ 观看人数)。",
        ),
    )
}


def chart_get(name: str) -> Chart:
    chart = CHARTS.get(name)
    if chart is None:
        raise DashboardChartUnknown(detail={"chart": name[:64], "allowed": list(CHARTS)})
    return chart


def chart_data(
    chart_name: str, filter: DashboardFilter, *, store: EventStore | None = None
) -> dict[str, Any]:
    return chart_get(chart_name).selector(filter, store=store)


def chart_csv(chart_name: str, filter: DashboardFilter, *, store: EventStore | None = None) -> str:
    """The chart as CSV with Chinese headers, starting with a UTF-8 byte order mark so Excel
    reads the Chinese right; money in yuan with two decimals, rates as percentages."""
    chart = chart_get(chart_name)
    data = chart.selector(filter, store=store)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(chart.headers)
    for row in chart.rows(data):
        writer.writerow(row)
    return "\ufeff" + buffer.getvalue()
