"""DH-4 computed tags: how RFM, lifecycle stage, preferences and live engagement are computed.

Computed tags live in the event store's `person_tags` table, one row per surviving person (`pid`)
with any event at or before `now`. `tags_recompute_all` rewrites the table in one set-based SQL
statement (nightly job `datahub.tags_recompute`); `tags_refresh_people` runs the same statement
restricted to a few people after every flush. Every figure is read from the `*_resolved` views,
so a OneID merge makes one person of the two histories.

"Days ago" counts Asia/Shanghai calendar days: an order whose business day is today is 0 days
ago, yesterday's is 1. Events after `now` are ignored, so a recompute for a past `now` is
reproducible.

RFM (paid orders 0–364 days ago, each order once even if a client reported it too; people
without one have no RFM tags):
- recency_days = days ago of the latest paid order; frequency = number of paid orders;
  monetary_fen = their paid amount minus what was refunded on those same orders (refunds
  matched by order number, whenever they happened up to `now`).
- Each is scored 1–5 against the population's quintile cut points c1..c4 (`quantile_disc` at
  0.2/0.4/0.6/0.8 over everyone who has RFM). b = how many cut points lie strictly below the
  value (0–4); frequency and monetary score b + 1, recency scores 5 − b (recent is better).
  Equal values always get equal scores, so a population where most people ordered once puts
  all of them in the same frequency score.
- rfm_score = the three digits, e.g. "545". rfm_segment splits each score into high (≥ 3:
  roughly the better three fifths of the population on that axis — more recent for R, more
  orders or spend for F and M) and low:
      R高 F高 M高 重要价值客户    R高 F高 M低 一般价值客户
      R高 F低 M高 重要发展客户    R高 F低 M低 一般发展客户
      R低 F高 M高 重要保持客户    R低 F高 M低 一般保持客户
      R低 F低 M高 重要挽留客户    R低 F低 M低 一般挽留客户
- An incremental refresh scores its people against the cut points of the whole current
  population (computed from the events, not from the stored table), so it always agrees with a
  full recompute over the same data.

Lifecycle (all paid orders, whole history), first matching rule wins:
1. 潜在      events but no paid order;
2. 新客      first paid order ≤ 30 days ago;
3. 回流      a paid order ≤ 30 days ago came more than 120 days after the previous paid order;
4. 活跃      last paid order ≤ 60 days ago;
5. 流失预警  last paid order 61–120 days ago;
6. 已流失    last paid order > 120 days ago.

Preferences (whole history: they describe the person, and a lapsed customer's preferences are
what a win-back campaign needs):
- top_categories: up to 3 categories by order-line spend (ties: category name);
- preferred_channel: channel with most paid orders (ties: the most recent order, then name);
- province / city: of the latest paid order that carries a province (a pick-up order without
  an address does not erase the region);
- coupon_share = share of paid orders with coupon_used; price_sensitivity 高 (≥ 0.6),
  中 (≥ 0.3), 低 (below); none without paid orders.

Live engagement (live_* events 0–29 days ago): live_sessions_30d = distinct live sessions joined
(`live_join`); live_engagement 高 (≥ 4 sessions, or any `live_pay`), 中 (2–3), 低 (1), 无 (0).

The thresholds and the SQL statement below are the definitions; `tags.services` runs them,
`tags.schemas` names the columns and their values. Manual tags (operators' own) are not computed:
see `tags.services`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from freshloop.datahub.eventstore.selectors import business_day
from freshloop.datahub.tags.schemas import Level, LifecycleStage, RfmSegment

RFM_WINDOW_DAYS = 365
QUINTILE_CUTS = (0.2, 0.4, 0.6, 0.8)
HIGH_SCORE = 3
NEW_CUSTOMER_DAYS = 30
WON_BACK_WITHIN_DAYS = 30
WON_BACK_GAP_DAYS = 120
ACTIVE_DAYS = 60
AT_RISK_DAYS = 120
TOP_CATEGORY_COUNT = 3
COUPON_SHARE_HIGH = 0.6
COUPON_SHARE_MEDIUM = 0.3
LIVE_WINDOW_DAYS = 30
LIVE_SESSIONS_HIGH = 4
LIVE_SESSIONS_MEDIUM = 2

# (recency high, frequency high, monetary high) → segment
SEGMENT_BY_HIGHS: dict[tuple[bool, bool, bool], RfmSegment] = {
    (True, True, True): RfmSegment.IMPORTANT_VALUE,
    (True, False, True): RfmSegment.IMPORTANT_DEVELOP,
    (False, True, True): RfmSegment.IMPORTANT_RETAIN,
    (False, False, True): RfmSegment.IMPORTANT_WIN_BACK,
    (True, True, False): RfmSegment.GENERAL_VALUE,
    (True, False, False): RfmSegment.GENERAL_DEVELOP,
    (False, True, False): RfmSegment.GENERAL_RETAIN,
    (False, False, False): RfmSegment.GENERAL_WIN_BACK,
}


# --- the computation ----------------------------------------------------------------------

# A paid order reported twice (the server's own record and a client's track call) is one
# order: keep one copy per order number, the server's first — the dashboards' rule too.
_ONE_COPY_PER_ORDER = (
    "row_number() OVER (PARTITION BY COALESCE(order_no, event_id) "
    "ORDER BY (source = 'server') DESC, occurred_at, event_id)"
)
_FULL_EVENTS = "(SELECT * FROM events_resolved WHERE pid IS NOT NULL AND occurred_at <= $now)"
_FULL_ITEMS = "(SELECT * FROM order_items_resolved WHERE pid IS NOT NULL AND occurred_at <= $now)"
# The scoped variants filter the raw tables on person_id before resolving, so a refresh of a
# few people reads a few people's rows instead of resolving the whole store.
_SCOPED_EVENTS = """(
    SELECT e.*, COALESCE(m.into_person_id, e.person_id) AS pid
    FROM events e LEFT JOIN person_map m ON m.from_person_id = e.person_id
    WHERE e.person_id IN (SELECT person_id FROM tag_scope_sources) AND e.occurred_at <= $now
)"""
_SCOPED_ITEMS = """(
    SELECT i.*, COALESCE(m.into_person_id, i.person_id) AS pid
    FROM order_items i LEFT JOIN person_map m ON m.from_person_id = i.person_id
    WHERE i.person_id IN (SELECT person_id FROM tag_scope_sources) AND i.occurred_at <= $now
)"""


def _below_cuts(value: str, cuts: str) -> str:
    """How many of the four quintile cut points lie strictly below `value` (0–4)."""
    return " + ".join(f"({value} > {cuts}[{i}])::INTEGER" for i in range(1, len(QUINTILE_CUTS) + 1))


def _segment_case() -> str:
    branches = "\n".join(
        f"            WHEN r_score {'>=' if r else '<'} $high AND f_score {'>=' if f else '<'} $high "
        f"AND m_score {'>=' if m else '<'} $high THEN '{segment.value}'"
        for (r, f, m), segment in SEGMENT_BY_HIGHS.items()
    )
    return f"CASE\n{branches}\n        END"


def _tags_sql(*, events: str, items: str, population: str) -> str:
    """The whole tag computation as one INSERT … SELECT.

    `events` / `items` are the rows to tag (with `pid`); `population` is the relation whose
    RFM figures define the quintile cut points: the tagged people themselves for a full
    recompute, everyone for an incremental refresh.
    """
    # Only module constants and the fragments above are interpolated; every value is bound.
    return f"""
