"""DH-6 / DH-5: the dashboard's 直播场次 table — every live session of a period read from the
event store (viewers, watching time, interactions, orders, GMV, conversion), and the menu of
sessions the filter offers. The host console's real-time figures come from the live module's
own tables instead (`live.stats`); docs/datahub.md says where the two agree and differ.
Private to `datahub.dashboards`: reached through `dashboards.selectors`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from freshloop.datahub.dashboards.queries import PAID_CTE, REFUNDS_CTE, fetch, rate, with_ctes
from freshloop.datahub.dashboards.schemas import DashboardFilter
from freshloop.datahub.eventstore.selectors import EventStore, business_day, event_store
from freshloop.datahub.models import SourceChannel
from freshloop.live.models import LiveSession

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
        with_ctes(PAID_CTE, REFUNDS_CTE)
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
    found = fetch(store, sql, filter)
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
                "conversion": rate(buyers, viewers),
            }
        )
    return {"rows": rows, "empty": not rows}


def _session_titles(codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
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
