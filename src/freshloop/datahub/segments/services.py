"""DH-4 segments: a JSON rule grammar, its evaluation to a set of people, saved segments.

The grammar (stored in `Segment.definition`, edited by the console's segment builder):

    group      {"op": "and" | "or", "rules": [rule, ...], "not": false}
    rule       group | condition
    condition  every condition may carry "not": true (negated relative to all active people)

    tag        {"kind": "tag", "field": "lifecycle", "operator": "eq", "value": "活跃"}
               over the computed tags in the event store's `person_tags` (TAG_FIELDS says
               which columns and which operators each column's type allows)
    manual_tag {"kind": "manual_tag", "operator": "has" | "not_has", "value": "VIP"}
    trait      {"kind": "trait", "field": "gender", "operator": "eq", "value": "female"}
               over `Person.traits` (eq, ne, in, gte, lte, exists)
    event      {"kind": "event", "name": "live_join", "measure": "distinct_live_sessions",
                "operator": "gte", "value": 2, "within_days": 30, "channel": "live"}
               measure: count | distinct_live_sessions | sum_amount (fen); operator gte|lte|eq;
               within_days and channel are optional. A measure of people with no such event
               is 0, so `"operator": "eq", "value": 0` means "did not do it".

Limits: groups nest at most MAX_DEPTH deep, at most MAX_CONDITIONS conditions in all. Every
problem raises `SegmentInvalid` with a Chinese message naming the rule and `detail.path`
(`$` is the outer group, `$.rules[1].rules[0]` the first rule of its second rule).

Evaluation turns each condition into a set of person ids (DuckDB for tags and events, the ORM
for traits and manual tags), resolves merged-away people to their survivor, and combines the
sets: AND is intersection, OR union, NOT the complement within the active people. The result
only ever holds ACTIVE people (never merged or erased ones). No user text ever reaches SQL
except as a bound parameter: columns and operators come from the whitelists below.

Semantics worth knowing: `ne` / `not_in` on a tag, and `ne` on a trait, only select people who
have a value (SQL's NULL rule); `"not": true` is the complement within all active people.
Trait `gte` / `lte` compare numbers, and text that spells a number ("25" from a form), never
booleans; `eq` / `in` treat a number and its decimal text as the same value.

Saved segments are materialised on save (`segment_save_and_materialise`), on demand and hourly
(`segment_tasks`); a member merged away or erased leaves every segment at once (subscribers
below), and the PIPL export lists the segments a person is in.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import duckdb
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.fields.json import KeyTransform

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import Conflict, NotFound
from freshloop.core.events import subscribe
from freshloop.core.spreadsheet import spreadsheet_cell
from freshloop.datahub.errors import SegmentInvalid
from freshloop.datahub.event_schemas import NAME_PATTERN
from freshloop.datahub.models import (
    ManualTag,
    Segment,
    SegmentCouponIssue,
    SegmentMember,
    SourceChannel,
)
from freshloop.datahub.store import EventStore, event_store, to_naive_utc
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.models import Identifier, IdentifierType, Person, PersonStatus
from freshloop.identity.selectors import PRIVATE_TRAITS, identifier_mask
from freshloop.identity.services import register_export_section
from freshloop.promotions.models import CouponSource, CouponTemplate
from freshloop.promotions.services import coupon_issue

logger = logging.getLogger(__name__)

MAX_DEPTH = 4
MAX_CONDITIONS = 30
MAX_LIST_VALUES = 100
MAX_TEXT = 64
MAX_INTEGER = 10**15
MAX_WITHIN_DAYS = 3650
MEMBER_BATCH = 1000

FieldType = Literal["string", "integer", "number", "list"]


@dataclasses.dataclass(frozen=True)
class TagField:
    label: str
    type: FieldType


# person_tags columns a segment may test. The key is also the column name: only keys of this
# dict are ever put into SQL.
TAG_FIELDS: dict[str, TagField] = {
    "lifecycle": TagField("生命周期", "string"),
    "rfm_segment": TagField("RFM 分群", "string"),
    "rfm_score": TagField("RFM 得分", "string"),
    "r_score": TagField("R 近度分", "integer"),
    "f_score": TagField("F 频次分", "integer"),
    "m_score": TagField("M 金额分", "integer"),
    "recency_days": TagField("距上次购买(天)", "integer"),
    "frequency": TagField("购买次数", "integer"),
    "monetary_fen": TagField("累计消费(分)", "integer"),
    "top_categories": TagField("偏好品类", "list"),
    "preferred_channel": TagField("偏好渠道", "string"),
    "province": TagField("省份", "string"),
    "city": TagField("城市", "string"),
    "price_sensitivity": TagField("价格敏感度", "string"),
    "coupon_share": TagField("用券订单占比(0-1)", "number"),
    "live_engagement": TagField("直播活跃度", "string"),
    "live_sessions_30d": TagField("近30天观看场次", "integer"),
}

TAG_OPERATORS: dict[FieldType, tuple[str, ...]] = {
    "string": ("eq", "ne", "in", "not_in"),
    "integer": ("eq", "ne", "gte", "lte", "in", "not_in"),
    "number": ("eq", "ne", "gte", "lte"),
    "list": ("contains",),
}
TRAIT_OPERATORS = ("eq", "ne", "in", "gte", "lte", "exists")
MANUAL_TAG_OPERATORS = ("has", "not_has")
EVENT_OPERATORS = ("gte", "lte", "eq")
EVENT_MEASURES: dict[str, str] = {
    "count": "次数",
    "distinct_live_sessions": "直播场次数",
    "sum_amount": "金额合计(分)",
}
OPERATOR_LABELS: dict[str, str] = {
    "eq": "等于",
    "ne": "不等于",
    "in": "属于",
    "not_in": "不属于",
    "gte": "大于等于",
    "lte": "小于等于",
    "contains": "包含",
    "has": "有",
    "not_has": "没有",
    "exists": "已填写",
}
KIND_LABELS: dict[str, str] = {
    "tag": "计算标签",
    "manual_tag": "手工标签",
    "trait": "用户属性",
    "event": "行为事件",
}

TRAIT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

_CONDITION_KEYS: dict[str, set[str]] = {
    "tag": {"kind", "field", "operator", "value", "not"},
    "manual_tag": {"kind", "operator", "value", "not"},
    "trait": {"kind", "field", "operator", "value", "not"},
    "event": {"kind", "name", "measure", "operator", "value", "within_days", "channel", "not"},
}
_GROUP_KEYS = {"op", "rules", "not"}

# SQL fragments per operator; `{column}` is always a TAG_FIELDS key.
_TAG_SQL: dict[str, str] = {
    "eq": "{column} = $value",
    "ne": "{column} <> $value",
    "gte": "{column} >= $value",
    "lte": "{column} <= $value",
    "in": "list_contains($value, {column})",
    "not_in": "{column} IS NOT NULL AND NOT list_contains($value, {column})",
    "contains": "list_contains({column}, $value)",
}
_MEASURE_SQL: dict[str, str] = {
    "count": "count(*)",
    "distinct_live_sessions": "count(DISTINCT NULLIF(live_session, ''))",
    "sum_amount": "COALESCE(sum(amount_fen), 0)",
}
_COMPARE_SQL = {"gte": ">=", "lte": "<=", "eq": "="}


# --- validation ------------------------------------------------------------------------------


def _where(path: str) -> str:
    """`$.rules[1].rules[0]` → "第 2 条 › 第 1 条" (what an operator can find on screen)."""
    steps = [int(n) + 1 for n in re.findall(r"\[(\d+)\]", path)]
    if not steps:
        return "最外层"
    return " › ".join(f"第 {n} 条" for n in steps)


def _unknown_keys(rule: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(rule) - allowed)
    if unknown:
        # Echo a few, shortened: the detail goes back to whoever sent a thousand keys.
        shown = [key[:MAX_TEXT] for key in unknown[:10]]
        raise _invalid(path, "unknown_key", f"不认识的字段 {', '.join(shown)}", keys=shown)


def _invalid(path: str, problem: str, message: str, **detail: Any) -> SegmentInvalid:
    return SegmentInvalid(
        f"{_where(path)}：{message}", detail={"path": path, "problem": problem, **detail}
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if _is_int(value):
        return True  # `math.isfinite` overflows on integers beyond a float's range
    return isinstance(value, float) and math.isfinite(value)


def _numeric(value: Any) -> float | int | None:
    """A trait as a number: numbers, and text holding one (traits arrive from forms as text and
    from apps as numbers); never booleans, never NaN or infinity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        if math.isfinite(number):
            return int(number) if number.is_integer() else number
    return None


