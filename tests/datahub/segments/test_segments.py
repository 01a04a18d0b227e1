"""DH-4 segments: the rule grammar, evaluation against SQL computed by hand, saved segments.

The evaluation tests build one town of ~30 people through the real services (OneID
`identify`, paid orders as the recorder writes them and one real order, live-room joins sent
to the track API, traits, manual tags, the nightly tag recompute), then ask every question
twice: once through `segment_evaluate`, once through a hand-written query against DuckDB
(`person_tags`, `events_resolved`) or the transactional database (traits, manual tags). The
hand queries receive the active people as a list (`$active`, read by raw SQL from the
identity table), because a segment only ever holds active people.

The clock is frozen at 2025-06-30 12:00 in Shanghai.
"""
# The hand-written queries are assembled from this file's own constants.
# ruff: noqa: S608

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import fcntl
import io
import itertools
import json
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.datahub.eventstore import store as store_module
from freshloop.datahub.eventstore.errors import EventStoreBusy
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.models import Segment, SegmentCouponIssue, SegmentMember
from freshloop.datahub.segments.errors import (
    SegmentBusy,
    SegmentInvalid,
    SegmentNotFound,
    SegmentNotMaterialised,
)
from freshloop.datahub.segments.grammar import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_LIST_VALUES,
    TAG_OPERATORS,
    segment_validate,
)
from freshloop.datahub.segments.selectors import (
    CSV_HEADER,
    segment_csv,
    segment_evaluate,
    segment_get,
    segment_list,
    segment_member_ids,
    segment_preview,
)
from freshloop.datahub.segments.services import (
    segment_delete,
    segment_issue_coupon,
    segment_materialise,
    segment_members_forget,
    segment_save,
    segment_save_and_materialise,
    segments_materialise_all,
)
from freshloop.datahub.tags.schemas import TAG_FIELDS, LifecycleStage
from freshloop.datahub.tags.services import manual_tag_add, tags_recompute_all
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.privacy import person_erase, person_export
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.promotions.models import Coupon, CouponSource
from tests.concurrency import errors_of, run_at_once, values_of
from tests.datahub.helpers import make_source, record_server_event, send_and_flush, track_event
from tests.factories import make_sku
from tests.orders.helpers import buy, coupon_template, pay

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 6, 30, 12, 0, tzinfo=SHANGHAI)
OPERATOR = Actor(type="user", id="7", label="市场部小林")
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _frozen_now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def group(*rules: Any, op: str = "and", **extra: Any) -> dict[str, Any]:
    return {"op": op, "rules": list(rules), **extra}


