"""Typed domain errors: a machine code, a Chinese message for people, an HTTP status.

The API renders every one of them as `{"code": ..., "message": ..., "detail": ...}`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Self


class DomainError(Exception):
    """Base for every error a user or client can cause. Subclasses set the class attributes."""

    code: ClassVar[str] = "domain_error"
    message: ClassVar[str] = "请求无法完成"
    status: ClassVar[int] = 400

    def __init__(self, message: str | None = None, *, detail: Any = None) -> None:
        self.text = message or self.message
        self.detail = detail
        super().__init__(self.text)

    def as_payload(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.text, "detail": self.detail}


def problems_message(problems: Sequence[dict[str, Any]], *, fallback: str) -> str:
    """The message of an error about fields: the first problem's sentence (it names the
    field, 请填写收货人手机号), and how many more there are in `detail`."""
    if not problems:
        return fallback
    message = str(problems[0]["message"])
    if len(problems) > 1:
        message += f"（另有 {len(problems) - 1} 处问题）"
    return message


class InvalidInput(DomainError):
    code = "invalid_input"
    message = "提交的内容有误，请检查后重试"
    status = 422

    @classmethod
    def for_fields(cls, problems: Sequence[tuple[str, str]]) -> Self:
        """Refuse named fields the way a 422 `validation_error` does: `detail` lists
        `{"field": "address.phone", "message": "请填写收货人手机号"}` per problem, and the
        message is the first sentence, so a form can show each next to its input."""
        listed = [{"field": field, "message": message} for field, message in problems]
        return cls(problems_message(listed, fallback=cls.message), detail=listed)


class NotFound(DomainError):
    code = "not_found"
    message = "资源不存在"
    status = 404


class PermissionDenied(DomainError):
    code = "permission_denied"
    message = "没有权限执行此操作"
    status = 403


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    message = "请先登录"
    status = 401


class Conflict(DomainError):
    code = "conflict"
    message = "操作与当前状态冲突"
    status = 409


def wait_phrase(seconds: int) -> tuple[int, str]:
    """Round a wait up to what a person is told, and say it: (120, "2 分钟").

    The rounded number is what `retry_after` carries, so the message and the machine-readable
    wait always agree.
    """
    if seconds <= 90:
        return seconds, f"{seconds} 秒"
    if seconds <= 90 * 60:
        minutes = math.ceil(seconds / 60)
        return minutes * 60, f"{minutes} 分钟"
    hours = math.ceil(seconds / 3600)
    return hours * 3600, f"{hours} 小时"


class RateLimited(DomainError):
    """429: the caller is told how long to wait, in the message and in `retry_after`.

    A message holding `{wait}` (or none: `wait_message`) gets the rounded wait filled in
    ("操作太频繁，请 45 秒后再试"), and `retry_after` carries the same rounded number, so the
    message, `retry_after` and the Retry-After header agree.
    """

    code = "rate_limited"
    message = "操作过于频繁，请稍后再试"
    wait_message: ClassVar[str] = "操作太频繁，请 {wait}后再试"
    status = 429

    def __init__(self, message: str | None = None, *, retry_after: int, detail: Any = None) -> None:
        text = self.wait_message if message is None else message
        if "{wait}" in text:
            retry_after, wait = wait_phrase(retry_after)
            text = text.replace("{wait}", wait)
        self.retry_after = retry_after
        super().__init__(text, detail={"retry_after": retry_after, **(detail or {})})


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    message = "请求内容过大"
    status = 413


class MalformedRequest(DomainError):
    code = "malformed_request"
    message = "请求格式不正确"
    status = 400


class ServiceUnavailable(DomainError):
    """A dependency (the database, Redis) does not answer: nothing the caller did is wrong,
    and the same request sent again after `retry_after` seconds may well succeed."""

    code = "service_unavailable"
    message = "服务暂时不可用，请稍后再试"
    status = 503
    default_retry_after: ClassVar[int] = 5

    def __init__(
        self, message: str | None = None, *, retry_after: int | None = None, detail: Any = None
    ) -> None:
        self.retry_after = retry_after if retry_after is not None else self.default_retry_after
        super().__init__(message, detail={"retry_after": self.retry_after, **(detail or {})})


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    message = "系统繁忙（数据库暂时无法连接），请稍后再试"


class RateLimiterUnavailable(ServiceUnavailable):
    """Redis, where the rate limits and login-code locks live, does not answer: refusing is
    safer than sending codes (SMS pumping) or checking passwords without a limit."""

    code = "rate_limiter_unavailable"
    message = "验证服务暂时不可用，请稍后再试"
