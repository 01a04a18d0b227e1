"""The SQL every dashboard chart shares: one row per paid order, each customer's first order,
refunds, the filter as conditions, and running a statement with exactly the parameters it
names. Private to `datahub.dashboards`.

Only module constants and whitelisted names are put into SQL text; every value (dates,
channel, session) is a bound parameter (see `fetch`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from freshloop.datahub.dashboards.schemas import CHANNEL_ORDER, CHANNELS, DashboardFilter
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.models import SourceChannel

PARAM_PATTERN = re.compile(r"\$([a-z_]+)")

# One row per paid order (a second report of the same order_no, e.g. by a partner's source
# as well as by the server, is dropped: the server's own record wins, then the earliest).
PAID_CTE = """
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
FIRSTS_CTE = """
firsts AS (
    SELECT DISTINCT ON (pid) pid, occurred_at AS first_at, day AS first_day,
           order_no AS first_order_no, channel AS first_channel,
           live_session AS first_live_session, campaign AS first_campaign
    FROM paid WHERE pid IS NOT NULL
    ORDER BY pid, occurred_at, order_no
)"""

REFUNDS_CTE = """
refunds AS (
    SELECT day, channel, live_session, COALESCE(amount_fen, 0) AS amount_fen
    FROM events_resolved WHERE name = 'order_refunded'
)"""


def with_ctes(*ctes: str) -> str:
    """A WITH clause of the given common table expressions."""
    return "WITH " + ",".join(ctes)


def filter_slice(filter: DashboardFilter, prefix: str = "") -> str:
    """SQL conditions for the filter's channel and live session on a row alias."""
    conditions = []
    if filter.channel is not None:
        conditions.append(f"{prefix}channel = $channel")
    if filter.live_session is not None:
        conditions.append(f"{prefix}live_session = $live_session")
    return "".join(f" AND {condition}" for condition in conditions)


def fetch(
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
    used = set(PARAM_PATTERN.findall(sql))
    return store.fetch_dicts(sql, {name: values[name] for name in used})


def rate(part: int, whole: int) -> float | None:
    """part ÷ whole, or None when there is no whole (a rate of nothing is not 0%)."""
    return part / whole if whole else None


def divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator in whole fen, half up, on integers (no float on money)."""
    return (2 * numerator + denominator) // (2 * denominator)


def channel_sort_key(channel: str) -> tuple[int, str]:
    """Sales channels in the filter's order, then anything else (the system's own) by name."""
    return (CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNELS), channel)


def channel_label(channel: str) -> str:
    return CHANNELS.get(channel, "系统" if channel == SourceChannel.SERVER else channel)


def new_customers(store: EventStore, filter: DashboardFilter) -> list[dict[str, Any]]:
    """People whose first paid order ever falls in the period (and in the filter's slice)."""
    sql = (
        with_ctes(PAID_CTE, FIRSTS_CTE)
        + f"""
        SELECT pid, first_at, first_day, first_order_no, first_channel AS channel,
               first_live_session AS live_session, first_campaign AS campaign
        FROM firsts f WHERE first_day BETWEEN $start AND $end {filter_slice(filter, "f.first_")}
        """
    )
    return fetch(store, sql, filter)


def money_by(
    store: EventStore, filter: DashboardFilter, *, key: Literal["day", "channel"]
) -> list[dict[str, Any]]:
    """Per day or per channel of the period: the paid amount and paid orders (orders by the
    day they were paid) and the refunded amount (refunds by the day of the refund)."""
    sql = (
        with_ctes(PAID_CTE, REFUNDS_CTE)
        + f"""
        SELECT {key}, sum(paid_fen) AS paid_fen, sum(refunded_fen) AS refunded_fen,
               sum(orders) AS orders
        FROM (
            SELECT {key}, amount_fen AS paid_fen, 0 AS refunded_fen, 1 AS orders FROM paid
            WHERE day BETWEEN $start AND $end {filter_slice(filter)}
            UNION ALL
            SELECT {key}, 0, amount_fen, 0 FROM refunds
            WHERE day BETWEEN $start AND $end {filter_slice(filter)}
        ) GROUP BY {key}
        """
    )
    return fetch(store, sql, filter)
