"""DH-4 computed tags: RFM, lifecycle stage and preferences per person, plus operators' manual tags.

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

Manual tags are rows of `ManualTag` in the transactional database, written only through
`manual_tag_add` / `manual_tag_remove` (audited); they follow OneID merges.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.events import subscribe
from freshloop.datahub.models import ManualTag
from freshloop.datahub.store import EventStore, business_day, event_store, to_naive_utc
from freshloop.identity.events import IdentityMerged
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.services import people_lock

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
MANUAL_TAG_MAX_LENGTH = 32


class RfmSegment(StrEnum):
    IMPORTANT_VALUE = "重要价值客户"
    IMPORTANT_DEVELOP = "重要发展客户"
    IMPORTANT_RETAIN = "重要保持客户"
    IMPORTANT_WIN_BACK = "重要挽留客户"
    GENERAL_VALUE = "一般价值客户"
    GENERAL_DEVELOP = "一般发展客户"
    GENERAL_RETAIN = "一般保持客户"
    GENERAL_WIN_BACK = "一般挽留客户"


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


class LifecycleStage(StrEnum):
    NEW = "新客"
    ACTIVE = "活跃"
    WON_BACK = "回流"
    AT_RISK = "流失预警"
    LAPSED = "已流失"
    PROSPECT = "潜在"


class Level(StrEnum):
    HIGH = "高"
    MEDIUM = "中"
    LOW = "低"
    NONE = "无"


UNKNOWN_LABEL = "未知"

# Columns `tag_distribution` may count, with their labels in display order (None: by count).
DISTRIBUTION_LABELS: dict[str, list[str] | None] = {
    "rfm_segment": [segment.value for segment in RfmSegment],
    "lifecycle": [stage.value for stage in LifecycleStage],
    "price_sensitivity": [Level.HIGH, Level.MEDIUM, Level.LOW],
    "live_engagement": [Level.HIGH, Level.MEDIUM, Level.LOW, Level.NONE],
    "r_score": ["5", "4", "3", "2", "1"],
    "f_score": ["5", "4", "3", "2", "1"],
    "m_score": ["5", "4", "3", "2", "1"],
    "rfm_score": None,
    "preferred_channel": None,
    "province": None,
    "top_categories": None,
}


@dataclasses.dataclass(frozen=True)
class TagReport:
    people: int  # rows written to person_tags
    with_rfm: int  # of them, people with a paid order in the RFM window
    cut_points: dict[str, list[int]]  # recency / frequency / monetary quintile cut points
    computed_at: dt.datetime
    seconds: float


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

_FULL_SQL = _tags_sql(events=_FULL_EVENTS, items=_FULL_ITEMS, population=_FULL_POPULATION)
_SCOPED_SQL = _tags_sql(events=_SCOPED_EVENTS, items=_SCOPED_ITEMS, population=_WHOLE_POPULATION)


def _parameters(now: dt.datetime) -> dict[str, Any]:
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


def tags_recompute_all(
    *, store: EventStore | None = None, now: dt.datetime | None = None
) -> TagReport:
    """Rewrite `person_tags` for every person with any event, in one SQL statement."""
    store = store or event_store()
    moment = to_naive_utc(now or clock.now())
    started = time.perf_counter()
    with store.connect() as connection:
        connection.execute("BEGIN")
        try:
            connection.execute("DELETE FROM person_tags")
            connection.execute(_FULL_SQL, _parameters(moment))
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
        counts = connection.execute(
            "SELECT COUNT(*), COUNT(r_score), "
            "quantile_disc(recency_days, $q), quantile_disc(frequency, $q), "
            "quantile_disc(monetary_fen, $q) FROM person_tags",
            {"q": list(QUINTILE_CUTS)},
        ).fetchone()
    assert counts is not None
    people, with_rfm, r_cuts, f_cuts, m_cuts = counts
    return TagReport(
        people=int(people),
        with_rfm=int(with_rfm),
        cut_points={
            "recency_days": list(r_cuts or []),
            "frequency": list(f_cuts or []),
            "monetary_fen": list(m_cuts or []),
        },
        computed_at=moment.replace(tzinfo=dt.UTC),
        seconds=time.perf_counter() - started,
    )


def tags_refresh_people(
    *, person_ids: Sequence[int], store: EventStore | None = None, now: dt.datetime | None = None
) -> int:
    """Recompute the tags of these people (merged-away ids count as their survivor); return
    how many rows were written. Their RFM is scored against the whole population's cut points."""
    if not person_ids:
        return 0
    store = store or event_store()
    moment = to_naive_utc(now or clock.now())
    ids = sorted({int(person_id) for person_id in person_ids})
    with store.connect() as connection:
        connection.execute("BEGIN")
        try:
            connection.execute(
                "CREATE TEMP TABLE tag_scope AS "
                "SELECT DISTINCT COALESCE(m.into_person_id, t.person_id) AS pid "
                "FROM (SELECT UNNEST($ids::BIGINT[]) AS person_id) t "
                "LEFT JOIN person_map m ON m.from_person_id = t.person_id",
                {"ids": ids},
            )
            # A survivor's history is also filed under the ids merged into it.
            connection.execute(
                "CREATE TEMP TABLE tag_scope_sources AS "
                "SELECT pid AS person_id FROM tag_scope UNION "
                "SELECT from_person_id FROM person_map WHERE into_person_id IN (SELECT pid FROM tag_scope)"
            )
            connection.execute(
                "DELETE FROM person_tags WHERE person_id IN (SELECT pid FROM tag_scope) "
                "OR person_id IN (SELECT UNNEST($ids::BIGINT[]))",
                {"ids": ids},
            )
            connection.execute(_SCOPED_SQL, _parameters(moment))
            written = connection.execute(
                "SELECT COUNT(*) FROM person_tags WHERE person_id IN (SELECT pid FROM tag_scope)"
            ).fetchone()
            connection.execute("DROP TABLE tag_scope_sources")
            connection.execute("DROP TABLE tag_scope")
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
    return int(written[0]) if written else 0


