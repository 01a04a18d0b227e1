"""DH-7 customer features and labels, computed from the event store as of a cutoff.

Every feature of a person "as of T" reads only events with `occurred_at < T`; every label of the
window (T, T + horizon] reads only events inside that window. That is the whole leakage rule,
and it is enforced in SQL here, in one place: the training code never filters events itself
(tests/intelligence/test_features.py proves a feature at T ignores everything after T).

Features (one row per surviving person with any customer-initiated event before T):

- RFM: days since the last paid order, paid orders in 30 / 90 / 365 days, spend in 365 days,
  average order value, days since the first event (tenure), active days in the last 30;
- lifecycle: days since the last customer-initiated event of any kind, and how many there were
  in the last 7 / 14 / 30 / 90 / 365 days (a fading customer shows in the trend);
- live engagement: live-room entries in 30 days, distinct live sessions in 90 days, days since
  the last live entry;
- browsing and sharing: page and product views, add-to-carts in 30 days, shares in 90 days;
- WeCom: messages the customer sent in 30 days, whether they joined a community group;
- coupon use: share of paid orders that used a coupon; refunds in 365 days;
- channel: the channel most of their events came through (categorical) and the live share;
- region: the province of their latest paid order that names one (categorical);
- category: the category they spent most on (categorical) and how many categories they bought.

Labels over (T, T + horizon]:

- `purchased`: a paid order in the window (purchase propensity);
- `churned`: for a person who had bought before T, no customer-initiated event at all in the
  window (no browsing, live, WeCom message or order): the relationship went quiet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from freshloop.datahub.eventstore.selectors import to_naive_utc

# Events a customer causes: what counts as "still engaged". Fulfilment facts (shipped,
# delivered) and staff actions would keep a silent customer looking alive.
ENGAGEMENT_EVENTS: tuple[str, ...] = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "checkout_start",
    "order_created",
    "order_paid",
    "coupon_receive",
    "share",
    "live_join",
    "live_leave",
    "live_heartbeat",
    "live_click_product",
    "live_comment",
    "live_like",
    "live_add_to_cart",
    "wecom_add_contact",
    "wecom_message",
    "wecom_join_group",
    "store_visit",
    "pos_purchase",
    "groupbuy_join",
    "consumer_logged_in",
)

# Column → (Chinese label, how the value reads on the profile). Order is the model's column
# order; a model stores the list it was trained with, so adding a feature never breaks scoring
# with an older version.
FEATURE_LABELS: dict[str, str] = {
    "days_since_order": "距上次下单(天)",
    "orders_30d": "近30天订单数",
    "orders_90d": "近90天订单数",
    "orders_365d": "近一年订单数",
    "spend_365d_fen": "近一年消费",
    "avg_order_fen": "客单价",
    "tenure_days": "成为用户(天)",
    "active_days_30d": "近30天活跃天数",
    "days_since_event": "距上次互动(天)",
    "events_7d": "近7天互动次数",
    "events_14d": "近14天互动次数",
    "events_30d": "近30天互动次数",
    "events_90d": "近90天互动次数",
    "events_365d": "近一年互动次数",
    "live_joins_30d": "近30天进直播间次数",
    "live_sessions_90d": "近90天观看场次",
    "days_since_live": "距上次看直播(天)",
    "page_views_30d": "近30天浏览次数",
    "product_views_30d": "近30天看商品次数",
    "add_to_cart_30d": "近30天加购次数",
    "shares_90d": "近90天分享次数",
    "wecom_messages_30d": "近30天企微发言",
    "joined_group": "已进社群",
    "coupon_share": "用券订单占比",
    "refunds_365d": "近一年退款次数",
    "live_share": "直播渠道占比",
    "categories_bought": "购买过的品类数",
    "preferred_channel": "常用渠道",
    "province": "省份",
    "top_category": "偏好品类",
}
CATEGORICAL_FEATURES: tuple[str, ...] = ("preferred_channel", "province", "top_category")
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_LABELS)

_ENGAGEMENT_SQL = ", ".join(f"'{name}'" for name in ENGAGEMENT_EVENTS)

# One paid order counts once even when the browser and the server both reported it.
_PAID_SQL = """
    SELECT pid, order_no, occurred_at, channel, COALESCE(amount_fen, 0) AS amount_fen,
           json_extract_string(properties, '$.coupon_used') = 'true' AS coupon_used,
           NULLIF(json_extract_string(properties, '$.province'), '') AS province
    FROM events_resolved
    WHERE name = 'order_paid' AND pid IS NOT NULL AND occurred_at >= $since AND occurred_at < $until
    QUALIFY row_number() OVER (
        PARTITION BY COALESCE(order_no, event_id)
        ORDER BY (source = 'server') DESC, occurred_at, event_id) = 1