def tag(field: Any, operator: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": "tag", "field": field, "operator": operator, "value": value, **extra}


def manual(operator: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "manual_tag", "operator": operator, "value": value, **extra}


def trait(field: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    rule = {"kind": "trait", "field": field, "operator": operator, **extra}
    if value is not None:
        rule["value"] = value
    return rule


def event(name: str, operator: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": "event", "name": name, "operator": operator, "value": value, **extra}


LIFECYCLE_ACTIVE = tag("lifecycle", "eq", "活跃")
# The issue's example: "watched ≥ 2 live sessions in 30 days and not paid".
WATCHED_TWICE = event("live_join", "gte", 2, measure="distinct_live_sessions", within_days=30)
NEVER_PAID = event("order_paid", "eq", 0)


# --- the hand-written side --------------------------------------------------------------------


def active_ids() -> set[int]:
    """Active people, straight from the identity table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM identity_person WHERE status = %s AND merged_into_id IS NULL",
            ["active"],
        )
        return {row[0] for row in cursor.fetchall()}


def hand(store: EventStore, sql: str, **params: Any) -> set[int]:
    """A hand-written DuckDB query over `active(pid)`, the active people."""
    params = {"active": sorted(active_ids()), **params}
    query = f"WITH active AS (SELECT unnest($active::BIGINT[]) AS pid) {sql}"
    return {row[0] for row in store.fetch(query, params)}


def hand_db(sql: str, params: list[Any]) -> set[int]:
    """A hand-written query against the transactional database, kept to active people."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()} & active_ids()


def traits_where(predicate: Callable[[dict[str, Any]], bool]) -> set[int]:
    """Active people whose traits satisfy a predicate written out by hand."""
    return {
        pk
        for pk, traits in Person.objects.filter(
            status=PersonStatus.ACTIVE, merged_into__isnull=True
        ).values_list("pk", "traits")
        if predicate(traits)
    }


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def age_between(low: float, high: float) -> Callable[[dict[str, Any]], bool]:
    def check(traits: dict[str, Any]) -> bool:
        age = as_number(traits.get("age"))
        return age is not None and low <= age <= high

    return check


def evaluate(store: EventStore, *rules: dict[str, Any], op: str = "and") -> set[int]:
    return segment_evaluate(definition=group(*rules, op=op), store=store)


def interesting(expected: set[int]) -> None:
    """A comparison proves something only if the answer is neither nobody nor everybody."""
    assert 0 < len(expected) < len(active_ids()), expected


# --- the town ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Town:
    people: dict[str, Person]
    survivor: Person  # of the merge of "merge_a" and "merge_b"
    merged_away: Person
    erased: Person


_phones = itertools.count(13900000001)


def resident(
    *,
    traits: dict[str, Any] | None = None,
    display_name: str = "",
    identifier: IdentifierInput | None = None,
) -> Person:
    """A person as the H5 profile page creates one: a verified phone, traits, a nickname."""
    return identify(
        identifiers=[
            identifier or IdentifierInput(type="phone", value=str(next(_phones)), verified=True)
        ],
        traits=traits or {},
        source="h5_profile",
        display_name=display_name,
        occurred_at=ago(400),
    ).person


def paid(
    person: Person,
    days_ago: float,
    amount_fen: int,
    *,
    channel: str = "shop",
    coupon_used: bool = False,
    province: str = "上海",
    city: str = "上海",
    category: str = "乳品",
) -> None:
    order_no = f"FL{next(_numbers):06d}"
    record_server_event(
        "order_paid",
        person_id=person.pk,
        occurred_at=ago(days_ago),
        channel=channel,
        properties={
            "order_no": order_no,
            "amount_fen": amount_fen,
            "coupon_used": coupon_used,
            "province": province,
            "city": city,
            "lines": [
                {
                    "sku_id": 10,
                    "product_id": 1,
                    "product_name": f"{category}礼盒",
                    "category": category,
                    "quantity": 1,
                    "amount_fen": amount_fen,
                }
            ],
        },
        event_id=f"order_paid:{order_no}",
    )


def joins(person: Person, sessions: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """`live_join` events as the room's client sends them to /api/v1/track."""
    return [
        track_event("live_join", occurred_at=ago(days), one_id=person.one_id, live_session=code)
        for code, days in sessions
    ]


PROVINCES = [("上海", "上海"), ("浙江", "杭州"), ("江苏", "南京")]
CATEGORIES = ["乳品", "水果", "肉禽"]


@pytest.fixture
def town(store: EventStore, django_capture_on_commit_callbacks: Any) -> Town:
    people: dict[str, Person] = {}
    live_events: list[dict[str, Any]] = []
    shop_events: list[dict[str, Any]] = []
    for i in range(24):
        traits: dict[str, Any] = {}
        if i % 3 != 2:
            traits["gender"] = ["female", "male"][i % 3]
        # ages arrive as numbers from the app and as text from the H5 form
        if i % 4 == 0:
            traits["age"] = 20 + i
        elif i % 4 == 1:
            traits["age"] = str(20 + i)
        elif i % 4 == 3:
            traits["age"] = 20.5 + i
        if i % 5 == 0:
            traits["vip"] = True
        elif i % 5 == 1:
            traits["vip"] = False
        person = resident(traits=traits, display_name=f"居民{i}")
        people[f"p{i}"] = person
        for k in range(i % 4):
            province, city = PROVINCES[(i + k) % 3]
            paid(
                person,
                days_ago=(i * 7 + k * 45) % 400 + 0.2,
                amount_fen=1000 * (1 + (i * 3 + k) % 9),
                channel="live" if i % 5 == 2 else "shop",
                coupon_used=(i + k) % 3 == 0,
                province=province,
                city=city,
                category=CATEGORIES[(i + k) % 3],
            )
        sessions = [(f"S{(i + j) % 6}", j * 5 + 1.5) for j in range(i % 5)]
        if i % 7 == 0 and sessions:
            sessions.append((sessions[0][0], 0.5))  # the same room joined twice counts once
        if i % 6 == 0:
            sessions.append(("S-old", 45))  # outside the 30 days
        live_events += joins(person, sessions)
        if i % 2 == 0:
            shop_events.append(
                track_event(
                    "page_view",
                    occurred_at=ago(i + 0.3),
                    one_id=person.one_id,
                    properties={"path": "/m/"},
                )
            )
        if i % 4 == 0:
            manual_tag_add(person=person, tag="VIP", actor=OPERATOR)
        if i % 6 == 1:
            manual_tag_add(person=person, tag="团长候选", actor=OPERATOR)

    # watched three rooms and paid once, 90 days ago: "not paid" differs from "not paid in 30 days"
    people["lapsed_watcher"] = resident(traits={"gender": "female", "age": "41"})
    live_events += joins(people["lapsed_watcher"], [("S1", 2), ("S2", 9), ("S3", 20)])
    paid(people["lapsed_watcher"], 90, 4200)
    # a person who came in by the shop and never did anything the hub saw
    people["quiet"] = resident(traits={"gender": "male", "age": "保密"})
    # a real order through checkout and payment (recorded by the recorder)
    people["shopper"] = resident(traits={"gender": "female", "age": 33})
    milk = make_sku(stock=10, price_fen=2500, name="鲜牛奶", category_code="dairy")
    with clock.frozen(ago(3)):
        with django_capture_on_commit_callbacks(execute=True):
            order = buy(people["shopper"], (milk, 2))
        with django_capture_on_commit_callbacks(execute=True):
            pay(order)
    live_events += joins(people["shopper"], [("S4", 1)])

    # two halves of one customer: a phone with orders, a WeChat account with live joins and a tag
    phone_a = IdentifierInput(type="phone", value=str(next(_phones)), verified=True)
    union_b = IdentifierInput(type="wechat_unionid", value=f"union-{next(_numbers)}")
    merge_a = resident(identifier=phone_a, traits={"gender": "female", "age": 29})
    merge_b = resident(identifier=union_b, traits={"vip": True})
    paid(merge_a, 10, 8800, province="浙江", city="宁波")
    live_events += joins(merge_a, [("S1", 3)])
    live_events += joins(merge_b, [("S2", 4)])
    manual_tag_add(person=merge_b, tag="VIP", actor=OPERATOR)
    # someone who asked to be forgotten: watched a lot, tagged, no orders
    erased = resident(traits={"gender": "female", "age": 35})
    live_events += joins(erased, [("S1", 1), ("S2", 2), ("S3", 3)])
    manual_tag_add(person=erased, tag="VIP", actor=OPERATOR)

    send_and_flush(make_source("live")[1], live_events, store)
    send_and_flush(make_source("shop")[1], shop_events, store)

    with django_capture_on_commit_callbacks(execute=True):
        identify(identifiers=[phone_a, union_b], source="wechat_oauth")
    with django_capture_on_commit_callbacks(execute=True):
        person_erase(actor=OPERATOR, one_id=erased.one_id, reason="用户申请删除")
    buffer_flush_all(store=store)
    tags_recompute_all(store=store, now=NOW)

    merge_a.refresh_from_db()
    merge_b.refresh_from_db()
    survivor, merged_away = (merge_a, merge_b) if merge_b.merged_into_id else (merge_b, merge_a)
    assert merged_away.merged_into_id == survivor.pk
    people["survivor"] = survivor
    return Town(
        people=people,
        survivor=survivor,
        merged_away=merged_away,
        erased=Person.objects.get(pk=erased.pk),
    )


# --- evaluation against hand-written SQL ------------------------------------------------------

TAG_SQL = "SELECT a.pid FROM active a JOIN person_tags t ON t.person_id = a.pid WHERE "

# (rule, the same question as a WHERE clause over person_tags `t`, written out by hand)
TAG_CASES: list[tuple[dict[str, Any], str]] = [
    (tag("lifecycle", "eq", "活跃"), "t.lifecycle = '活跃'"),
    (tag("lifecycle", "ne", "潜在"), "t.lifecycle <> '潜在'"),
    (tag("lifecycle", "in", ["新客", "流失预警"]), "t.lifecycle IN ('新客', '流失预警')"),
    (tag("lifecycle", "not_in", ["潜在", "已流失"]), "t.lifecycle NOT IN ('潜在', '已流失')"),
    (
        tag("rfm_segment", "in", ["重要价值客户", "重要发展客户"]),
        "t.rfm_segment IN ('重要价值客户', '重要发展客户')",
    ),
    (tag("rfm_segment", "ne", "重要价值客户"), "t.rfm_segment <> '重要价值客户'"),
    (tag("rfm_score", "eq", "513"), "t.rfm_score = '513'"),
    (tag("r_score", "gte", 4), "t.r_score >= 4"),
    (tag("f_score", "lte", 1), "t.f_score <= 1"),
    (tag("m_score", "in", [4, 5]), "t.m_score BETWEEN 4 AND 5"),
    (tag("m_score", "not_in", [1]), "t.m_score <> 1"),
    (tag("m_score", "ne", 4), "t.m_score <> 4"),
    (tag("recency_days", "lte", 60), "t.recency_days <= 60"),
    (tag("frequency", "eq", 2), "t.frequency = 2"),
    (tag("monetary_fen", "gte", 9000), "t.monetary_fen >= 9000"),
    (
        tag("top_categories", "contains", "水果"),
        "len(list_filter(t.top_categories, lambda c: c = '水果')) > 0",
    ),
    (tag("preferred_channel", "eq", "live"), "t.preferred_channel = 'live'"),
    (tag("province", "eq", "浙江"), "t.province = '浙江'"),
    (tag("city", "in", ["杭州", "宁波"]), "t.city = '杭州' OR t.city = '宁波'"),
    (tag("price_sensitivity", "eq", "高"), "t.price_sensitivity = '高'"),
    (tag("coupon_share", "gte", 0.5), "t.coupon_share >= 0.5"),
    (tag("coupon_share", "eq", 0), "t.coupon_share = 0.0"),
    (tag("coupon_share", "ne", 0), "t.coupon_share > 0"),
    (tag("coupon_share", "lte", 0.4), "t.coupon_share <= 0.4"),
    (tag("live_engagement", "in", ["高", "中"]), "t.live_engagement IN ('高', '中')"),
    (tag("live_engagement", "ne", "无"), "t.live_engagement <> '无'"),
    (tag("live_sessions_30d", "gte", 2), "t.live_sessions_30d >= 2"),
    (tag("live_sessions_30d", "eq", 0), "t.live_sessions_30d = 0"),
]

# (rule, {measure SQL, filters}) — the hand query gives everyone without such events measure 0
EVENT_MEASURE_SQL = {
    "count": "count(*)",
    "distinct_live_sessions": "count(DISTINCT live_session) FILTER (WHERE live_session <> '')",
    "sum_amount": "sum(amount_fen)",
}
EVENT_CASES: list[dict[str, Any]] = [
    WATCHED_TWICE,
    event("live_join", "gte", 3),
    event("live_join", "lte", 1, measure="distinct_live_sessions", within_days=30),
    event("live_join", "eq", 0, measure="distinct_live_sessions", within_days=30),
    event("live_join", "eq", 2, measure="distinct_live_sessions"),
    event("order_paid", "gte", 2),
    event("order_paid", "eq", 1, within_days=365),
    event("order_paid", "gte", 10000, measure="sum_amount", within_days=180),
    event("order_paid", "lte", 5000, measure="sum_amount"),
    event("order_paid", "gte", 1, channel="live"),
    event("order_paid", "lte", 1, channel="shop", within_days=100),
    event("page_view", "gte", 1, within_days=7),
    event("order_created", "gte", 1),
    NEVER_PAID,
]

COMPARE = {"gte": ">=", "lte": "<=", "eq": "="}


def hand_event(store: EventStore, rule: dict[str, Any], *, now: dt.datetime = NOW) -> set[int]:
    filters = ["name = $name", "occurred_at <= $now"]
    params: dict[str, Any] = {
        "name": rule["name"],
        "now": now.astimezone(dt.UTC).replace(tzinfo=None),
        "value": rule["value"],
    }
    if "within_days" in rule:
        filters.append("occurred_at >= $since")
        params["since"] = params["now"] - dt.timedelta(days=rule["within_days"])
    if "channel" in rule:
        filters.append("channel = $channel")
        params["channel"] = rule["channel"]
    measure = EVENT_MEASURE_SQL[rule.get("measure", "count")]
    return hand(
        store,
        f"""SELECT a.pid FROM active a LEFT JOIN (
                SELECT pid, {measure} AS measure FROM events_resolved
                WHERE {" AND ".join(filters)} GROUP BY pid
            ) e ON e.pid = a.pid
            WHERE COALESCE(e.measure, 0) {COMPARE[rule["operator"]]} $value""",
        **params,
    )


def mismatches(
    store: EventStore, cases: list[tuple[dict[str, Any], set[int]]]
) -> dict[str, dict[str, list[int]]]:
    """For each case whose evaluation differs from its hand answer: who is missing or extra."""
    found = {}
    for rule, expected in cases:
        got = segment_evaluate(definition=group(rule), store=store)
        if got != expected:
            found[json.dumps(rule, ensure_ascii=False)] = {
                "missing": sorted(expected - got),
                "extra": sorted(got - expected),
            }
    return found


class TestSegmentEvaluateConditions:
    def test_every_tag_condition_matches_hand_sql(self, store: EventStore, town: Town) -> None:
        # given the town's computed tags; when each tag rule is evaluated
        cases = [(rule, hand(store, TAG_SQL + f"({where})")) for rule, where in TAG_CASES]
        # then each answer equals the hand query's, and each hand answer splits the town
        for _, expected in cases:
            interesting(expected)
        assert mismatches(store, cases) == {}

    def test_every_tag_operator_of_every_field_type_is_covered(self) -> None:
        covered = {(TAG_FIELDS[rule["field"]].type, rule["operator"]) for rule, _ in TAG_CASES}
        assert covered == {
            (field_type, operator)
            for field_type, operators in TAG_OPERATORS.items()
            for operator in operators
        }

    def test_a_negated_tag_condition_is_the_rest_of_the_active_people(
        self, store: EventStore, town: Town
    ) -> None:
        # NOT is taken within all active people: people with no tags row at all (no events:
        # "quiet") are not 活跃, so they belong
        expected = hand(
            store,
            "SELECT pid FROM active WHERE pid NOT IN "
            "(SELECT person_id FROM person_tags WHERE lifecycle = '活跃')",
        )
        assert town.people["quiet"].pk in expected
        interesting(expected)

        assert evaluate(store, tag("lifecycle", "eq", "活跃", **{"not": True})) == expected

    def test_ne_and_not_in_leave_out_people_without_the_tag(
        self, store: EventStore, town: Town
    ) -> None:
        # "quiet" has no tags row; 潜在 people have a row but no RFM: neither is "not 重要价值客户"
        result = evaluate(store, tag("rfm_segment", "ne", "重要价值客户"))
        assert town.people["quiet"].pk not in result
        assert town.people["p0"].pk not in result  # no paid order: no RFM segment

    def test_every_event_condition_matches_hand_sql(self, store: EventStore, town: Town) -> None:
        cases = [(rule, hand_event(store, rule)) for rule in EVENT_CASES]
        for _, expected in cases:
            interesting(expected)
        assert mismatches(store, cases) == {}

    def test_events_after_now_are_not_counted(self, store: EventStore, town: Town) -> None:
        # evaluated as of ten days ago, the joins and orders of the last ten days do not exist
        earlier = ago(10)
        for rule in [WATCHED_TWICE, NEVER_PAID, event("order_paid", "gte", 1, within_days=30)]:
            expected = hand_event(store, rule, now=earlier)
            interesting(expected)
            assert segment_evaluate(definition=group(rule), now=earlier, store=store) == expected
        assert hand_event(store, WATCHED_TWICE, now=earlier) != hand_event(store, WATCHED_TWICE)

    def test_manual_tags_match_hand_sql(self, store: EventStore, town: Town) -> None:
        tagged = "SELECT person_id FROM datahub_manualtag WHERE tag = %s"
        everyone_but = (
            "SELECT id FROM identity_person WHERE status = 'active' AND merged_into_id IS NULL "
            "AND id NOT IN (SELECT person_id FROM datahub_manualtag WHERE tag = %s)"
        )
        cases = [
            (manual("has", "VIP"), hand_db(tagged, ["VIP"])),
            (manual("has", " 团长候选 "), hand_db(tagged, ["团长候选"])),
            (manual("not_has", "VIP"), hand_db(everyone_but, ["VIP"])),
            (manual("has", "VIP", **{"not": True}), hand_db(everyone_but, ["VIP"])),
        ]
        for _, expected in cases:
            interesting(expected)
        assert mismatches(store, cases) == {}
        assert evaluate(store, manual("has", "没人有的标签")) == set()

    def test_traits_match_a_hand_check_of_every_persons_traits(
        self, store: EventStore, town: Town
    ) -> None:
        def age(traits: dict[str, Any]) -> float | None:
            return as_number(traits.get("age"))

        cases = [
            (trait("gender", "eq", "female"), traits_where(lambda t: t.get("gender") == "female")),
            (
                trait("gender", "ne", "female"),
                traits_where(lambda t: "gender" in t and t["gender"] != "female"),
            ),
            (
                trait("gender", "in", ["male", "other"]),
                traits_where(lambda t: t.get("gender") in {"male", "other"}),
            ),
            (trait("gender", "exists"), traits_where(lambda t: "gender" in t)),
            (trait("gender", "exists", False), traits_where(lambda t: "gender" not in t)),
            # numbers and numeric text compare as numbers; "保密" is no number
            (trait("age", "gte", 30), traits_where(age_between(30, math.inf))),
            (trait("age", "lte", 25.5), traits_where(age_between(-math.inf, 25.5))),
            (trait("age", "eq", 25), traits_where(lambda t: age(t) == 25)),
            (trait("age", "eq", "24"), traits_where(lambda t: age(t) == 24)),
            (
                trait("age", "in", [24, "25", 26.5]),
                traits_where(lambda t: age(t) in {24, 25, 26.5}),
            ),
            (trait("age", "eq", "保密"), traits_where(lambda t: t.get("age") == "保密")),
            (trait("vip", "eq", True), traits_where(lambda t: t.get("vip") is True)),
            (trait("vip", "ne", True), traits_where(lambda t: "vip" in t and t["vip"] is not True)),
        ]
        for _, expected in cases:
            interesting(expected)
        assert mismatches(store, cases) == {}
        # text typed into a form counts as the number it spells, both ways
        assert town.people["p1"].pk in evaluate(store, trait("age", "eq", 21))
        assert town.people["p0"].pk in evaluate(store, trait("age", "eq", "20"))

    def test_a_definition_of_traits_and_manual_tags_never_opens_the_event_store(
        self, store: EventStore, town: Town, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the event store held by another process (its lock file taken)
        monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 0.05)
        store.fetch("SELECT 1")
        with open(store.path.with_name(store.path.name + ".lock"), "a+b") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            try:
                # then traits and manual tags still evaluate, while a tag rule says busy
                assert evaluate(store, manual("has", "VIP"), trait("gender", "exists"))
                with pytest.raises(EventStoreBusy):
                    evaluate(store, LIFECYCLE_ACTIVE)
            finally:
                fcntl.flock(held.fileno(), fcntl.LOCK_UN)


class TestSegmentEvaluateGroups:
    def test_the_issues_example_watched_twice_in_30_days_and_not_paid(
        self, store: EventStore, town: Town
    ) -> None:
        # "watched ≥ 2 live sessions in 30 days and not paid", as one hand-written query
        expected = hand(
            store,
            """, watched AS (
                   SELECT pid FROM events_resolved
                   WHERE name = 'live_join' AND occurred_at BETWEEN $since AND $now
                   GROUP BY pid HAVING count(DISTINCT live_session) >= 2
               ), paid AS (
                   SELECT pid FROM events_resolved
                   WHERE name = 'order_paid' AND occurred_at <= $now AND pid IS NOT NULL
               )
               SELECT pid FROM active
               WHERE pid IN (SELECT pid FROM watched) AND pid NOT IN (SELECT pid FROM paid)""",
            now=NOW.astimezone(dt.UTC).replace(tzinfo=None),
            since=(NOW - dt.timedelta(days=30)).astimezone(dt.UTC).replace(tzinfo=None),
        )
        interesting(expected)
        # the person who asked to be forgotten watched three rooms and never paid: not there
        assert town.erased.pk not in expected
        assert town.people["p4"].pk in expected  # 4 rooms, no orders
        assert town.people["lapsed_watcher"].pk not in expected  # paid, 90 days ago

        # when it is asked as a definition, with "not paid" written either way
        as_eq_zero = evaluate(store, WATCHED_TWICE, NEVER_PAID)
        as_not = evaluate(store, WATCHED_TWICE, event("order_paid", "gte", 1, **{"not": True}))

        assert as_eq_zero == expected
        assert as_not == expected
        assert segment_preview(definition=group(WATCHED_TWICE, NEVER_PAID), store=store) == len(
            expected
        )

    def test_not_paid_within_the_30_days_keeps_who_paid_earlier(
        self, store: EventStore, town: Town
    ) -> None:
        expected = hand_event(store, WATCHED_TWICE) & hand_event(
            store, event("order_paid", "eq", 0, within_days=30)
        )
        assert town.people["lapsed_watcher"].pk in expected

        assert (
            evaluate(store, WATCHED_TWICE, event("order_paid", "eq", 0, within_days=30)) == expected
        )
        assert expected != evaluate(store, WATCHED_TWICE, NEVER_PAID)

    def test_or_and_not_over_tags_and_events_match_one_hand_query(
        self, store: EventStore, town: Town
    ) -> None:
        live = "SELECT pid FROM events_resolved WHERE name = 'live_join' AND occurred_at >= $since"
        params = {"since": (NOW - dt.timedelta(days=30)).astimezone(dt.UTC).replace(tzinfo=None)}
        cases = [
            (
                group(LIFECYCLE_ACTIVE, tag("live_engagement", "eq", "高"), op="or"),
                "SELECT person_id FROM person_tags WHERE lifecycle = '活跃' OR live_engagement = '高'",
            ),
            (
                group(
                    tag("lifecycle", "in", ["活跃", "新客"]),
                    tag("province", "eq", "浙江"),
                    op="or",
                    **{"not": True},
                ),
                "SELECT pid FROM active EXCEPT SELECT person_id FROM person_tags "
                "WHERE lifecycle IN ('活跃', '新客') OR province = '浙江'",
            ),
            (
                # r ≥ 3 and (joined a room in 30 days or not in 上海)
                group(
                    tag("r_score", "gte", 3),
                    group(
                        event("live_join", "gte", 1, within_days=30),
                        tag("province", "eq", "上海", **{"not": True}),
                        op="or",
                    ),
                ),
                f"SELECT person_id FROM person_tags WHERE r_score >= 3 AND (person_id IN ({live}) "
                "OR person_id NOT IN (SELECT person_id FROM person_tags WHERE province = '上海'))",
            ),
            (
                # three levels: ((active and bought fruit) or (prospect and ≥ 3 rooms)) and not 高 price
                group(
                    group(
                        group(LIFECYCLE_ACTIVE, tag("top_categories", "contains", "水果")),
                        group(tag("lifecycle", "eq", "潜在"), tag("live_sessions_30d", "gte", 3)),
                        op="or",
                    ),
                    tag("price_sensitivity", "eq", "高", **{"not": True}),
                ),
                "SELECT person_id FROM person_tags WHERE ((lifecycle = '活跃' AND "
                "list_contains(top_categories, '水果')) OR (lifecycle = '潜在' AND "
                "live_sessions_30d >= 3)) AND price_sensitivity IS DISTINCT FROM '高'",
            ),
        ]
        for definition, sql in cases:
            used = {name: value for name, value in params.items() if f"${name}" in sql}
            expected = hand(store, f"SELECT pid FROM active WHERE pid IN ({sql})", **used)
            interesting(expected)
            assert segment_evaluate(definition=definition, store=store) == expected, definition

    def test_groups_mixing_the_two_databases_match_the_hand_answers_combined(
        self, store: EventStore, town: Town
    ) -> None:
        vip = hand_db("SELECT person_id FROM datahub_manualtag WHERE tag = %s", ["VIP"])
        watched = hand_event(store, WATCHED_TWICE)
        male = traits_where(lambda t: t.get("gender") == "male")
        active_tag = hand(store, TAG_SQL + "t.lifecycle = '活跃'")
        older = traits_where(age_between(30, math.inf))
        paid_once = hand_event(store, event("order_paid", "gte", 1))
        in_a_room = hand(store, TAG_SQL + "t.live_sessions_30d >= 1")
        everyone = active_ids()
        cases = [
            (group(manual("has", "VIP"), WATCHED_TWICE), vip & watched),
            (group(trait("gender", "eq", "male"), LIFECYCLE_ACTIVE, op="or"), male | active_tag),
            (
                group(
                    manual("has", "VIP", **{"not": True}),
                    trait("age", "gte", 30),
                    group(
                        event("order_paid", "gte", 1), tag("live_sessions_30d", "gte", 1), op="or"
                    ),
                ),
                (everyone - vip) & older & (paid_once | in_a_room),
            ),
        ]
        for definition, expected in cases:
            interesting(expected)
            assert segment_evaluate(definition=definition, store=store) == expected, definition


class TestSegmentEvaluatePeople:
    # Definitions that between them select everyone, no one, and everything in between.
    SWEEP = [
        group(event("order_paid", "gte", 0)),  # everybody
        group(LIFECYCLE_ACTIVE, op="or", **{"not": True}),
        group(manual("has", "VIP")),
        group(manual("not_has", "VIP")),
        group(trait("gender", "exists")),
        group(trait("vip", "eq", True)),
        group(WATCHED_TWICE, NEVER_PAID),
        group(tag("live_sessions_30d", "gte", 0)),
        group(event("live_join", "gte", 5, **{"not": True})),
    ]

    def test_merged_away_and_erased_people_are_never_members(
        self, store: EventStore, town: Town
    ) -> None:
        # the erased person's history is still in the store (anonymous facts) and matched
        assert town.erased.pk in {
            row[0] for row in store.fetch("SELECT person_id FROM person_tags")
        }
        for definition in self.SWEEP:
            result = segment_evaluate(definition=definition, store=store)
            assert result <= active_ids()
            assert town.merged_away.pk not in result
            assert town.erased.pk not in result
        assert segment_evaluate(definition=self.SWEEP[0], store=store) == active_ids()

    def test_the_survivor_of_a_merge_is_both_halves(self, store: EventStore, town: Town) -> None:
        # the phone half paid and joined S1; the WeChat half joined S2, was VIP and vip = true
        survivor = town.survivor.pk
        assert survivor in evaluate(store, WATCHED_TWICE)
        assert survivor in evaluate(store, event("order_paid", "gte", 1))
        assert survivor in evaluate(store, manual("has", "VIP"))
        assert survivor in evaluate(
            store, trait("vip", "eq", True), trait("gender", "eq", "female")
        )

    def test_a_merge_the_store_has_not_heard_of_yet_counts_for_the_survivor(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given two halves with their own history in the store
        phone = IdentifierInput(type="phone", value=str(next(_phones)), verified=True)
        union = IdentifierInput(type="wechat_unionid", value=f"union-{next(_numbers)}")
        half_a, half_b = resident(identifier=phone), resident(identifier=union)
        send_and_flush(
            make_source("live")[1], joins(half_a, [("S1", 1)]) + joins(half_b, [("S2", 2)]), store
        )
        tags_recompute_all(store=store, now=NOW)
        # when they are merged in OneID but the buffer carrying the merge is not flushed yet
        with django_capture_on_commit_callbacks(execute=True):
            identify(identifiers=[phone, union], source="wechat_oauth")
        half_a.refresh_from_db()
        half_b.refresh_from_db()
        survivor, gone = (half_a, half_b) if half_b.merged_into_id else (half_b, half_a)
        assert store.fetch("SELECT count(*) FROM person_map") == [(0,)]
        # then each half's tags and events count for the survivor, never for the merged id
        for definition in [
            group(tag("live_sessions_30d", "eq", 1)),
            group(event("live_join", "gte", 1, within_days=30)),
        ]:
            assert segment_evaluate(definition=definition, store=store) == {survivor.pk}
        # until the flush, the two histories are measured apart (one room each)
        assert evaluate(store, WATCHED_TWICE) == set()
        assert gone.pk not in evaluate(store, event("live_join", "eq", 0))
        buffer_flush_all(store=store)
        assert evaluate(store, WATCHED_TWICE) == {survivor.pk}

    def test_within_days_counts_back_from_now_to_the_second(self, store: EventStore) -> None:
        on_the_edge, just_outside = resident(), resident()
        edge = NOW - dt.timedelta(days=30)
        send_and_flush(
            make_source("live")[1],
            [
                track_event(
                    "live_join", occurred_at=edge, one_id=on_the_edge.one_id, live_session="S1"
                ),
                track_event(
                    "live_join",
                    occurred_at=edge - dt.timedelta(seconds=1),
                    one_id=just_outside.one_id,
                    live_session="S1",
                ),
            ],
            store,
        )

        assert evaluate(store, event("live_join", "gte", 1, within_days=30)) == {on_the_edge.pk}
        assert evaluate(store, event("live_join", "gte", 1, within_days=31)) == {
            on_the_edge.pk,
            just_outside.pk,
        }

    def test_an_empty_store_selects_by_zero_measures_only(self, store: EventStore) -> None:
        # nobody has events: "did not pay" is everyone, "paid" no one, tags match no one
        people = {resident().pk for _ in range(3)}

        assert evaluate(store, NEVER_PAID) == people
        assert evaluate(store, event("order_paid", "gte", 1)) == set()
        assert evaluate(store, LIFECYCLE_ACTIVE) == set()
        assert evaluate(store, tag("lifecycle", "eq", "活跃", **{"not": True})) == people


# --- validation -------------------------------------------------------------------------------

OK_TAG = tag("lifecycle", "eq", "活跃")


def nested(depth: int) -> dict[str, Any]:
    """Groups nested `depth` deep (the outer group is depth 1) around one condition."""
    definition: dict[str, Any] = group(OK_TAG)
    for _ in range(depth - 1):
        definition = group(definition)
    return definition


def chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


# (definition, detail.path, detail.problem)
INVALID: list[tuple[Any, str, str]] = [
    # not a group at all
    (None, "$", "not_group"),
    ([], "$", "not_group"),
    ("and", "$", "not_group"),
    (42, "$", "not_group"),
    (OK_TAG, "$", "not_group"),
    # groups
    ({"op": "and", "rules": [OK_TAG], "limit": 5}, "$", "unknown_key"),
    ({"rules": [OK_TAG]}, "$", "unknown_op"),
    ({"op": "xor", "rules": [OK_TAG]}, "$", "unknown_op"),
    ({"op": ["and"], "rules": [OK_TAG]}, "$", "unknown_op"),
    ({"op": "and"}, "$", "empty_group"),
    ({"op": "and", "rules": []}, "$", "empty_group"),
    ({"op": "and", "rules": "lifecycle = 活跃"}, "$", "empty_group"),
    ({"op": "and", "rules": [OK_TAG], "not": "yes"}, "$", "not_type"),
    (group(1), "$.rules[0]", "not_object"),
    (group(OK_TAG, [OK_TAG]), "$.rules[1]", "not_object"),
    (group({"field": "lifecycle"}), "$.rules[0]", "unknown_key"),  # no kind: read as a group
    # conditions
    (group({"kind": "sql", "value": "1=1"}), "$.rules[0]", "unknown_kind"),
    (group({"kind": ["tag"], "field": "lifecycle"}), "$.rules[0]", "unknown_kind"),
    (group({"kind": {"tag": 1}}), "$.rules[0]", "unknown_kind"),
    (group({**OK_TAG, "column": "x"}), "$.rules[0]", "unknown_key"),
    (group({**OK_TAG, "not": 1}), "$.rules[0]", "not_type"),
    # tags
    (group(tag("password", "eq", "x")), "$.rules[0]", "unknown_field"),
    (group(tag(["lifecycle"], "eq", "x")), "$.rules[0]", "unknown_field"),
    (group(tag("lifecycle", "gte", "活跃")), "$.rules[0]", "unknown_operator"),
    (group(tag("lifecycle", "like", "%")), "$.rules[0]", "unknown_operator"),
    (group(tag("top_categories", "eq", "水果")), "$.rules[0]", "unknown_operator"),
    (group(tag("coupon_share", "in", [0.5])), "$.rules[0]", "unknown_operator"),
    (group(tag("lifecycle", "eq", 1)), "$.rules[0]", "value_type"),
    (group(tag("lifecycle", "eq", "   ")), "$.rules[0]", "value_type"),
    (group(tag("lifecycle", "eq", None)), "$.rules[0]", "value_type"),
    (group(tag("lifecycle", "eq", "活" * 65)), "$.rules[0]", "value_too_long"),
    (group(tag("lifecycle", "eq", "活跃\x00")), "$.rules[0]", "value_unprintable"),
    (group(tag("lifecycle", "eq", "\ud800")), "$.rules[0]", "value_unprintable"),
    (group(tag("lifecycle", "in", [])), "$.rules[0]", "value_type"),
    (group(tag("lifecycle", "in", "活跃")), "$.rules[0]", "value_type"),
    (group(tag("lifecycle", "in", ["活跃", 2])), "$.rules[0]", "value_type"),
    (group(tag("r_score", "eq", "4")), "$.rules[0]", "value_type"),
    (group(tag("r_score", "eq", 4.5)), "$.rules[0]", "value_type"),
    (group(tag("r_score", "eq", True)), "$.rules[0]", "value_type"),
    (group(tag("r_score", "eq", 10**16)), "$.rules[0]", "value_type"),
    (group(tag("m_score", "gte", 10**400)), "$.rules[0]", "value_type"),
    (group(tag("m_score", "in", [4, "5"])), "$.rules[0]", "value_type"),
    (group(tag("coupon_share", "gte", "0.5")), "$.rules[0]", "value_type"),
    (group(tag("coupon_share", "gte", float("nan"))), "$.rules[0]", "value_type"),
    (group(tag("coupon_share", "lte", float("inf"))), "$.rules[0]", "value_type"),
    (group(tag("coupon_share", "lte", 10**400)), "$.rules[0]", "value_type"),
    (group(tag("top_categories", "contains", ["水果"])), "$.rules[0]", "value_type"),
    # huge lists
    (
        group(tag("lifecycle", "in", [f"v{i}" for i in range(MAX_LIST_VALUES + 1)])),
        "$.rules[0]",
        "value_too_many",
    ),
    (
        group(trait("city", "in", list(range(MAX_LIST_VALUES + 1)))),
        "$.rules[0]",
        "value_too_many",
    ),
    # manual tags
    (group(manual("eq", "VIP")), "$.rules[0]", "unknown_operator"),
    (group({"kind": "manual_tag", "operator": "has", "value": 5}), "$.rules[0]", "value_type"),
    (group({"kind": "manual_tag", "operator": "has"}), "$.rules[0]", "value_type"),
    (group({**manual("has", "VIP"), "field": "x"}), "$.rules[0]", "unknown_key"),
    # traits
    (group(trait("1st", "eq", "x")), "$.rules[0]", "unknown_field"),
    (group(trait("a-b", "eq", "x")), "$.rules[0]", "unknown_field"),
    (group(trait("x" * 65, "eq", "x")), "$.rules[0]", "unknown_field"),
    (group({"kind": "trait", "operator": "eq", "value": "x"}), "$.rules[0]", "unknown_field"),
    (group(trait("address", "exists")), "$.rules[0]", "private_trait"),
    (group(trait("id_card_last4", "eq", "1234")), "$.rules[0]", "private_trait"),
    (group(trait("gender", "contains", "f")), "$.rules[0]", "unknown_operator"),
    (group(trait("gender", "exists", "yes")), "$.rules[0]", "value_type"),
    (group(trait("gender", "eq", {"a": 1})), "$.rules[0]", "value_type"),
    (group(trait("gender", "eq", ["female"])), "$.rules[0]", "value_type"),
    (group({"kind": "trait", "field": "gender", "operator": "eq"}), "$.rules[0]", "value_type"),
    (group(trait("age", "gte", "30")), "$.rules[0]", "value_type"),
    (group(trait("age", "gte", True)), "$.rules[0]", "value_type"),
    (group(trait("age", "gte", 10**400)), "$.rules[0]", "value_type"),
    (group(trait("age", "eq", 10**16)), "$.rules[0]", "value_type"),
    (group(trait("age", "in", [])), "$.rules[0]", "value_type"),
    (group(trait("age", "in", [[1]])), "$.rules[0]", "value_type"),
    # events
    (group(event("LiveJoin", "gte", 1)), "$.rules[0]", "unknown_event"),
    (group(event("", "gte", 1)), "$.rules[0]", "unknown_event"),
    (group({"kind": "event", "operator": "gte", "value": 1}), "$.rules[0]", "unknown_event"),
    (group(event("live_join", "gte", 1, measure="avg")), "$.rules[0]", "unknown_measure"),
    (group(event("live_join", "gte", 1, measure=["count"])), "$.rules[0]", "unknown_measure"),
    (group(event("live_join", "ne", 1)), "$.rules[0]", "unknown_operator"),
    (group(event("live_join", "gte", -1)), "$.rules[0]", "value_type"),
    (group(event("live_join", "gte", 1.5)), "$.rules[0]", "value_type"),
    (group(event("live_join", "gte", "2")), "$.rules[0]", "value_type"),
    (group(event("live_join", "gte", True)), "$.rules[0]", "value_type"),
    (group(event("live_join", "gte", 10**16)), "$.rules[0]", "value_type"),
    (group(event("live_join", "gte", 1, within_days=0)), "$.rules[0]", "within_days"),
    (group(event("live_join", "gte", 1, within_days=3651)), "$.rules[0]", "within_days"),
    (group(event("live_join", "gte", 1, within_days=1.5)), "$.rules[0]", "within_days"),
    (group(event("live_join", "gte", 1, within_days="30")), "$.rules[0]", "within_days"),
    (group(event("live_join", "gte", 1, within_days=True)), "$.rules[0]", "within_days"),
    (group(event("live_join", "gte", 1, channel="tiktok")), "$.rules[0]", "channel"),
    (group(event("live_join", "gte", 1, channel=["live"])), "$.rules[0]", "channel"),
    (group(event("live_join", "gte", 1, session="S1")), "$.rules[0]", "unknown_key"),
    # where the bad rule is
    (
        group(OK_TAG, group(OK_TAG, tag("lifecycle", "eq", 1), op="or")),
        "$.rules[1].rules[1]",
        "value_type",
    ),
    # limits
    (nested(MAX_DEPTH + 1), "$" + ".rules[0]" * MAX_DEPTH, "too_deep"),
    (group(*[OK_TAG] * (MAX_CONDITIONS + 1)), f"$.rules[{MAX_CONDITIONS}]", "too_many_conditions"),
    (
        group(group(*[OK_TAG] * 16), group(*[OK_TAG] * 15)),
        "$.rules[1].rules[14]",
        "too_many_conditions",
    ),
    (group(*[OK_TAG] * 100_000), f"$.rules[{MAX_CONDITIONS}]", "too_many_conditions"),
]


class TestSegmentValidate:
    @pytest.mark.parametrize(("definition", "path", "problem"), INVALID)
    def test_a_malformed_definition_names_the_rule_and_the_problem(
        self, definition: Any, path: str, problem: str
    ) -> None:
        with pytest.raises(SegmentInvalid) as raised:
            segment_validate(definition)

        error = raised.value
        assert error.status == 422
        assert error.code == "segment_invalid"
        assert chinese(error.text)
        assert error.detail["path"] == path
        assert error.detail["problem"] == problem
        json.dumps(error.as_payload(), ensure_ascii=False)  # the API can render it

    def test_the_message_says_where_on_screen_the_rule_is(self) -> None:
        with pytest.raises(SegmentInvalid) as raised:
            segment_validate(group(OK_TAG, group(OK_TAG, tag("lifecycle", "eq", 1), op="or")))

        assert raised.value.text.startswith("第 2 条 › 第 2 条：")

    def test_the_limits_themselves_are_allowed(self) -> None:
        segment_validate(nested(MAX_DEPTH))
        segment_validate(group(*[OK_TAG] * MAX_CONDITIONS))
        segment_validate(group(tag("lifecycle", "in", ["活跃"] * MAX_LIST_VALUES)))

    def test_unknown_keys_are_echoed_back_bounded(self) -> None:
        rule = {**OK_TAG, **{f"key{i}" + "x" * 100: 1 for i in range(1000)}}

        with pytest.raises(SegmentInvalid) as raised:
            segment_validate(group(rule))

        keys = raised.value.detail["keys"]
        assert len(keys) == 10
        assert all(len(key) <= 64 for key in keys)

    def test_returns_the_canonical_form(self) -> None:
        definition = group(
            {**tag("lifecycle", "eq", "  活跃 "), "not": False},
            manual("has", " VIP "),
            trait("gender", "exists"),
            {"kind": "event", "name": "live_join", "operator": "gte", "value": 2, "channel": ""},
            group(tag("r_score", "in", [4, 5]), op="or", **{"not": True}),
        )

        assert segment_validate(definition) == {
            "op": "and",
            "rules": [
                {"kind": "tag", "field": "lifecycle", "operator": "eq", "value": "活跃"},
                {"kind": "manual_tag", "operator": "has", "value": "VIP"},
                {"kind": "trait", "field": "gender", "operator": "exists", "value": True},
                {
                    "kind": "event",
                    "name": "live_join",
                    "measure": "count",
                    "operator": "gte",
                    "value": 2,
                },
                {
                    "op": "or",
                    "rules": [
                        {"kind": "tag", "field": "r_score", "operator": "in", "value": [4, 5]}
                    ],
                    "not": True,
                },
            ],
        }

    def test_segment_evaluate_validates_first(self, store: EventStore) -> None:
        with pytest.raises(SegmentInvalid):
            segment_evaluate(definition=group(tag("lifecycle", "drop table", "x")), store=store)


# --- saved segments -------------------------------------------------------------------------

VIP_ONLY = group(manual("has", "VIP"))


def vip(*people: Person) -> None:
    for person in people:
        manual_tag_add(person=person, tag="VIP", actor=OPERATOR)


def saved(name: str = "高价值会员", definition: dict[str, Any] = VIP_ONLY, **kw: Any) -> Segment:
    return segment_save(name=name, definition=definition, actor=OPERATOR, **kw)


class TestSegmentSave:
    def test_creates_with_the_canonical_rules_and_an_audit_record(self) -> None:
        segment = saved(
            name=" 高价值会员 ",
            description=" 复购两次以上 ",
            definition=group(manual("has", " VIP ")),
        )

        assert segment.name == "高价值会员"
        assert segment.description == "复购两次以上"
        assert segment.definition == {
            "op": "and",
            "rules": [{"kind": "manual_tag", "operator": "has", "value": "VIP"}],
        }
        assert segment.created_by == "市场部小林"
        assert segment.materialised_at is None
        assert segment.member_count == 0
        log = AuditLog.objects.get(action="datahub.segment_create")
        assert log.target_id == str(segment.pk)
        assert log.actor_label == "市场部小林"
        assert log.after["definition"] == segment.definition

    def test_changing_a_segment_records_before_and_after(self) -> None:
        segment = saved()

        changed = segment_save(
            segment=segment,
            name="高价值会员",
            description="改为看直播的人",
            definition=group(WATCHED_TWICE),
            actor=OPERATOR,
        )

        assert changed.pk == segment.pk
        assert Segment.objects.get().definition["rules"][0]["name"] == "live_join"
        log = AuditLog.objects.get(action="datahub.segment_update")
        assert log.before["definition"] == VIP_ONLY
        assert log.after["description"] == "改为看直播的人"

    def test_names_are_unique(self) -> None:
        saved(name="高价值会员")
        other = saved(name="沉睡会员")

        with pytest.raises(SegmentInvalid) as taken:
            saved(name=" 高价值会员")
        with pytest.raises(SegmentInvalid) as renamed:
            segment_save(segment=other, name="高价值会员", definition=VIP_ONLY, actor=OPERATOR)

        assert taken.value.detail == {"field": "name", "name": "高价值会员"}
        assert renamed.value.detail["field"] == "name"
        assert Segment.objects.count() == 2
        # keeping one's own name is no clash
        segment_save(segment=other, name="沉睡会员", definition=VIP_ONLY, actor=OPERATOR)

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": "名" * 65}, "name"),
            ({"name": "人群\x00"}, "name"),
            ({"name": 5}, "name"),
            ({"description": "说" * 201}, "description"),
            ({"description": "说明\x07"}, "description"),
            ({"description": None}, "description"),
        ],
    )
    def test_bad_names_and_descriptions_are_refused(
        self, fields: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(SegmentInvalid) as raised:
            segment_save(**{"name": "人群", "definition": VIP_ONLY, "actor": OPERATOR, **fields})

        assert raised.value.detail["field"] == field
        assert chinese(raised.value.text)
        assert not Segment.objects.exists()
        assert not AuditLog.objects.filter(action__startswith="datahub.segment").exists()

    def test_bad_rules_save_nothing(self) -> None:
        with pytest.raises(SegmentInvalid) as raised:
            saved(definition=group(tag("lifecycle", "gte", "活跃")))

        assert raised.value.detail["path"] == "$.rules[0]"
        assert not Segment.objects.exists()

    def test_a_description_may_span_lines(self) -> None:
        assert saved(description="第一行\n第二行").description == "第一行\n第二行"

    def test_a_deleted_segment_cannot_be_changed(self) -> None:
        segment = saved()
        segment_delete(segment=segment, actor=OPERATOR)

        with pytest.raises(SegmentNotFound):
            segment_save(segment=segment, name="x", definition=VIP_ONLY, actor=OPERATOR)


class TestSegmentSaveAndMaterialise:
    def test_saves_and_computes_the_members(self, store: EventStore) -> None:
        alice, bob, _carol = resident(), resident(), resident()
        vip(alice, bob)

        segment = segment_save_and_materialise(
            name="VIP", definition=VIP_ONLY, actor=OPERATOR, store=store
        )

        assert segment.member_count == 2
        assert segment_member_ids(segment=segment) == sorted([alice.pk, bob.pk])
        assert segment.materialised_at == NOW

    def test_a_failed_evaluation_keeps_nothing_of_the_change(
        self, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a saved segment and the event store held by another process
        vip(resident())
        segment = segment_save_and_materialise(
            name="VIP", definition=VIP_ONLY, actor=OPERATOR, store=store
        )
        monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 0.05)
        store.fetch("SELECT 1")
        with open(store.path.with_name(store.path.name + ".lock"), "a+b") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            try:
                # when its rules are changed to ones that need the store
                with pytest.raises(EventStoreBusy):
                    segment_save_and_materialise(
                        segment=segment,
                        name="活跃",
                        definition=group(LIFECYCLE_ACTIVE),
                        actor=OPERATOR,
                        store=store,
                    )
            finally:
                fcntl.flock(held.fileno(), fcntl.LOCK_UN)
        # then the old rules and members stand, and no change was audited
        segment.refresh_from_db()
        assert (segment.name, segment.definition, segment.member_count) == ("VIP", VIP_ONLY, 1)
        assert not AuditLog.objects.filter(action="datahub.segment_update").exists()


class TestSegmentMaterialise:
    def test_replaces_the_members_with_what_the_rules_select_now(self, store: EventStore) -> None:
        alice, bob, carol = resident(), resident(), resident()
        vip(alice, bob)
        segment = segment_materialise(segment=saved(), store=store)
        assert segment_member_ids(segment=segment) == sorted([alice.pk, bob.pk])

        # when carol is tagged too and the segment is computed again an hour later
        vip(carol)
        with clock.frozen(NOW + dt.timedelta(hours=1)):
            segment = segment_materialise(segment=segment, store=store)

        assert segment_member_ids(segment=segment) == sorted([alice.pk, bob.pk, carol.pk])
        assert SegmentMember.objects.filter(segment=segment).count() == 3
        assert segment.member_count == 3
        assert segment.materialised_at == NOW + dt.timedelta(hours=1)
        logs = AuditLog.objects.filter(action="datahub.segment_materialise").order_by("pk")
        assert [(log.before, log.after) for log in logs] == [
            ({"member_count": 0}, {"member_count": 2}),
            ({"member_count": 2}, {"member_count": 3}),
        ]

    def test_members_are_the_evaluation_of_the_town(self, store: EventStore, town: Town) -> None:
        definition = group(WATCHED_TWICE, NEVER_PAID)
        segment = segment_materialise(segment=saved(definition=definition), store=store)

        assert set(segment_member_ids(segment=segment)) == evaluate(
            store, WATCHED_TWICE, NEVER_PAID
        )
        assert segment.member_count == len(segment_member_ids(segment=segment)) > 0

    def test_a_deleted_segment_is_not_found(self, store: EventStore) -> None:
        segment = saved()
        segment_delete(segment=segment, actor=OPERATOR)

        with pytest.raises(SegmentNotFound):
            segment_materialise(segment=segment, store=store)


class TestSegmentsMaterialiseAll:
    def test_one_bad_segment_does_not_stop_the_rest(
        self, store: EventStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        # given three segments, the middle one with rules an older grammar allowed
        vip(resident())
        first, broken, last = saved(name="一"), saved(name="二"), saved(name="三")
        Segment.objects.filter(pk=broken.pk).update(
            definition={"op": "and", "rules": [{"kind": "rfm", "value": "x"}]}
        )

        with caplog.at_level(logging.ERROR, logger="freshloop.datahub.segments.services"):
            refreshed = segments_materialise_all()

        assert refreshed == 2
        assert [s.member_count for s in Segment.objects.order_by("pk")] == [1, 0, 1]
        assert Segment.objects.get(pk=broken.pk).materialised_at is None
        assert Segment.objects.get(pk=first.pk).materialised_at == NOW
        assert Segment.objects.get(pk=last.pk).materialised_at == NOW
        assert f"segment {broken.pk} could not be materialised" in caplog.text

    def test_is_the_hourly_job_registered_at_start_up(self, store: EventStore) -> None:
        from huey.contrib.djhuey import HUEY

        from freshloop.datahub.segments import tasks as segment_tasks

        periodic = {task.__name__ for task in HUEY._registry._periodic_tasks}
        assert "datahub.segments_materialise" in periodic
        vip(resident())
        saved()
        assert segment_tasks.segments_materialise.call_local() == 1
        assert Segment.objects.get().member_count == 1


class TestSegmentDelete:
    def test_deletes_the_segment_and_its_members_with_an_audit_record(
        self, store: EventStore
    ) -> None:
        vip(resident())
        segment = segment_materialise(segment=saved(), store=store)

        segment_delete(segment=segment, actor=OPERATOR)

        assert not Segment.objects.exists()
        assert not SegmentMember.objects.exists()
        log = AuditLog.objects.get(action="datahub.segment_delete")
        assert log.before == {"name": "高价值会员", "definition": VIP_ONLY, "member_count": 1}
        with pytest.raises(SegmentNotFound):
            segment_delete(segment=segment, actor=OPERATOR)


class TestSegmentGetAndList:
    def test_unknown_ids_are_not_found_and_the_list_shows_the_latest_change_first(self) -> None:
        older = saved(name="一")
        with clock.frozen(NOW + dt.timedelta(minutes=1)):
            newer = saved(name="二")

        assert segment_get(segment_id=older.pk) == older
        assert [s.pk for s in segment_list()] == [newer.pk, older.pk]
        with pytest.raises(SegmentNotFound) as raised:
            segment_get(segment_id=newer.pk + 100)
        assert raised.value.status == 404


class TestSegmentMembersForget:
    def test_an_erased_member_leaves_every_segment_at_once(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        alice, bob = resident(), resident()
        vip(alice, bob)
        first = segment_materialise(segment=saved(name="一"), store=store)
        second = segment_materialise(segment=saved(name="二"), store=store)

        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=OPERATOR, one_id=alice.one_id, reason="用户申请删除")

        for segment in (first, second):
            segment.refresh_from_db()
            assert segment_member_ids(segment=segment) == [bob.pk]
            assert segment.member_count == 1

    def test_a_merged_away_member_leaves_too(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        phone = IdentifierInput(type="phone", value=str(next(_phones)), verified=True)
        union = IdentifierInput(type="wechat_unionid", value=f"union-{next(_numbers)}")
        half_a, half_b = resident(identifier=phone), resident(identifier=union)
        vip(half_a, half_b)
        segment = segment_materialise(segment=saved(), store=store)
        assert segment.member_count == 2

        with django_capture_on_commit_callbacks(execute=True):
            identify(identifiers=[phone, union], source="wechat_oauth")

        segment.refresh_from_db()
        survivors = [
            p.pk for p in (half_a, half_b) if not Person.objects.get(pk=p.pk).merged_into_id
        ]
        assert segment_member_ids(segment=segment) == survivors
        assert segment.member_count == 1

    def test_someone_in_no_segment_changes_nothing(self) -> None:
        assert segment_members_forget(person_id=resident().pk) == 0

    def test_the_pipl_export_lists_the_persons_segments(self, store: EventStore) -> None:
        alice = resident()
        vip(alice)
        segment_materialise(segment=saved(name="高价值会员"), store=store)

        document = person_export(actor=OPERATOR, one_id=alice.one_id)

        assert document["sections"]["segments"] == [
            {"segment": "高价值会员", "materialised_at": NOW.astimezone(dt.UTC).isoformat()}
        ]


class TestSegmentCsv:
    def rows(self, segment: Segment, store: EventStore) -> list[list[str]]:
        text = segment_csv(segment=segment, store=store)
        assert text.startswith("\ufeff")  # Excel reads the Chinese as UTF-8
        return list(csv.reader(io.StringIO(text[1:])))

    def test_one_row_per_member_with_masked_phone_and_computed_tags(
        self, store: EventStore
    ) -> None:
        # given two VIPs with orders and their tags computed, and a non-member
        alice = resident(
            display_name="爱丽丝",
            identifier=IdentifierInput(type="phone", value="13812345678", verified=True),
        )
        bob = resident(display_name="鲍勃")
        resident(display_name="卡罗尔")
        vip(alice, bob)
        paid(alice, 3, 12000)
        paid(bob, 200, 3000)
        buffer_flush_all(store=store)
        tags_recompute_all(store=store, now=NOW)
        segment = segment_materialise(segment=saved(), store=store)

        rows = self.rows(segment, store)

        assert rows[0] == CSV_HEADER
        tags = {
            person_id: [lifecycle, rfm_segment, rfm_score]
            for person_id, lifecycle, rfm_segment, rfm_score in store.fetch(
                "SELECT person_id, lifecycle, rfm_segment, rfm_score FROM person_tags"
            )
        }
        assert rows[1] == [alice.one_id, "爱丽丝", "138****5678", *tags[alice.pk]]
        assert rows[2][:2] == [bob.one_id, "鲍勃"]
        assert rows[2][2].count("*") == 4
        assert rows[2][3:] == tags[bob.pk]
        assert tags[alice.pk][0] == LifecycleStage.NEW
        assert len(rows) == 3
        assert "13812345678" not in segment_csv(segment=segment, store=store)

    @pytest.mark.parametrize(
        "nickname", ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tTAB", "＝1+1"]
    )
    def test_a_nickname_cannot_become_a_formula(self, store: EventStore, nickname: str) -> None:
        person = resident(display_name=nickname)
        vip(person)
        segment = segment_materialise(segment=saved(), store=store)

        assert self.rows(segment, store)[1][1] == "'" + nickname

    def test_people_merged_or_erased_since_the_materialisation_are_left_out(
        self, store: EventStore
    ) -> None:
        # given a segment computed while both were active
        alice, bob = resident(display_name="爱丽丝"), resident(display_name="鲍勃")
        vip(alice, bob)
        segment = segment_materialise(segment=saved(), store=store)
        # when bob is erased (in a test transaction, so no subscriber has tidied the members yet)
        person_erase(actor=OPERATOR, one_id=bob.one_id, reason="用户申请删除")
        assert segment_member_ids(segment=segment) == sorted([alice.pk, bob.pk])
        # then the export only holds alice
        assert [row[0] for row in self.rows(segment, store)[1:]] == [alice.one_id]

    def test_an_empty_segment_is_the_header_alone(self, store: EventStore) -> None:
        segment = segment_materialise(segment=saved(), store=store)

        assert self.rows(segment, store) == [CSV_HEADER]


class TestSegmentIssueCoupon:
    def test_refused_before_the_segment_was_computed(self) -> None:
        vip(resident())
        template = coupon_template("seg10")

        with pytest.raises(SegmentNotMaterialised) as raised:
            segment_issue_coupon(segment=saved(), template=template, actor=OPERATOR)

        assert raised.value.status == 409
        assert chinese(raised.value.text)
        assert not Coupon.objects.exists()

    def test_every_member_gets_one_coupon_through_promotions(self, store: EventStore) -> None:
        # given a computed segment of two VIPs (and a third person outside it)
        alice, bob, _carol = resident(), resident(), resident()
        vip(alice, bob)
        segment = segment_materialise(segment=saved(), store=store)
        template = coupon_template("seg10", per_user_limit=1)

        result = segment_issue_coupon(segment=segment, template=template, actor=OPERATOR)

        coupons = Coupon.objects.filter(template=template).order_by("person_id")
        assert [c.person_id for c in coupons] == sorted([alice.pk, bob.pk])
        assert {(c.source, c.source_ref) for c in coupons} == {
            (CouponSource.SEGMENT, f"segment:{segment.pk}")
        }
        assert (result.issued, result.skipped, result.replayed) == (2, {}, False)
        template.refresh_from_db()
        assert template.issued_count == 2
        assert AuditLog.objects.filter(action="coupon.issue").count() == 1

        # and issuing again respects the template's per-person limit
        again = segment_issue_coupon(segment=segment, template=template, actor=OPERATOR)
        assert (again.issued, again.skipped) == (0, {"per_user_limit": 2})
        assert Coupon.objects.filter(template=template).count() == 2

    def test_a_member_erased_since_the_materialisation_is_skipped(self, store: EventStore) -> None:
        alice, bob = resident(), resident()
        vip(alice, bob)
        segment = segment_materialise(segment=saved(), store=store)
        person_erase(actor=OPERATOR, one_id=bob.one_id, reason="用户申请删除")

        result = segment_issue_coupon(
            segment=segment, template=coupon_template("seg10"), actor=OPERATOR
        )

        assert (result.issued, result.skipped) == (1, {"person_inactive": 1})
        assert list(Coupon.objects.values_list("person_id", flat=True)) == [alice.pk]

    def test_a_key_whose_record_cannot_be_written_is_a_409_and_issues_nothing(
        self, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a computed segment, and a database refusing the issue record (say the template
        # was deleted in between)
        vip(resident())
        segment = segment_materialise(segment=saved(), store=store)
        template = coupon_template("seg10")

        def refuse(**fields: Any) -> None:
            raise IntegrityError("FOREIGN KEY constraint failed")

        monkeypatch.setattr(SegmentCouponIssue.objects, "create", refuse)

        # when the coupon is issued under a key
        with pytest.raises(SegmentBusy) as raised:
            segment_issue_coupon(
                segment=segment, template=template, actor=OPERATOR, idempotency_key="k-9"
            )

        # then it is a clear conflict, and nobody got a coupon
        assert raised.value.status == 409
        assert not Coupon.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestSegmentIssueCouponRace:
    def test_two_requests_racing_with_one_key_issue_once(self, store: EventStore) -> None:
        # given a computed segment of three VIPs and a template allowing several per person
        members = [resident(), resident(), resident()]
        vip(*members)
        segment = segment_materialise(segment=saved(), store=store)
        template = coupon_template("race10", per_user_limit=5)

        def click() -> Any:
            return segment_issue_coupon(
                segment=segment, template=template, actor=OPERATOR, idempotency_key="k-1"
            )

        # when the same click reaches two server threads at once
        answers = run_at_once([click, click])
        outcomes, errors = values_of(answers), errors_of(answers)

        # then one issued and the other answered its result: one coupon each, not two
        assert errors == []
        assert sorted(o.replayed for o in outcomes) == [False, True]
        assert {o.issued for o in outcomes} == {3}
        assert Coupon.objects.filter(template=template).count() == 3