# --- reads ---------------------------------------------------------------------------------


def person_tags_get(*, person_id: int, store: EventStore | None = None) -> dict[str, Any] | None:
    """The computed tags of a person (or of the survivor a merged-away id now belongs to)."""
    store = store or event_store()
    rows = store.fetch_dicts(
        "SELECT t.* FROM person_tags t WHERE t.person_id = COALESCE("
        "(SELECT into_person_id FROM person_map WHERE from_person_id = $id), $id)",
        {"id": person_id},
    )
    if not rows:
        return None
    row = rows[0]
    row["top_categories"] = list(row["top_categories"] or [])
    row["computed_at"] = row["computed_at"].replace(tzinfo=dt.UTC)
    return row


def tag_distribution(*, column: str, store: EventStore | None = None) -> dict[str, int]:
    """People per label of one computed tag column, for charts.

    Labelled columns come in their natural order (segments, stages, 高中低); the others by
    count. People without a value (no paid order, no region) count under 未知;
    `top_categories` counts each person once per category in their top 3.
    """
    if column not in DISTRIBUTION_LABELS:
        raise InvalidInput(
            "不支持按该字段统计标签分布",
            detail={"column": column, "allowed": list(DISTRIBUTION_LABELS)},
        )
    store = store or event_store()
    if column == "top_categories":
        sql = (
            "SELECT label, COUNT(*) FROM (SELECT UNNEST(top_categories) AS label FROM person_tags) "
            "GROUP BY label"
        )
    else:
        # `column` is one of the whitelisted names above.
        sql = f"SELECT {column}::VARCHAR AS label, COUNT(*) FROM person_tags GROUP BY label"  # noqa: S608
    counts = {
        label if label is not None else UNKNOWN_LABEL: int(n) for label, n in store.fetch(sql)
    }
    order = DISTRIBUTION_LABELS[column]
    if order is None:
        labels = sorted(counts, key=lambda label: (label == UNKNOWN_LABEL, -counts[label], label))
    else:
        labels = [label for label in order if label in counts] + sorted(
            (label for label in counts if label not in order),
            key=lambda label: (label == UNKNOWN_LABEL, label),
        )
    return {label: counts[label] for label in labels}


