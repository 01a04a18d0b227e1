"""The segment builder's API (DH-4) at /api/v1/segments: the menus, the live count, saved
segments (create, change, delete, recompute), their CSV export and coupons for their members.

Operators only: a console session (cookie + CSRF token on writes) of a marketer or an admin
(`datahub.access.ANALYST_ROLES`). Thin: parse, check, call `datahub.segments`. Rule trees are
checked by `segment_validate`, whose errors carry `detail.path` (`$.rules[1]`) so the builder
can point at the rule; every failure is `{"code", "message", "detail"}` with a 4xx status.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Header, Path, Router, Schema, Status
from pydantic import ConfigDict, Field

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.errors import NotFound
from freshloop.datahub import segments
from freshloop.datahub.access import ANALYST_ROLES
from freshloop.datahub.event_schemas import NAME_PATTERN
from freshloop.datahub.models import Segment, SourceChannel
from freshloop.datahub.segment_schema import builder_schema
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import SKIP_REASONS

router = Router(tags=["人群圈选 segments"], auth=OperatorAuth(*ANALYST_ROLES))

MAX_ID = 2**63 - 1  # ids beyond a BIGINT would fail in the database instead of being unknown
DEFINITION_HELP = (
    '规则树：{"op": "and" | "or", "rules": [...], "not": false}；条件见 GET /segments/schema'
)


def _definition_schema() -> dict[str, Any]:
    """The rule grammar as JSON Schema, for the API docs and the fuzz run. The server still
    checks everything itself (`segment_validate`), so a nested group is left loose here."""
    negate = {"type": "boolean", "description": "取反（相对全部有效用户）"}
    text = {"type": "string", "minLength": 1, "maxLength": segments.MAX_TEXT}
    tag_operators = sorted({op for ops in segments.TAG_OPERATORS.values() for op in ops})
    conditions = [
        {
            "title": "计算标签",
            "type": "object",
            "required": ["kind", "field", "operator", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["tag"]},
                "field": {"enum": list(segments.TAG_FIELDS)},
                "operator": {"enum": tag_operators},
                "value": {"description": "文本、整数、数字或其列表，按字段类型"},
                "not": negate,
            },
        },
        {
            "title": "手工标签",
            "type": "object",
            "required": ["kind", "operator", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["manual_tag"]},
                "operator": {"enum": list(segments.MANUAL_TAG_OPERATORS)},
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
                "kind": {"enum": ["trait"]},
                "field": {"type": "string", "pattern": segments.TRAIT_NAME.pattern},
                "operator": {"enum": list(segments.TRAIT_OPERATORS)},
                "value": {"description": "文本、数字、布尔值；in 为列表；exists 为 true/false"},
                "not": negate,
            },
        },
        {
            "title": "行为事件",
            "type": "object",
            "required": ["kind", "name", "operator", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["event"]},
                "name": {"type": "string", "pattern": NAME_PATTERN.pattern},
                "measure": {"enum": list(segments.EVENT_MEASURES)},
                "operator": {"enum": list(segments.EVENT_OPERATORS)},
                "value": {"type": "integer", "minimum": 0, "maximum": segments.MAX_INTEGER},
                "within_days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": segments.MAX_WITHIN_DAYS,
                },
                "channel": {"enum": list(SourceChannel.values)},
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
            "op": {"enum": ["and", "or"]},
            "rules": {
                "type": "array",
                "minItems": 1,
                "maxItems": segments.MAX_CONDITIONS,
                "items": {"oneOf": conditions},
            },
            "not": negate,
        },
    }


DEFINITION_SCHEMA = _definition_schema()


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class PreviewIn(_In):
    definition: Any = Field(..., description=DEFINITION_HELP, json_schema_extra=DEFINITION_SCHEMA)


class SegmentIn(_In):
    name: str = Field(
        ...,
        description="人群名称（1–64 个字符，不能重名）",
        json_schema_extra={"minLength": 1, "maxLength": 64},
    )
    description: str = Field(
        "", description="说明（最多 200 个字符）", json_schema_extra={"maxLength": 200}
    )
    definition: Any = Field(..., description=DEFINITION_HELP, json_schema_extra=DEFINITION_SCHEMA)


class IssueCouponIn(_In):
    template_id: int = Field(..., ge=1, le=MAX_ID, description="优惠券模板")


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


_SKIP_ORDER = {reason: index for index, reason in enumerate(SKIP_REASONS)}


class IssueCouponOut(Schema):
    segment_id: int
    template_id: int
    issued: int
    skipped: int
    skipped_reasons: list[SkipOut]
    replayed: bool = False


def _segment_out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.pk,
        name=segment.name,
        description=segment.description,
        definition=segment.definition,
        member_count=segment.member_count,
        materialised_at=segment.materialised_at,
        created_by=segment.created_by,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


SegmentId = Path(..., ge=1, le=MAX_ID, description="人群编号")


# --- the builder ----------------------------------------------------------------------------


@router.get(
    "/schema", response=dict[str, Any], summary="圈选器的字段、比较方式、事件和已知取值（画菜单用）"
)
def schema(request: HttpRequest) -> dict[str, Any]:
    """The same menus the builder page is rendered with (`segment_schema.builder_schema`)."""
    return builder_schema()


@router.post("/preview", response=PreviewOut, summary="按规则实时估算人数（不保存）")
def preview(request: HttpRequest, body: PreviewIn) -> PreviewOut:
    return PreviewOut(count=segments.segment_preview(definition=body.definition))


# --- saved segments -------------------------------------------------------------------------


@router.get("", response=SegmentListOut, summary="已保存的人群（最近修改的在前）")
def segment_list(request: HttpRequest) -> SegmentListOut:
    return SegmentListOut(items=[_segment_out(s) for s in segments.segment_list()])


@router.post("", response={201: SegmentOut}, summary="保存新人群并立即计算成员")
def segment_create(request: HttpRequest, body: SegmentIn) -> Status[SegmentOut]:
    segment = segments.segment_save_and_materialise(
        name=body.name,
        description=body.description,
        definition=body.definition,
        actor=request_actor(request),
    )
    return Status(201, _segment_out(segment))


@router.get("/{segment_id}", response=SegmentOut, summary="人群详情")
def segment_detail(request: HttpRequest, segment_id: int = SegmentId) -> SegmentOut:
    return _segment_out(segments.segment_get(segment_id=segment_id))


@router.put("/{segment_id}", response=SegmentOut, summary="修改人群（名称、说明、规则）并重新计算")
def segment_update(
    request: HttpRequest, body: SegmentIn, segment_id: int = SegmentId
) -> SegmentOut:
    segment = segments.segment_save_and_materialise(
        segment=segments.segment_get(segment_id=segment_id),
        name=body.name,
        description=body.description,
        definition=body.definition,
        actor=request_actor(request),
    )
    return _segment_out(segment)


@router.delete("/{segment_id}", response={204: None}, summary="删除人群")
def segment_delete(request: HttpRequest, segment_id: int = SegmentId) -> Status[None]:
    segments.segment_delete(
        segment=segments.segment_get(segment_id=segment_id), actor=request_actor(request)
    )
    return Status(204, None)


@router.post("/{segment_id}/materialise", response=SegmentOut, summary="立即重新计算成员")
def segment_materialise(request: HttpRequest, segment_id: int = SegmentId) -> SegmentOut:
    segment = segments.segment_materialise(
        segment=segments.segment_get(segment_id=segment_id), actor=request_actor(request)
    )
    return _segment_out(segment)


@router.get(
    "/{segment_id}/export.csv",
    summary="导出成员 CSV（手机号脱敏）",
    openapi_extra={
        "responses": {
            200: {
                "description": "UTF-8 CSV（带 BOM）：OneID、昵称、手机号(脱敏)、生命周期、RFM 分群、RFM 得分",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def segment_export(request: HttpRequest, segment_id: int = SegmentId) -> HttpResponse:
    segment = segments.segment_get(segment_id=segment_id)
    body = segments.segment_csv(segment=segment)
    response = HttpResponse(body.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="freshloop-segment-{segment.pk}.csv"'
    return response


@router.post(
    "/{segment_id}/issue-coupon",
    response=IssueCouponOut,
    summary="给人群成员每人发一张券（按模板的每人限领和总量）",
)
def segment_issue_coupon(
    request: HttpRequest,
    body: IssueCouponIn,
    segment_id: int = SegmentId,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> IssueCouponOut:
    """Send an `Idempotency-Key` (one per click): a retried request answers the first result
    (`replayed: true`) instead of giving everyone another coupon."""
    segment = segments.segment_get(segment_id=segment_id)
    template = CouponTemplate.objects.filter(pk=body.template_id).first()
    if template is None:
        raise NotFound("优惠券模板不存在", detail={"template_id": body.template_id})
    outcome = segments.segment_issue_coupon(
        segment=segment,
        template=template,
        actor=request_actor(request),
        idempotency_key=idempotency_key,
    )
    return IssueCouponOut(
        segment_id=segment.pk,
        template_id=template.pk,
        issued=outcome.issued,
        skipped=sum(outcome.skipped.values()),
        skipped_reasons=[
            SkipOut(reason=reason, label=SKIP_REASONS.get(reason, reason), count=count)
            for reason, count in sorted(
                outcome.skipped.items(), key=lambda item: _SKIP_ORDER.get(item[0], 99)
            )
            if count
        ],
        replayed=outcome.replayed,
    )
