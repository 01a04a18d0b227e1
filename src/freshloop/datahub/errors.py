"""Typed errors of the data hub (ingestion, segments, dashboards)."""

from __future__ import annotations

from freshloop.core.errors import DomainError, InvalidInput, NotAuthenticated, PayloadTooLarge


class WriteKeyInvalid(NotAuthenticated):
    code = "write_key_invalid"
    message = "写入密钥无效或已停用"


class BatchTooLarge(PayloadTooLarge):
    code = "batch_too_large"
    message = "一批最多 1000 个事件"


class BatchMalformed(DomainError):
    code = "batch_malformed"
    message = '请求体应为 JSON：{"batch": [事件, ...]}'
    status = 400


class AllEventsRejected(InvalidInput):
    code = "all_events_rejected"
    message = "这一批事件全部未通过校验"


class EventStoreBusy(DomainError):
    code = "event_store_busy"
    message = "事件库正忙，请稍后重试"
    status = 503


class SegmentInvalid(InvalidInput):
    code = "segment_invalid"
    message = "人群规则不正确"