# --- manual tags ---------------------------------------------------------------------------


def manual_tag_text_clean(tag: str) -> str:
    """The stored form of a tag an operator typed: stripped, 1–32 characters."""
    if not isinstance(tag, str):
        raise InvalidInput("标签应为文字")
    text = tag.strip()
    if not text:
        raise InvalidInput("请填写标签")
    if len(text) > MANUAL_TAG_MAX_LENGTH:
        raise InvalidInput(
            f"标签不能超过 {MANUAL_TAG_MAX_LENGTH} 个字", detail={"length": len(text)}
        )
    return text


def _taggable(person: Person) -> None:
    if person.merged_into_id is not None or person.status == PersonStatus.MERGED:
        survivor = (
            Person.objects.filter(pk=person.merged_into_id).values_list("one_id", flat=True).first()
            if person.merged_into_id is not None
            else None
        )
        raise InvalidInput(
            f"该用户已合并到 {survivor or '其他 OneID'}，请在合并后的用户上打标签",
            detail={"one_id": person.one_id, "merged_into": survivor},
        )
    if person.status == PersonStatus.ERASED:
        raise InvalidInput("该用户的个人信息已删除，不能再打标签", detail={"one_id": person.one_id})


def manual_tag_add(*, person: Person, tag: str, actor: Actor) -> ManualTag:
    """Put a tag on a person; adding a tag the person already has changes nothing."""
    text = manual_tag_text_clean(tag)
    with transaction.atomic():
        # Decide on the row as it is now, under its lock (a merge locks it too): the object in
        # hand may predate a merge, and a tag put on a merged-away person after its tags moved
        # to the survivor would be lost to every screen.
        current = people_lock([person.pk]).get(person.pk)
        if current is None:
            raise NotFound("用户不存在", detail={"person_id": person.pk})
        _taggable(current)
        row, created = ManualTag.objects.get_or_create(
            person=current,
            tag=text,
            defaults={"created_by": actor.label[:64], "created_at": clock.now()},
        )
        if created:
            audit_record(
                actor=actor,
                action="datahub.manual_tag_add",
                target=row,
                after={"person_id": current.pk, "one_id": current.one_id, "tag": text},
            )
    return row


def manual_tag_remove(*, person: Person, tag: str, actor: Actor) -> bool:
    """Take a tag off a person; return whether there was one to take off."""
    text = manual_tag_text_clean(tag)
    with transaction.atomic():
        row = ManualTag.objects.select_for_update().filter(person=person, tag=text).first()
        if row is None:
            return False
        audit_record(
            actor=actor,
            action="datahub.manual_tag_remove",
            target=row,
            before={
                "person_id": person.pk,
                "one_id": person.one_id,
                "tag": text,
                "created_by": row.created_by,
                "created_at": row.created_at,
            },
        )
        row.delete()
    return True


def manual_tags_list(*, person_id: int) -> list[str]:
    return list(
        ManualTag.objects.filter(person_id=person_id)
        .order_by("created_at", "pk")
        .values_list("tag", flat=True)
    )


@subscribe(IdentityMerged)
def manual_tags_follow_merge(event: IdentityMerged) -> None:
    """The survivor carries the merged person's tags; a tag both had is kept once."""
    with transaction.atomic():
        kept = set(
            ManualTag.objects.filter(person_id=event.into_person_id).values_list("tag", flat=True)
        )
        moving = ManualTag.objects.filter(person_id=event.from_person_id)
        moving.filter(tag__in=kept).delete()
        moving.update(person_id=event.into_person_id)
