"""The one JSON error shape every API failure uses: {"code", "message", "detail"}."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from freshloop.core.errors import DomainError

# Default machine code and Chinese message per HTTP status, for errors that carry no own code.
STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("malformed_request", "请求格式不正确"),
    401: ("not_authenticated", "请先登录"),
    403: ("permission_denied", "没有权限执行此操作"),
    404: ("not_found", "接口或资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "请求内容过大"),
    422: ("validation_error", "提交的内容有误，请检查后重试"),
    429: ("rate_limited", "操作过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误，请稍后再试"),
    503: ("service_unavailable", "服务暂时不可用，请稍后再试"),
}


def error_response(status: int, code: str, message: str, detail: Any = None) -> JsonResponse:
    response = JsonResponse(
        {"code": code, "message": message, "detail": detail},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )
    if status in (429, 503) and isinstance(detail, dict) and "retry_after" in detail:
        response["Retry-After"] = str(detail["retry_after"])
    return response


def domain_error_response(error: DomainError) -> JsonResponse:
    return error_response(error.status, error.code, error.text, error.detail)
