"""DH-4 segments: the JSON rule grammar of a segment and its validation.

The grammar (stored in `Segment.definition`, edited by the console's segment builder):

    group      {"op": "and" | "or", "rules": [rule, ...], "not": false}
    rule       group | condition
    condition  every condition may carry "not": true (negated relative to all active people)

    tag        {"kind": "tag", "field": "lifecycle", "operator": "eq", "value": "活跃"}
               over the computed tags in the event store's `person_tags` and the
               intelligence module's scores in `person_predictions` (SEGMENT_FIELDS says
               which columns and which operators each column's type allows)
    manual_tag {"kind": "manual_tag", "operator": "has" | "not_has", "value": "VIP"}
    trait      {"kind": "trait", "field": "gender", "operator": "eq", "value": "female"}
               over `Person.traits` (eq, ne, in, gte, lte, exists)
    event      {"kind": "event", "name": "live_join", "measure": "distinct_live_sessions",
                "operator": "gte", "value": 2, "within_days": 30, "channel": "live"}
               measure: count | distinct_live_sessions | sum_amount (fen); operator gte|lte|eq;
               within_days and channel are optional. A measure of people with no such event
               is 0, so `"operator": "eq", "value": 0` means "did not do it".
    region     {"kind": "region", "scope": "province", "operator": "in", "value": ["广东省"]}
               where the customer is (food's regional pools, FD-5): scope zone (南方 / 北方) |
               province | city (full names, as the address picker writes them); eq | in.

Limits: groups nest at most MAX_DEPTH deep, at most MAX_CONDITIONS conditions in all. Every
problem raises `SegmentInvalid` with a Chinese message naming the rule and `detail.path`
(`$` is the outer group, `$.rules[1].rules[0]` the first rule of its second rule).

`segment_validate` returns the canonical form of a definition; the builder's menus
(`segments.selectors.builder_schema`) and the API's JSON Schema (`segments.schemas`) are derived
from the whitelists below, so neither can offer a rule the validator refuses. No user text ever
reaches SQL except as a bound parameter: columns and operators come from these whitelists.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from freshloop.datahub.ingestion.schemas import NAME_PATTERN
from freshloop.datahub.models import SourceChannel
from freshloop.datahub.segments.errors import SegmentInvalid
from freshloop.datahub.tags.schemas import SEGMENT_FIELDS, FieldType, TagField
from freshloop.food.selectors import region_choices
from freshloop.identity.selectors import PRIVATE_TRAITS

MAX_DEPTH = 4
MAX_CONDITIONS = 30
MAX_LIST_VALUES = 100
MAX_TEXT = 64
MAX_INTEGER = 10**15
MAX_WITHIN_DAYS = 3650

TAG_OPERATORS: dict[FieldType, tuple[str, ...]] = {
    "string": ("eq", "ne", "in", "not_in"),
    "integer": ("eq", "ne", "gte", "lte", "in", "not_in"),
    "number": ("eq", "ne", "gte", "lte"),
    "list": ("contains",),
}
TRAIT_OPERATORS = ("eq", "ne", "in", "gte", "lte", "exists")
MANUAL_TAG_OPERATORS = ("has", "not_has")
EVENT_OPERATORS = ("gte", "lte", "eq")
REGION_OPERATORS = ("eq", "in")
REGION_SCOPES: dict[str, str] = {"zone": "南北方", "province": "省份", "city": "城市"}
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
    "region": "所在地区",
}

TRAIT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

_CONDITION_KEYS: dict[str, set[str]] = {
    "tag": {"kind", "field", "operator", "value", "not"},
    "manual_tag": {"kind", "operator", "value", "not"},
    "trait": {"kind", "field", "operator", "value", "not"},
    "event": {"kind", "name", "measure", "operator", "value", "within_days", "channel", "not"},
    "region": {"kind", "scope", "operator", "value", "not"},
}
_GROUP_KEYS = {"op", "rules", "not"}


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


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    if is_int(value):
        return True  # `math.isfinite` overflows on integers beyond a float's range
    return isinstance(value, float) and math.isfinite(value)


def numeric(value: Any) -> float | int | None:
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


def unprintable(text: str, allowed: str = "") -> bool:
    """Control characters and lone surrogates: no name or tag has them, and PostgreSQL refuses
    NUL in text and JSON alike, so they must be refused here, as input, not fail as a query."""
    return any(unicodedata.category(char) in {"Cc", "Cs"} and char not in allowed for char in text)


def _text(value: Any, path: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(path, "value_type", f"{what}应为非空文本")
    clean = value.strip()
    if len(clean) > MAX_TEXT:
        raise _invalid(path, "value_too_long", f"{what}不能超过 {MAX_TEXT} 个字符")
    if unprintable(clean):
        raise _invalid(path, "value_unprintable", f"{what}不能包含控制字符")
    return clean


def _scalar_list(value: Any, path: str, check: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _invalid(path, "value_type", f"{what}应为非空列表")
    if len(value) > MAX_LIST_VALUES:
        raise _invalid(path, "value_too_many", f"列表最多 {MAX_LIST_VALUES} 项")
    return [check(item, path, what) for item in value]


def _integer(value: Any, path: str, what: str) -> int:
    if not is_int(value) or abs(value) > MAX_INTEGER:
        raise _invalid(path, "value_type", f"{what}应为整数")
    return int(value)


def _number(value: Any, path: str, what: str) -> float | int:
    if not is_number(value) or abs(value) > MAX_INTEGER:
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
    if isinstance(value, bool) or is_number(value):
        if not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise _invalid(path, "value_type", f"{what}超出范围")
        return value
    raise _invalid(path, "value_type", f"{what}应为文本、数字或布尔值")


def _region_validate(rule: dict[str, Any], path: str) -> dict[str, Any]:
    """A region condition: a known scope, and names that scope has (a zone, a province of the
    region tree, a city of one), so a typo is refused here rather than matching nobody."""
    scope = rule.get("scope")
    if not isinstance(scope, str) or scope not in REGION_SCOPES:
        raise _invalid(
            path,
            "unknown_scope",
            "地区范围应为 zone / province / city",
            allowed=list(REGION_SCOPES),
        )
    operator = rule.get("operator")
    if operator not in REGION_OPERATORS:
        raise _invalid(
            path, "unknown_operator", "地区的比较方式应为 eq / in", allowed=list(REGION_OPERATORS)
        )
    value = rule.get("value")
    names = (
        _scalar_list(value, path, _text, "地区")
        if operator == "in"
        else [_text(value, path, "地区")]
    )
    allowed = set(region_choices()[scope])
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise _invalid(path, "unknown_region", f"不认识的地区「{unknown[0]}」", values=unknown[:10])
    return {"scope": scope, "operator": operator, "value": names if operator == "in" else names[0]}


def _condition_validate(rule: dict[str, Any], path: str) -> dict[str, Any]:
    kind = rule.get("kind")
    if not isinstance(kind, str) or kind not in _CONDITION_KEYS:
        raise _invalid(
            path,
            "unknown_kind",
            "条件类型应为 tag / manual_tag / trait / event / region 之一",
            allowed=list(_CONDITION_KEYS),
        )
    _unknown_keys(rule, _CONDITION_KEYS[kind], path)
    operator = rule.get("operator")
    clean: dict[str, Any] = {"kind": kind}
    if kind == "tag":
        name = rule.get("field")
        field = SEGMENT_FIELDS.get(name) if isinstance(name, str) else None
        if field is None:
            raise _invalid(path, "unknown_field", "未知的标签字段", allowed=list(SEGMENT_FIELDS))
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
    elif kind == "region":
        clean.update(_region_validate(rule, path))
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
