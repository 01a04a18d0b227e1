"""Typed errors of ingestion (the `track` door and its write keys), and the problem record
validation reports for one field of one event."""

from __future__ import annotations

import dataclasses

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


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One problem with one field of one event (not raised: a batch answers every problem of
    every event at once, in `TrackOut.errors`)."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}
