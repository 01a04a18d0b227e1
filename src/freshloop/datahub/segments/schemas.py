"""What the segment API takes and answers, and the rule grammar as JSON Schema (derived from
the validator's whitelists in `segments.grammar`) for the API docs and the fuzz run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import MAX_ID, InputSchema
from freshloop.datahub.ingestion.schemas import NAME_PATTERN
from freshloop.datahub.models import SourceChannel
from freshloop.datahub.segments.grammar import (
    EVENT_MEASURES,
    EVENT_OPERATORS,
    MANUAL_TAG_OPERATORS,
    MAX_CONDITIONS,
    MAX_INTEGER,
    MAX_TEXT,
    MAX_WITHIN_DAYS,
    REGION_OPERATORS,
    REGION_SCOPES,
    TAG_OPERATORS,
    TRAIT_NAME,
    TRAIT_OPERATORS,
)
from freshloop.datahub.tags.schemas import SEGMENT_FIELDS

DEFINITION_HELP = (
    '规则树：{"op": "and" | "or", "rules": [...], "not": false}；条件见 GET /segments/schema'
)


def _definition_schema() -> dict[str, Any]:
    """The rule grammar as JSON Schema, for the API docs and the fuzz run. The server still
    checks everything itself (`segment_validate`), so a nested group is left loose here."""
    negate = {"type": "boolean", "title": "取反", "description": "取反（相对全部有效用户）"}
    text = {"type": "string", "title": "取值", "minLength": 1, "maxLength": MAX_TEXT}
    tag_operators = sorted({op for ops in TAG_OPERATORS.values() for op in ops})
    conditions = [
        {
            "title": "计算标签",
            "type": "object",
            "required": ["kind", "field", "operator", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"title": "条件类型", "enum": ["tag"]},
                "field": {"title": "标签字段", "enum": list(SEGMENT_FIELDS)},
                "operator": {"title": "比较方式", "enum": tag_operators},
                "value": {"title": "取值", "description": "文本、整数、数字或其列表，按字段类型"},
                "not": negate,
            },
        },
        {
            "title": "手工标签",
            "type": "object",
            "required": ["kind", "operator", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"title": "条件类型", "enum": ["manual_tag"]},
                "operator": {"title": "比较方式", "enum": list(MANUAL_TAG_OPERATORS)},
                "value": text,
                "not": negate,
            },
        },
        {
            "title": "用户属性",
            "type": "object",
            "required": ["kind", "field", "operator"],
            "additionalProperties": False,
            "properties": {
                "kind": {"title": "条件类型", "enum": ["trait"]},
                "field": {"title": "属性名", "type": "string", "pattern": TRAIT_NAME.pattern},
                "operator": {"title": "比较方式", "enum": list(TRAIT_OPERATORS)},
                "value": {
                    "title": "取值",
                    "description": "文本、数字、布尔值；in 为列表；exists 为 true/false",
                },
                "not": negate,
            },
        },
        {
            "title": "行为事件",
            "type": "object",
            "required": ["kind", "name", "operator", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"title": "条件类型", "enum": ["event"]},
                "name": {"title": "事件名", "type": "string", "pattern": NAME_PATTERN.pattern},
                "measure": {"title": "统计方式", "enum": list(EVENT_MEASURES)},
                "operator": {"title": "比较方式", "enum": list(EVENT_OPERATORS)},
                "value": {"title": "次数", "type": "integer", "minimum": 0, "maximum": MAX_INTEGER},
                # null is "no time limit" / "any channel" (and "" too), as the grammar reads them.
                "within_days": {
                    "title": "时间范围（天）",
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": MAX_WITHIN_DAYS},
                        {"type": "null"},
                    ],
                },
                "channel": {"title": "渠道", "enum": [*SourceChannel.values, "", None]},
                "not": negate,
            },
        },
        {
            "title": "所在地区",
            "type": "object",
            "required": ["kind", "scope", "operator", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"title": "条件类型", "enum": ["region"]},
                "scope": {"title": "地区范围", "enum": list(REGION_SCOPES)},
                "operator": {"title": "比较方式", "enum": list(REGION_OPERATORS)},
                "value": {
                    "title": "地区",
                    "description": "南方 / 北方、省份或城市全称；in 为列表",
                },
                "not": negate,
            },
        },
        {"title": "嵌套分组", "type": "object", "required": ["op", "rules"]},
    ]
    return {
        "type": "object",
        "required": ["op", "rules"],
        "additionalProperties": False,
        "properties": {
            "op": {"title": "组合方式", "enum": ["and", "or"]},
            "rules": {
                "title": "条件",
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_CONDITIONS,
                "items": {"oneOf": conditions},
            },
            "not": negate,
        },
    }


DEFINITION_SCHEMA = _definition_schema()


DEFINITION = "人群规则"


class PreviewIn(InputSchema):
    definition: Any = Field(
        ..., title=DEFINITION, description=DEFINITION_HELP, json_schema_extra=DEFINITION_SCHEMA
    )


class SegmentIn(InputSchema):
    name: str = Field(
        ...,
        title="人群名称",
        description="人群名称（1–64 个字符，不能重名）",
        json_schema_extra={"minLength": 1, "maxLength": 64},
    )
    description: str = Field(
        "",
        title="说明",
        description="说明（最多 200 个字符）",
        json_schema_extra={"maxLength": 200},
    )
    definition: Any = Field(
        ..., title=DEFINITION, description=DEFINITION_HELP, json_schema_extra=DEFINITION_SCHEMA
    )


class IssueCouponIn(InputSchema):
    template_id: int = Field(..., ge=1, le=MAX_ID, title="优惠券模板", description="优惠券模板")


# --- output ---------------------------------------------------------------------------------


class PreviewOut(Schema):
    count: int


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    definition: dict[str, Any]
    member_count: int
    materialised_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class SegmentListOut(Schema):
    items: list[SegmentOut]


class SkipOut(Schema):
    reason: str
    label: str
    count: int


class IssueCouponOut(Schema):
    segment_id: int
    template_id: int
    issued: int
    skipped: int
    skipped_reasons: list[SkipOut]
    replayed: bool = False
