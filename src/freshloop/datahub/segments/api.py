"""The segment builder's API (DH-4) at /api/v1/segments: the menus, the live count, saved
segments (create, change, delete, recompute), their CSV export and coupons for their members.

Operators only: a console session (cookie + CSRF token on writes) of a marketer or an admin
(`datahub.access.ANALYST_ROLES`). Thin: parse, check, call `segments.services` /
`segments.selectors`. Rule trees are checked by `segments.grammar.segment_validate`, whose
errors carry `detail.path` (`$.rules[1]`) so the builder
can point at the rule; every failure is `{"code", "message", "detail"}` with a 4xx status.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Header, Path, Router, Status

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.datahub.access import ANALYST_ROLES
from freshloop.datahub.models import Segment
from freshloop.datahub.segments import selectors, services
from freshloop.datahub.segments.errors import (
    SegmentBusy,
    SegmentInvalid,
    SegmentIssueKeyReused,
    SegmentNotFound,
    SegmentNotMaterialised,
)
from freshloop.datahub.segments.schemas import (
    MAX_ID,
    IssueCouponIn,
    IssueCouponOut,
    PreviewIn,
    PreviewOut,
    SegmentIn,
    SegmentListOut,
    SegmentOut,
    SkipOut,
)
from freshloop.promotions.errors import CouponTemplateInactive
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import SKIP_REASONS

router = Router(tags=["人群圈选 segments"], auth=OperatorAuth(*ANALYST_ROLES))

_SKIP_ORDER = {reason: index for index, reason in enumerate(SKIP_REASONS)}


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
    """The same menus the builder page is rendered with (`selectors.builder_schema`)."""
    return selectors.builder_schema()


@router.post("/preview", response=PreviewOut, summary="按规则实时估算人数（不保存）")
@raises(SegmentInvalid)
def preview(request: HttpRequest, body: PreviewIn) -> PreviewOut:
    return PreviewOut(count=selectors.segment_preview(definition=body.definition))


# --- saved segments -------------------------------------------------------------------------


@router.get("", response=SegmentListOut, summary="已保存的人群（最近修改的在前）")
def segment_list(request: HttpRequest) -> SegmentListOut:
    return SegmentListOut(items=[_segment_out(s) for s in selectors.segment_list()])


@router.post("", response={201: SegmentOut}, summary="保存新人群并立即计算成员")
@raises(SegmentBusy, SegmentInvalid, SegmentNotFound)
def segment_create(request: HttpRequest, body: SegmentIn) -> Status[SegmentOut]:
    segment = services.segment_save_and_materialise(
        name=body.name,
        description=body.description,
        definition=body.definition,
        actor=request_actor(request),
    )
    return Status(201, _segment_out(segment))


@router.get("/{segment_id}", response=SegmentOut, summary="人群详情")
@raises(SegmentNotFound)
def segment_detail(request: HttpRequest, segment_id: int = SegmentId) -> SegmentOut:
    return _segment_out(selectors.segment_get(segment_id=segment_id))


@router.put("/{segment_id}", response=SegmentOut, summary="修改人群（名称、说明、规则）并重新计算")
@raises(SegmentBusy, SegmentInvalid, SegmentNotFound)
def segment_update(
    request: HttpRequest, body: SegmentIn, segment_id: int = SegmentId
) -> SegmentOut:
    segment = services.segment_save_and_materialise(
        segment=selectors.segment_get(segment_id=segment_id),
        name=body.name,
        description=body.description,
        definition=body.definition,
        actor=request_actor(request),
    )
    return _segment_out(segment)


@router.delete("/{segment_id}", response={204: None}, summary="删除人群")
@raises(SegmentNotFound)
def segment_delete(request: HttpRequest, segment_id: int = SegmentId) -> Status[None]:
    services.segment_delete(
        segment=selectors.segment_get(segment_id=segment_id), actor=request_actor(request)
    )
    return Status(204, None)


@router.post("/{segment_id}/materialise", response=SegmentOut, summary="立即重新计算成员")
@raises(SegmentBusy, SegmentInvalid, SegmentNotFound)
def segment_materialise(request: HttpRequest, segment_id: int = SegmentId) -> SegmentOut:
    segment = services.segment_materialise(
        segment=selectors.segment_get(segment_id=segment_id), actor=request_actor(request)
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
@raises(SegmentNotFound)
def segment_export(request: HttpRequest, segment_id: int = SegmentId) -> HttpResponse:
    segment = selectors.segment_get(segment_id=segment_id)
    body = selectors.segment_csv(segment=segment)
    response = HttpResponse(body.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="freshloop-segment-{segment.pk}.csv"'
    return response


@router.post(
    "/{segment_id}/issue-coupon",
    response=IssueCouponOut,
    summary="给人群成员每人发一张券（按模板的每人限领和总量）",
)
@raises(
    CouponTemplateInactive,
    InvalidInput,
    NotFound,
    SegmentBusy,
    SegmentInvalid,
    SegmentIssueKeyReused,
    SegmentNotFound,
    SegmentNotMaterialised,
)
def segment_issue_coupon(
    request: HttpRequest,
    body: IssueCouponIn,
    segment_id: int = SegmentId,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> IssueCouponOut:
    """Send an `Idempotency-Key` (one per click): a retried request answers the first result
    (`replayed: true`) instead of giving everyone another coupon."""
    segment = selectors.segment_get(segment_id=segment_id)
    template = CouponTemplate.objects.filter(pk=body.template_id).first()
    if template is None:
        raise NotFound("优惠券模板不存在", detail={"template_id": body.template_id})
    outcome = services.segment_issue_coupon(
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