"""

FEATURES_SQL = f"""
WITH
past AS MATERIALIZED (
    SELECT pid, name, occurred_at, channel, live_session, properties,
           date_diff('day', occurred_at, $cutoff) AS days_ago
    FROM events_resolved
    WHERE pid IS NOT NULL AND occurred_at < $cutoff AND name IN ({_ENGAGEMENT_SQL})
),
paid AS MATERIALIZED (
    SELECT *, date_diff('day', occurred_at, $cutoff) AS days_ago
    FROM ({_PAID_SQL.replace("$since", "TIMESTAMP '1970-01-01'").replace("$until", "$cutoff")})
),
activity AS (
    SELECT pid,
           MAX(days_ago) AS tenure_days,
           MIN(days_ago) AS days_since_event,
           COUNT(*) FILTER (WHERE days_ago < 7) AS events_7d,
           COUNT(*) FILTER (WHERE days_ago < 14) AS events_14d,
           COUNT(*) FILTER (WHERE days_ago < 30) AS events_30d,
           COUNT(*) FILTER (WHERE days_ago < 90) AS events_90d,
           COUNT(*) FILTER (WHERE days_ago < 365) AS events_365d,
           COUNT(DISTINCT CAST(occurred_at AS DATE)) FILTER (WHERE days_ago < 30) AS active_days_30d,
           COUNT(*) FILTER (WHERE name = 'live_join' AND days_ago < 30) AS live_joins_30d,
           COUNT(DISTINCT live_session)
               FILTER (WHERE name = 'live_join' AND days_ago < 90) AS live_sessions_90d,
           MIN(days_ago) FILTER (WHERE name = 'live_join') AS days_since_live,
           COUNT(*) FILTER (WHERE name = 'page_view' AND days_ago < 30) AS page_views_30d,
           COUNT(*) FILTER (WHERE name = 'product_view' AND days_ago < 30) AS product_views_30d,
           COUNT(*) FILTER (WHERE name IN ('add_to_cart', 'live_add_to_cart') AND days_ago < 30)
               AS add_to_cart_30d,
           COUNT(*) FILTER (WHERE name = 'share' AND days_ago < 90) AS shares_90d,
           COUNT(*) FILTER (
               WHERE name = 'wecom_message' AND days_ago < 30
                 AND COALESCE(json_extract_string(properties, '$.direction'), 'in') = 'in'
           ) AS wecom_messages_30d,
           BOOL_OR(name = 'wecom_join_group')::INTEGER AS joined_group,
           AVG(CASE WHEN channel = 'live' THEN 1.0 ELSE 0.0 END) AS live_share,
           MODE(channel) AS preferred_channel
    FROM past GROUP BY pid
),
orders AS (
    SELECT pid,
           MIN(days_ago) AS days_since_order,
           COUNT(*) FILTER (WHERE days_ago < 30) AS orders_30d,
           COUNT(*) FILTER (WHERE days_ago < 90) AS orders_90d,
           COUNT(*) FILTER (WHERE days_ago < 365) AS orders_365d,
           COALESCE(SUM(amount_fen) FILTER (WHERE days_ago < 365), 0) AS spend_365d_fen,
           AVG(amount_fen) AS avg_order_fen,
           AVG(CASE WHEN coupon_used THEN 1.0 ELSE 0.0 END) AS coupon_share,
           ARG_MAX(province, occurred_at) FILTER (WHERE province IS NOT NULL) AS province
    FROM paid GROUP BY pid
),
refunds AS (
    SELECT pid, COUNT(*) AS refunds_365d
    FROM events_resolved
    WHERE name = 'order_refunded' AND pid IS NOT NULL AND occurred_at < $cutoff
      AND occurred_at >= $cutoff - INTERVAL 365 DAY
    GROUP BY pid
),
categories AS (
    SELECT pid, ARG_MAX(category, spend) AS top_category, COUNT(*) AS categories_bought
    FROM (
        SELECT pid, category, SUM(COALESCE(amount_fen, 0)) AS spend
        FROM order_items_resolved
        WHERE pid IS NOT NULL AND occurred_at < $cutoff AND COALESCE(category, '') <> ''
        GROUP BY pid, category
    ) GROUP BY pid
)
SELECT a.pid,
       o.days_since_order,
       COALESCE(o.orders_30d, 0) AS orders_30d,
       COALESCE(o.orders_90d, 0) AS orders_90d,
       COALESCE(o.orders_365d, 0) AS orders_365d,
       COALESCE(o.spend_365d_fen, 0) AS spend_365d_fen,
       o.avg_order_fen,
       a.tenure_days, a.active_days_30d, a.days_since_event,
       a.events_7d, a.events_14d, a.events_30d, a.events_90d, a.events_365d,
       a.live_joins_30d, a.live_sessions_90d, a.days_since_live,
       a.page_views_30d, a.product_views_30d, a.add_to_cart_30d, a.shares_90d,
       a.wecom_messages_30d, a.joined_group,
       o.coupon_share,
       COALESCE(r.refunds_365d, 0) AS refunds_365d,
       a.live_share,
       COALESCE(c.categories_bought, 0) AS categories_bought,
       a.preferred_channel, o.province, c.top_category
