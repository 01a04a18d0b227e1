"""Typed errors of segments."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound


class SegmentInvalid(InvalidInput):
    code = "segment_invalid"
    message = "人群规则不正确"


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    message = "人群不存在"


class SegmentNotMaterialised(Conflict):
    code = "segment_not_materialised"
    message = "人群还没有计算过，请先计算再发券"


class SegmentBusy(Conflict):
    code = "segment_busy"
    message = "人群规则正在被修改，请稍后重试"


class SegmentIssueKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "该幂等键已用于另一张券的发放"