INSERT INTO person_tags BY NAME
WITH
paid AS MATERIALIZED (
    SELECT pid, event_id, order_no, occurred_at, day, channel,
           COALESCE(amount_fen, 0) AS amount_fen,
           ($today - day)::INTEGER AS days_ago,
           json_extract_string(properties, ['$.coupon_used', '$.province', '$.city']) AS facts
    FROM {events} WHERE name = 'order_paid'
    QUALIFY {_ONE_COPY_PER_ORDER} = 1
),
refunded AS (
    SELECT order_no, SUM(COALESCE(amount_fen, 0)) AS refunded_fen
    FROM events
    WHERE name = 'order_refunded' AND order_no IS NOT NULL AND occurred_at <= $now
    GROUP BY order_no
),
paid_orders AS MATERIALIZED (
    SELECT p.*,
           p.amount_fen - COALESCE(r.refunded_fen, 0) AS net_fen,
           p.facts[1] = 'true' AS coupon_used,
           NULLIF(p.facts[2], '') AS province,
           NULLIF(p.facts[3], '') AS city,
           p.day - LAG(p.day) OVER (PARTITION BY p.pid ORDER BY p.occurred_at, p.event_id)
               AS gap_days
    FROM paid p LEFT JOIN refunded r ON r.order_no = p.order_no
),
order_stats AS (
    SELECT pid,
           MIN(days_ago) FILTER (WHERE days_ago < $rfm_window) AS recency_days,
           COUNT(*) FILTER (WHERE days_ago < $rfm_window) AS frequency,
           SUM(net_fen) FILTER (WHERE days_ago < $rfm_window) AS monetary_fen,
           MAX(days_ago) AS first_days_ago,
           MIN(days_ago) AS last_days_ago,
           COALESCE(BOOL_OR(days_ago <= $won_back_within AND gap_days > $won_back_gap), false)
               AS won_back,
           AVG(CASE WHEN coupon_used THEN 1.0 ELSE 0.0 END) AS coupon_share,
           ARG_MAX({{'province': province, 'city': city}}, (occurred_at, event_id))
               FILTER (WHERE province IS NOT NULL) AS region
    FROM paid_orders GROUP BY pid
),
cuts AS (
    SELECT quantile_disc(recency_days, $quintiles) AS r_cuts,
           quantile_disc(frequency, $quintiles) AS f_cuts,
           quantile_disc(monetary_fen, $quintiles) AS m_cuts
    FROM {population}
),
preferred_channel AS (
    SELECT pid, channel FROM paid GROUP BY pid, channel
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY pid ORDER BY COUNT(*) DESC, MAX(occurred_at) DESC, channel
    ) = 1
),
category_spend AS (
    SELECT pid, category, SUM(COALESCE(amount_fen, 0)) AS spend_fen
    FROM {items} WHERE COALESCE(category, '') <> ''
    GROUP BY pid, category
    QUALIFY ROW_NUMBER() OVER (PARTITION BY pid ORDER BY spend_fen DESC, category)
        <= $top_categories
),
top_categories AS (
    SELECT pid, LIST(category ORDER BY spend_fen DESC, category) AS categories
    FROM category_spend GROUP BY pid
),
live AS (
    SELECT pid,
           COUNT(DISTINCT live_session) FILTER (WHERE name = 'live_join') AS sessions,
           BOOL_OR(name = 'live_pay') AS paid_in_live
    FROM {events}
    WHERE starts_with(name, 'live_') AND day > $today - $live_window
    GROUP BY pid
),
people AS (SELECT DISTINCT pid FROM {events}),
scored AS (
    SELECT people.pid, s.recency_days, s.frequency, s.monetary_fen, s.first_days_ago,
           s.last_days_ago, s.won_back, s.coupon_share, s.region,
           c.categories, ch.channel, l.sessions, l.paid_in_live,
           CASE WHEN s.recency_days IS NOT NULL
                THEN 5 - ({_below_cuts("s.recency_days", "cuts.r_cuts")}) END AS r_score,
           CASE WHEN s.recency_days IS NOT NULL
                THEN 1 + {_below_cuts("s.frequency", "cuts.f_cuts")} END AS f_score,
           CASE WHEN s.recency_days IS NOT NULL
                THEN 1 + {_below_cuts("s.monetary_fen", "cuts.m_cuts")} END AS m_score
    FROM people
    CROSS JOIN cuts
    LEFT JOIN order_stats s ON s.pid = people.pid
    LEFT JOIN top_categories c ON c.pid = people.pid
    LEFT JOIN preferred_channel ch ON ch.pid = people.pid
    LEFT JOIN live l ON l.pid = people.pid
)
SELECT
    pid AS person_id,
    recency_days,
    CASE WHEN recency_days IS NOT NULL THEN frequency END AS frequency,
    CASE WHEN recency_days IS NOT NULL THEN monetary_fen END AS monetary_fen,
    r_score, f_score, m_score,
    r_score::VARCHAR || f_score::VARCHAR || m_score::VARCHAR AS rfm_score,
    {_segment_case()} AS rfm_segment,
    CASE
        WHEN last_days_ago IS NULL THEN '{LifecycleStage.PROSPECT}'
        WHEN first_days_ago <= $new_customer THEN '{LifecycleStage.NEW}'
        WHEN won_back THEN '{LifecycleStage.WON_BACK}'
        WHEN last_days_ago <= $active THEN '{LifecycleStage.ACTIVE}'
        WHEN last_days_ago <= $at_risk THEN '{LifecycleStage.AT_RISK}'
        ELSE '{LifecycleStage.LAPSED}'
    END AS lifecycle,
    COALESCE(categories, []::VARCHAR[]) AS top_categories,
    channel AS preferred_channel,
    region.province AS province,
    region.city AS city,
    CASE
        WHEN coupon_share IS NULL THEN NULL
        WHEN coupon_share >= $coupon_high THEN '{Level.HIGH}'
        WHEN coupon_share >= $coupon_medium THEN '{Level.MEDIUM}'
        ELSE '{Level.LOW}'
    END AS price_sensitivity,
    coupon_share,
    CASE
        WHEN COALESCE(paid_in_live, false) OR COALESCE(sessions, 0) >= $live_high
            THEN '{Level.HIGH}'
        WHEN COALESCE(sessions, 0) >= $live_medium THEN '{Level.MEDIUM}'
        WHEN COALESCE(sessions, 0) >= 1 THEN '{Level.LOW}'
        ELSE '{Level.NONE}'
    END AS live_engagement,
    COALESCE(sessions, 0) AS live_sessions_30d,
    $now AS computed_at