def _unprintable(text: str, allowed: str = "") -> bool:
    """Control characters and lone surrogates: no name or tag has them, and PostgreSQL refuses
    NUL in text and JSON alike, so they must be refused here, as input, not fail as a query."""
    return any(unicodedata.category(char) in {"Cc", "Cs"} and char not in allowed for char in text)


def _text(value: Any, path: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(path, "value_type", f"{what}应为非空文本")
    clean = value.strip()
    if len(clean) > MAX_TEXT:
        raise _invalid(path, "value_too_long", f"{what}不能超过 {MAX_TEXT} 个字符")
    if _unprintable(clean):
        raise _invalid(path, "value_unprintable", f"{what}不能包含控制字符")
    return clean


def _scalar_list(value: Any, path: str, check: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _invalid(path, "value_type", f"{what}应为非空列表")
    if len(value) > MAX_LIST_VALUES:
        raise _invalid(path, "value_too_many", f"列表最多 {MAX_LIST_VALUES} 项")
    return [check(item, path, what) for item in value]


def _integer(value: Any, path: str, what: str) -> int:
    if not _is_int(value) or abs(value) > MAX_INTEGER:
        raise _invalid(path, "value_type", f"{what}应为整数")
    return int(value)


def _number(value: Any, path: str, what: str) -> float | int:
    if not _is_number(value) or abs(value) > MAX_INTEGER:
        raise _invalid(path, "value_type", f"{what}应为数字")
    return value


def _tag_value(field: TagField, operator: str, value: Any, path: str) -> Any:
    if field.type == "list":
        return _text(value, path, "品类")
    if operator in {"in", "not_in"}:
        check = _text if field.type == "string" else _integer
        return _scalar_list(value, path, check, "取值")
    if field.type == "string":
        return _text(value, path, "取值")
    if field.type == "integer":
        return _integer(value, path, "取值")
    return _number(value, path, "取值")


def _trait_scalar(value: Any, path: str, what: str) -> Any:
    if isinstance(value, str):
        return _text(value, path, what)
    if isinstance(value, bool) or _is_number(value):
        if not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise _invalid(path, "value_type", f"{what}超出范围")
        return value
    raise _invalid(path, "value_type", f"{what}应为文本、数字或布尔值")


def _condition_validate(rule: dict[str, Any], path: str) -> dict[str, Any]:
    kind = rule.get("kind")
    if not isinstance(kind, str) or kind not in _CONDITION_KEYS:
        raise _invalid(
            path,
            "unknown_kind",
            "条件类型应为 tag / manual_tag / trait / event 之一",
            allowed=list(_CONDITION_KEYS),
        )
    _unknown_keys(rule, _CONDITION_KEYS[kind], path)
    operator = rule.get("operator")
    clean: dict[str, Any] = {"kind": kind}
    if kind == "tag":
        name = rule.get("field")
        field = TAG_FIELDS.get(name) if isinstance(name, str) else None
        if field is None:
            raise _invalid(path, "unknown_field", "未知的标签字段", allowed=list(TAG_FIELDS))
        allowed = TAG_OPERATORS[field.type]
        if operator not in allowed:
            raise _invalid(
                path,
                "unknown_operator",
                f"「{field.label}」不支持这个比较方式",
                allowed=list(allowed),
            )
        clean.update(
            field=name,
            operator=operator,
            value=_tag_value(field, operator, rule.get("value"), path),
        )
    elif kind == "manual_tag":
        if operator not in MANUAL_TAG_OPERATORS:
            raise _invalid(
                path,
                "unknown_operator",
                "手工标签的比较方式应为 has / not_has",
                allowed=list(MANUAL_TAG_OPERATORS),
            )
        clean.update(operator=operator, value=_text(rule.get("value"), path, "标签名"))
    elif kind == "trait":
        name = rule.get("field")
        if not isinstance(name, str) or not TRAIT_NAME.match(name):
            raise _invalid(path, "unknown_field", "属性名应为字母、数字和下划线，最长 64 个字符")
        if name in PRIVATE_TRAITS:
            raise _invalid(path, "private_trait", f"敏感属性「{name}」不能用于圈选")
        if operator not in TRAIT_OPERATORS:
            raise _invalid(
                path, "unknown_operator", "属性的比较方式不正确", allowed=list(TRAIT_OPERATORS)
            )
        value = rule.get("value")
        if operator == "exists":
            if value is None:
                value = True
            if not isinstance(value, bool):
                raise _invalid(path, "value_type", "「已填写」的取值应为 true 或 false")
        elif operator == "in":
            value = _scalar_list(value, path, _trait_scalar, "取值")
        elif operator in {"gte", "lte"}:
            value = _number(value, path, "取值")
        else:
            value = _trait_scalar(value, path, "取值")
        clean.update(field=name, operator=operator, value=value)
    else:
        name = rule.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise _invalid(path, "unknown_event", "事件名应为小写字母开头的 snake_case")
        measure = rule.get("measure", "count")
        if not isinstance(measure, str) or measure not in EVENT_MEASURES:
            raise _invalid(path, "unknown_measure", "统计方式不正确", allowed=list(EVENT_MEASURES))
        if operator not in EVENT_OPERATORS:
            raise _invalid(
                path, "unknown_operator", "事件的比较方式不正确", allowed=list(EVENT_OPERATORS)
            )
        count = _integer(rule.get("value"), path, "取值")
        if count < 0:
            raise _invalid(path, "value_type", "取值应为不小于 0 的整数")
        clean.update(name=name, measure=measure, operator=operator, value=count)
        within = rule.get("within_days")
        if within is not None:
            if (
                not isinstance(within, int)
                or isinstance(within, bool)
                or not 1 <= within <= MAX_WITHIN_DAYS
            ):
                raise _invalid(path, "within_days", f"时间范围应为 1 到 {MAX_WITHIN_DAYS} 天的整数")
            clean["within_days"] = within
        channel = rule.get("channel")
        if channel not in (None, ""):
            if channel not in SourceChannel.values:
                raise _invalid(path, "channel", "渠道不正确", allowed=list(SourceChannel.values))
            clean["channel"] = channel
    negate = rule.get("not", False)
    if not isinstance(negate, bool):
        raise _invalid(path, "not_type", "not 应为 true 或 false")
    if negate:
        clean["not"] = True
    return clean


def _group_validate(group: Any, path: str, depth: int, counter: list[int]) -> dict[str, Any]:
    if not isinstance(group, dict):
        raise _invalid(path, "not_object", "规则应为 JSON 对象")
    if "kind" in group:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise _invalid(path, "too_many_conditions", f"条件最多 {MAX_CONDITIONS} 个")
        return _condition_validate(group, path)
    if depth > MAX_DEPTH:
        raise _invalid(path, "too_deep", f"分组最多嵌套 {MAX_DEPTH} 层")
    _unknown_keys(group, _GROUP_KEYS, path)
    op = group.get("op")
    if op not in ("and", "or"):
        raise _invalid(path, "unknown_op", "分组的 op 应为 and（且）或 or（或）")
    rules = group.get("rules")
    if not isinstance(rules, list) or not rules:
        raise _invalid(path, "empty_group", "分组里至少要有一条规则")
    negate = group.get("not", False)
    if not isinstance(negate, bool):
        raise _invalid(path, "not_type", "not 应为 true 或 false")
    clean: dict[str, Any] = {
        "op": op,
        "rules": [
            _group_validate(rule, f"{path}.rules[{index}]", depth + 1, counter)
            for index, rule in enumerate(rules)
        ],
    }
    if negate:
        clean["not"] = True
    return clean


def segment_validate(definition: Any) -> dict[str, Any]:
    """Check a definition completely and return its canonical form (known keys only, text
    trimmed, defaults filled). Raises `SegmentInvalid` naming the first bad rule."""
    if not isinstance(definition, dict) or "kind" in definition:
        raise _invalid("$", "not_group", '应为分组 {"op": "and", "rules": [...]}')
    return _group_validate(definition, "$", 1, [0])


# --- evaluation -------------------------------------------------------------------------------


def _chunks(items: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Evaluation:
    """One evaluation: the active people (loaded once), one store connection (opened on first
    use, so a definition of traits and manual tags never touches the event store)."""

    def __init__(self, *, now: dt.datetime, store: EventStore) -> None:
        self.now = now
        self.store = store
        self._active: set[int] | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._store_context: Any = None

    @property
    def active(self) -> set[int]:
        if self._active is None:
            self._active = set(
                Person.objects.filter(
                    status=PersonStatus.ACTIVE, merged_into__isnull=True
                ).values_list("pk", flat=True)
            )
        return self._active

    def fetch_ids(self, sql: str, params: dict[str, Any]) -> set[int]:
        if self._connection is None:
            self._store_context = self.store.connect()
            self._connection = self._store_context.__enter__()
        return {row[0] for row in self._connection.execute(sql, params).fetchall()}

    def close(self) -> None:
        if self._store_context is not None:
            self._store_context.__exit__(None, None, None)
            self._store_context = None
            self._connection = None

    def survivors(self, person_ids: Iterable[int]) -> set[int]:
        """Ids as the active people they are now: merged-away people become their survivor
        (the store's person map and the ORM may lag each other by a flush), the rest drop."""
        active = self.active
        found = set()
        pending: set[int] = set()
        for person_id in person_ids:
            if person_id in active:
                found.add(person_id)
            elif person_id is not None:
                pending.add(person_id)
        for _ in range(3):  # merges are kept one hop deep; bounded in case of a stale chain
            if not pending:
                break
            next_pending: set[int] = set()
            for chunk in _chunks(sorted(pending)):
                for into in Person.objects.filter(
                    pk__in=chunk, merged_into__isnull=False
                ).values_list("merged_into_id", flat=True):
                    if into in active:
                        found.add(into)
                    elif into is not None:
                        next_pending.add(into)
            pending = next_pending
        return found

    # -- the tree --

    def rule(self, rule: dict[str, Any]) -> set[int]:
        result = self.condition(rule) if "kind" in rule else self.group(rule)
        if rule.get("not"):
            return self.active - result
        return result

    def group(self, group: dict[str, Any]) -> set[int]:
        rules = group["rules"]
        if group["op"] == "and":
            result = set(self.rule(rules[0]))
            for rule in rules[1:]:
                if not result:
                    break
                result &= self.rule(rule)
            return result
        union: set[int] = set()
        for rule in rules:
            union |= self.rule(rule)
        return union

    def condition(self, rule: dict[str, Any]) -> set[int]:
        kind = rule["kind"]
        if kind == "tag":
            return self.survivors(self.tag(rule))
        if kind == "event":
            return self.event(rule)
        if kind == "manual_tag":
            tagged = self.survivors(
                ManualTag.objects.filter(tag=rule["value"]).values_list("person_id", flat=True)
            )
            return tagged if rule["operator"] == "has" else self.active - tagged
        return self.trait(rule)

    def tag(self, rule: dict[str, Any]) -> set[int]:
        column = rule["field"]
        assert column in TAG_FIELDS  # validated; the only text that reaches SQL unbound
        predicate = _TAG_SQL[rule["operator"]].format(column=column)
        return self.fetch_ids(
            f"SELECT person_id FROM person_tags WHERE {predicate}",  # noqa: S608
            {"value": rule["value"]},
        )

    def event(self, rule: dict[str, Any]) -> set[int]:
        filters = ["name = $name", "pid IS NOT NULL", "occurred_at <= $now"]
        params: dict[str, Any] = {
            "name": rule["name"],
            "now": to_naive_utc(self.now),
            "value": rule["value"],
        }
        if "within_days" in rule:
            filters.append("occurred_at >= $since")
            params["since"] = to_naive_utc(self.now - dt.timedelta(days=rule["within_days"]))
        if "channel" in rule:
            filters.append("channel = $channel")
            params["channel"] = rule["channel"]
        comparison = f"{_MEASURE_SQL[rule['measure']]} {_COMPARE_SQL[rule['operator']]} $value"
        holds_for_zero = {
            "eq": rule["value"] == 0,
            "lte": True,  # values are never negative
            "gte": rule["value"] == 0,
        }[rule["operator"]]
        # People without a single such event have measure 0; when 0 satisfies the comparison
        # they belong too, so the complement of "has events and fails" is what we want.
        having = f"NOT ({comparison})" if holds_for_zero else comparison
        sql = (
            f"SELECT pid FROM events_resolved WHERE {' AND '.join(filters)} "  # noqa: S608
            f"GROUP BY pid HAVING {having}"
        )
        # `pid` already follows the merges the store has applied; survivors() also catches a
        # merge committed in the ORM but not flushed yet (until then the two halves of that
        # person are measured apart).
        matched = self.survivors(self.fetch_ids(sql, params))
        return self.active - matched if holds_for_zero else matched

    def trait(self, rule: dict[str, Any]) -> set[int]:
        name, operator, value = rule["field"], rule["operator"], rule["value"]
        people = Person.objects.filter(status=PersonStatus.ACTIVE, merged_into__isnull=True)
        has_key = Q(traits__has_key=name)
        if operator == "exists":
            people = people.filter(has_key) if value else people.exclude(has_key)
            return set(people.values_list("pk", flat=True))
        people = people.filter(has_key)
        if operator in {"gte", "lte"}:
            # Compared here, not in SQL: JSON comparisons across types differ by database
            # (SQLite ranks any text above every number, PostgreSQL booleans above numbers),
            # and "25" typed into a form is as much a number as 25.
            return {
                pk
                for pk, traits in people.values_list("pk", "traits").iterator(chunk_size=2000)
                if _trait_compares(traits, name, operator, value)
            }
        people = people.annotate(trait_value=KeyTransform(name, "traits"))
        if operator == "in":
            matches = Q()
            for item in value:
                matches |= _trait_equals(item)
            people = people.filter(matches)
        elif operator == "eq":
            people = people.filter(_trait_equals(value))
        else:
            people = people.exclude(_trait_equals(value))
        return set(people.values_list("pk", flat=True))


def _trait_compares(traits: Any, name: str, operator: str, bound: float | int) -> bool:
    number = _numeric(traits.get(name)) if isinstance(traits, dict) else None
    if number is None:
        return False
    return number >= bound if operator == "gte" else number <= bound


def _trait_equals(value: Any) -> Q:
    """A trait equals `value`; a number and its decimal text count as the same value (traits
    arrive from forms as text and from apps as numbers)."""
    variants: list[Any] = [value]
    if isinstance(value, str):
        number = _numeric(value)
        if number is not None:
            variants.append(number)
    elif _is_number(value):
        variants.append(str(value))
        if isinstance(value, float) and value.is_integer():
            variants.extend([int(value), str(int(value))])
    matches = Q()
    for variant in variants:
        matches |= Q(trait_value=variant)
    return matches


def segment_evaluate(
    *,
    definition: Any,
    now: dt.datetime | None = None,
    store: EventStore | None = None,
) -> set[int]:
    """The ids of the active people a definition selects (validated first)."""
    clean = segment_validate(definition)
    evaluation = _Evaluation(now=now or clock.now(), store=store or event_store())
    try:
        result = evaluation.rule(clean)
    finally:
        evaluation.close()
    return result & evaluation.active


def segment_preview(
    *, definition: Any, now: dt.datetime | None = None, store: EventStore | None = None
) -> int:
    """How many people a definition selects now (the builder's live count)."""
    return len(segment_evaluate(definition=definition, now=now, store=store))


# --- saved segments ---------------------------------------------------------------------------


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    message = "人群不存在"


class SegmentNotMaterialised(Conflict):
    code = "segment_not_materialised"
    message = "人群还没有计算过，请先计算再发券"


class SegmentBusy(Conflict):
    code = "segment_busy"
    message = "人群规则正在被修改，请稍后重试"


def _segment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SegmentInvalid("请填写人群名称", detail={"field": "name"})
    clean = name.strip()
    if len(clean) > 64:
        raise SegmentInvalid("人群名称不能超过 64 个字符", detail={"field": "name"})
    if _unprintable(clean):
        raise SegmentInvalid("人群名称不能包含控制字符", detail={"field": "name"})
    return clean


def _segment_description(description: Any) -> str:
    if not isinstance(description, str) or len(description.strip()) > 200:
        raise SegmentInvalid("说明应为不超过 200 个字符的文本", detail={"field": "description"})
    clean = description.strip()
    if _unprintable(clean, allowed="\n"):
        raise SegmentInvalid("说明不能包含控制字符", detail={"field": "description"})
    return clean


def _segments_lock(segment_ids: Iterable[int]) -> list[Segment]:
    """The module's one row-lock helper: segments locked in primary-key order."""
    return list(Segment.objects.select_for_update().filter(pk__in=set(segment_ids)).order_by("pk"))


def _segment_locked(segment_id: int) -> Segment:
    locked = _segments_lock([segment_id])
    if not locked:
        raise SegmentNotFound(detail={"segment_id": segment_id})
    return locked[0]


def segment_get(*, segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound(detail={"segment_id": segment_id})
    return segment


def segment_list() -> list[Segment]:
    """Every saved segment, the most recently changed first."""
    return list(Segment.objects.order_by("-updated_at", "-pk"))


@transaction.atomic
def segment_save(
    *,
    name: str,
    definition: Any,
    actor: Actor,
    description: str = "",
    segment: Segment | None = None,
) -> Segment:
    """Create a segment, or change `segment`'s name, description and rules (audited). Members
    are not recomputed here: call `segment_materialise`, or save with
    `segment_save_and_materialise` as the console does."""
    clean_name = _segment_name(name)
    clean_description = _segment_description(description)
    clean_definition = segment_validate(definition)
    taken = Segment.objects.filter(name=clean_name)
    if segment is not None:
        taken = taken.exclude(pk=segment.pk)
    if taken.exists():
        raise SegmentInvalid("人群名称已存在", detail={"field": "name", "name": clean_name})
    now = clock.now()
    before = None
    if segment is None:
        segment = Segment(created_by=actor.label[:64], created_at=now)
        action = "datahub.segment_create"
    else:
        segment = _segment_locked(segment.pk)
        before = {
            "name": segment.name,
            "description": segment.description,
            "definition": segment.definition,
        }
        action = "datahub.segment_update"
    segment.name = clean_name
    segment.description = clean_description
    segment.definition = clean_definition
    segment.updated_at = now
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError as error:  # the same name saved a moment ago by someone else
        raise SegmentInvalid(
            "人群名称已存在", detail={"field": "name", "name": clean_name}
        ) from error
    audit_record(
        actor=actor,
        action=action,
        target=segment,
        before=before,
        after={
            "name": clean_name,
            "description": clean_description,
            "definition": clean_definition,
        },
    )
    return segment


@transaction.atomic
def segment_save_and_materialise(
    *,
    name: str,
    definition: Any,
    actor: Actor,
    description: str = "",
    segment: Segment | None = None,
    now: dt.datetime | None = None,
    store: EventStore | None = None,
) -> Segment:
    """Save and compute the members in one transaction: if the evaluation fails (the event
    store is busy, say) the change is not kept either, so a segment never shows rules its
    members were not computed from."""
    saved = segment_save(
        name=name, definition=definition, actor=actor, description=description, segment=segment
    )
    return segment_materialise(segment=saved, now=now, actor=actor, store=store)


def segment_materialise(
    *,
    segment: Segment,
    now: dt.datetime | None = None,
    actor: Actor | None = None,
    store: EventStore | None = None,
) -> Segment:
    """Recompute a segment's members and replace them in one transaction.

    The evaluation reads the event store outside the transaction (it can take a moment); if
    the rules changed meanwhile, the result is thrown away and computed again, so members
    always belong to the rules stored beside them.
    """
    moment = now or clock.now()
    actor = actor or Actor.system("datahub.segments_materialise")
    definition = Segment.objects.filter(pk=segment.pk).values_list("definition", flat=True).first()
    if definition is None:
        raise SegmentNotFound(detail={"segment_id": segment.pk})
    for _ in range(3):
        members = segment_evaluate(definition=definition, now=moment, store=store)
        with transaction.atomic():
            locked = _segment_locked(segment.pk)
            if locked.definition != definition:
                definition = locked.definition
                continue
            before = locked.member_count
            SegmentMember.objects.filter(segment=locked).delete()
            SegmentMember.objects.bulk_create(
                [SegmentMember(segment=locked, person_id=pid) for pid in sorted(members)],
                batch_size=MEMBER_BATCH,
            )
            locked.member_count = len(members)
            locked.materialised_at = clock.now()
            locked.save(update_fields=["member_count", "materialised_at"])
            audit_record(
                actor=actor,
                action="datahub.segment_materialise",
                target=locked,
                before={"member_count": before},
                after={"member_count": locked.member_count},
            )
            return locked
    raise SegmentBusy(detail={"segment_id": segment.pk})


def segments_materialise_all(*, now: dt.datetime | None = None) -> int:
    """Re-materialise every saved segment (hourly job); one bad segment does not stop the rest.
    Returns how many were refreshed."""
    refreshed = 0
    for segment in Segment.objects.order_by("pk"):
        try:
            segment_materialise(segment=segment, now=now)
        except SegmentNotFound:
            continue  # deleted since the list was read
        except Exception:
            # Whatever went wrong with this one (rules from an older grammar, a store error),
            # the others still get their hourly refresh; the log carries the traceback.
            logger.exception("segment %s could not be materialised", segment.pk)
            continue
        refreshed += 1
    return refreshed


@transaction.atomic
def segment_delete(*, segment: Segment, actor: Actor) -> None:
    locked = _segment_locked(segment.pk)
    audit_record(
        actor=actor,
        action="datahub.segment_delete",
        target=locked,
        before={
            "name": locked.name,
            "definition": locked.definition,
            "member_count": locked.member_count,
        },
    )
    locked.delete()


def segment_member_ids(*, segment: Segment) -> list[int]:
    return list(
        SegmentMember.objects.filter(segment=segment)
        .order_by("person_id")
        .values_list("person_id", flat=True)
    )


def segment_members_forget(*, person_id: int) -> int:
    """Take a person out of every materialised segment: merged-away and erased people are never
    members, even before the next materialisation. Returns how many segments lost them."""
    with transaction.atomic():
        segment_ids = set(
            SegmentMember.objects.filter(person_id=person_id).values_list("segment_id", flat=True)
        )
        if not segment_ids:
            return 0
        for segment in _segments_lock(segment_ids):
            removed, _ = SegmentMember.objects.filter(segment=segment, person_id=person_id).delete()
            if removed:
                segment.member_count = max(0, segment.member_count - removed)
                segment.save(update_fields=["member_count"])
    return len(segment_ids)


@subscribe(IdentityMerged)
def segment_members_drop_merged(event: IdentityMerged) -> None:
    # The survivor's membership is decided by the next materialisation, over both histories.
    segment_members_forget(person_id=event.from_person_id)


@subscribe(PersonErased)
def segment_members_drop_erased(event: PersonErased) -> None:
    segment_members_forget(person_id=event.person_id)


def segments_export_section(person: Person) -> list[dict[str, Any]]:
    """PIPL export: the saved segments the person is a member of."""
    rows = (
        SegmentMember.objects.filter(person=person)
        .select_related("segment")
        .order_by("segment__name")
    )
    return [
        {
            "segment": row.segment.name,
            "materialised_at": row.segment.materialised_at.isoformat()
            if row.segment.materialised_at
            else None,
        }
        for row in rows
    ]


register_export_section("segments", segments_export_section)


CSV_HEADER = ["OneID", "昵称", "手机号(脱敏)", "生命周期", "RFM 分群", "RFM 得分"]


def segment_csv(*, segment: Segment, store: EventStore | None = None) -> str:
    """The materialised members as CSV: OneID, nickname, masked phone, lifecycle and RFM.

    Never raw PII: phones are masked the way every screen masks them. People merged away or
    erased since the materialisation are left out. Starts with a byte-order mark so Excel reads
    the Chinese as UTF-8.
    """
    member_ids = segment_member_ids(segment=segment)
    tags: dict[int, tuple[Any, Any, Any]] = {}
    if member_ids:
        for row in (store or event_store()).fetch(
            "SELECT person_id, lifecycle, rfm_segment, rfm_score FROM person_tags "
            "WHERE list_contains($ids, person_id)",
            {"ids": member_ids},
        ):
            tags[row[0]] = (row[1], row[2], row[3])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for chunk in _chunks(member_ids):
        people = (
            Person.objects.filter(
                pk__in=chunk, status=PersonStatus.ACTIVE, merged_into__isnull=True
            )
            .order_by("pk")
            .only("one_id", "display_name")
        )
        phones: dict[int, str] = {}
        for identifier in Identifier.objects.filter(
            person_id__in=chunk, type=IdentifierType.PHONE
        ).order_by("-verified", "pk"):
            phones.setdefault(identifier.person_id, identifier_mask(identifier))
        for person in people:
            lifecycle, rfm_segment, rfm_score = tags.get(person.pk, (None, None, None))
            writer.writerow(
                [
                    spreadsheet_cell(person.one_id),
                    spreadsheet_cell(person.display_name),
                    spreadsheet_cell(phones.get(person.pk, "")),
                    spreadsheet_cell(lifecycle),
                    spreadsheet_cell(rfm_segment),
                    spreadsheet_cell(rfm_score),
                ]
            )
    return "\ufeff" + buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class SegmentCouponOutcome:
    issued: int
    skipped: dict[str, int]  # reason -> people
    replayed: bool = False  # the answer of an earlier request with the same key


class SegmentIssueKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "该幂等键已用于另一张券的发放"


MAX_IDEMPOTENCY_KEY = 64


def segment_issue_coupon(
    *, segment: Segment, template: CouponTemplate, actor: Actor, idempotency_key: str = ""
) -> SegmentCouponOutcome:
    """Give every materialised member one coupon of `template` (limits are the template's;
    people merged or erased since the last materialisation are skipped by the issuer and
    reported as such).

    With an `idempotency_key`, the issue and its record commit together: the same key again
    returns the first answer (`replayed`), the same key for another template is refused, and
    two requests racing with one key issue once (the second waits on the key's unique index).
    """
    segment = segment_get(segment_id=segment.pk)
    if segment.materialised_at is None:
        raise SegmentNotMaterialised(detail={"segment_id": segment.pk})
    key = idempotency_key.strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise SegmentInvalid("幂等键过长", detail={"max_length": MAX_IDEMPOTENCY_KEY})
    if not key:
        return _issue_to_members(segment, template, actor)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record: SegmentCouponIssue | None = SegmentCouponIssue.objects.create(
                    segment=segment,
                    template=template,
                    idempotency_key=key,
                    created_by=actor.label[:64],
                    created_at=clock.now(),
                )
        except IntegrityError:
            record = None  # the key was used (or is being used) by another request
        if record is not None:
            outcome = _issue_to_members(segment, template, actor)
            record.issued, record.skipped = outcome.issued, outcome.skipped
            record.save(update_fields=["issued", "skipped"])
            return outcome
    earlier = SegmentCouponIssue.objects.filter(segment=segment, idempotency_key=key).first()
    if earlier is None:
        # The insert failed for another reason (the segment or template was deleted meanwhile):
        # nothing was issued; the caller sees why when it asks again.
        segment_get(segment_id=segment.pk)
        raise SegmentBusy(detail={"idempotency_key": key})
    if earlier.template_id != template.pk:
        raise SegmentIssueKeyReused(
            detail={"idempotency_key": key, "template_id": earlier.template_id}
        )
    return SegmentCouponOutcome(issued=earlier.issued, skipped=dict(earlier.skipped), replayed=True)


def _issue_to_members(
    segment: Segment, template: CouponTemplate, actor: Actor
) -> SegmentCouponOutcome:
    people: list[Person] = []
    for chunk in _chunks(segment_member_ids(segment=segment)):
        people.extend(Person.objects.filter(pk__in=chunk).order_by("pk"))
    result = coupon_issue(
        template=template,
        people=people,
        source=CouponSource.SEGMENT,
        source_ref=f"segment:{segment.pk}",
        actor=actor,
    )
    skipped: dict[str, int] = {}
    for skip in result.skipped:
        skipped[skip.reason] = skipped.get(skip.reason, 0) + 1
    return SegmentCouponOutcome(issued=len(result.issued), skipped=skipped)