FROM activity a
LEFT JOIN orders o USING (pid)
LEFT JOIN refunds r USING (pid)
LEFT JOIN categories c USING (pid)
ORDER BY a.pid
"""  # noqa: S608 (module constants only)

LABELS_SQL = f"""
WITH
window_events AS (
    SELECT pid, BOOL_OR(name = 'order_paid') AS purchased, true AS engaged
    FROM events_resolved
    WHERE pid IS NOT NULL AND occurred_at >= $cutoff AND occurred_at < $until
      AND name IN ({_ENGAGEMENT_SQL})
    GROUP BY pid
)
SELECT pid, purchased FROM window_events
"""  # noqa: S608 (module constants only)


@dataclasses.dataclass(frozen=True)
class FeatureFrame:
    """Features of everyone engaged before `cutoff` (naive UTC), one row per `pid`."""

    cutoff: dt.datetime
    frame: pd.DataFrame  # index: pid; columns: FEATURE_NAMES

    @property
    def people(self) -> int:
        return len(self.frame)


def features_at(connection: duckdb.DuckDBPyConnection, *, cutoff: dt.datetime) -> FeatureFrame:
    """Every person's features as of `cutoff`: reads only events strictly before it."""
    moment = to_naive_utc(cutoff)
    frame = connection.execute(FEATURES_SQL, {"cutoff": moment}).df()
    frame = frame.set_index("pid")
    for name in CATEGORICAL_FEATURES:
        frame[name] = frame[name].astype("string").fillna("").astype("category")
    numeric = [name for name in FEATURE_NAMES if name not in CATEGORICAL_FEATURES]
    frame[numeric] = frame[numeric].astype("float64")
    return FeatureFrame(cutoff=moment, frame=frame[list(FEATURE_NAMES)])


def labels_between(
    connection: duckdb.DuckDBPyConnection, *, cutoff: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    """Per person engaged in [cutoff, until): whether they paid for an order. People absent
    from the result did nothing in the window."""
    frame = connection.execute(
        LABELS_SQL, {"cutoff": to_naive_utc(cutoff), "until": to_naive_utc(until)}
    ).df()
    return frame.set_index("pid")


@dataclasses.dataclass(frozen=True)
class LabelledSet:
    features: pd.DataFrame
    target: pd.Series  # 0/1 per row of features


def propensity_set(features: FeatureFrame, labels: pd.DataFrame) -> LabelledSet:
    """Everyone engaged before T; target: paid for an order in the window."""
    purchased = labels["purchased"].reindex(features.frame.index).eq(True)
    return LabelledSet(features=features.frame, target=purchased.astype("int8"))


def churn_set(features: FeatureFrame, labels: pd.DataFrame) -> LabelledSet:
    """Customers (a paid order before T); target: no customer-initiated event in the window."""
    customers = features.frame[features.frame["days_since_order"].notna()]
    engaged = customers.index.isin(labels.index)
    return LabelledSet(
        features=customers, target=pd.Series((~engaged).astype("int8"), index=customers.index)
    )


def feature_value_text(name: str, value: Any) -> str:
    """A feature's value as the profile shows it."""
    if value is None or (isinstance(value, float) and value != value):
        return "无"
    if name == "joined_group":
        return "是" if value else "否"
    if name in ("coupon_share", "live_share"):
        return f"{float(value):.0%}"
    if name.endswith("_fen"):
        return f"¥{float(value) / 100:,.2f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value) or "无"