FROM scored
"""  # noqa: S608


_FULL_POPULATION = "(SELECT * FROM order_stats WHERE recency_days IS NOT NULL)"
# Everyone's RFM, from the same definitions as `order_stats` (window, refunds by order number).
_WHOLE_POPULATION = f"""(
    SELECT e.pid,
           MIN(($today - e.day)::INTEGER) AS recency_days,
           COUNT(*) AS frequency,
           SUM(COALESCE(e.amount_fen, 0) - COALESCE(r.refunded_fen, 0)) AS monetary_fen
    FROM (
        SELECT * FROM events_resolved
        WHERE name = 'order_paid' AND pid IS NOT NULL AND occurred_at <= $now
        QUALIFY {_ONE_COPY_PER_ORDER} = 1
    ) e LEFT JOIN refunded r ON r.order_no = e.order_no
    WHERE e.day > $today - $rfm_window
    GROUP BY e.pid
)"""  # noqa: S608

FULL_SQL = _tags_sql(events=_FULL_EVENTS, items=_FULL_ITEMS, population=_FULL_POPULATION)
SCOPED_SQL = _tags_sql(events=_SCOPED_EVENTS, items=_SCOPED_ITEMS, population=_WHOLE_POPULATION)


def parameters(now: dt.datetime) -> dict[str, Any]:
    """The bound values of `FULL_SQL` / `SCOPED_SQL` for a computation as of `now` (naive UTC)."""
    return {
        "now": now,
        "today": business_day(now),
        "rfm_window": RFM_WINDOW_DAYS,
        "quintiles": list(QUINTILE_CUTS),
        "high": HIGH_SCORE,
        "new_customer": NEW_CUSTOMER_DAYS,
        "won_back_within": WON_BACK_WITHIN_DAYS,
        "won_back_gap": WON_BACK_GAP_DAYS,
        "active": ACTIVE_DAYS,
        "at_risk": AT_RISK_DAYS,
        "top_categories": TOP_CATEGORY_COUNT,
        "coupon_high": COUPON_SHARE_HIGH,
        "coupon_medium": COUPON_SHARE_MEDIUM,
        "live_window": LIVE_WINDOW_DAYS,
        "live_high": LIVE_SESSIONS_HIGH,
        "live_medium": LIVE_SESSIONS_MEDIUM,
    }
