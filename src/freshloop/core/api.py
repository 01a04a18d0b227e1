"""API plumbing shared by every module's router: the error format and consumer/operator auth."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from freshloop.core.errors import DomainError
from freshloop.core.http import STATUS_ERRORS, domain_error_response, error_response

logger = logging.getLogger(__name__)


def _clean_validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors can carry exception objects in `ctx`; keep what a client can act on."""
    cleaned: list[dict[str, Any]] = []
    for error in errors:
        if not isinstance(error, dict):
            cleaned.append({"msg": str(error)})
            continue
        cleaned.append(
            {
                "loc": [str(part) for part in error.get("loc", [])],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return cleaned


def install_error_handlers(api: NinjaAPI) -> None:
    """Render every failure as {"code", "message", "detail"} with a fitting status."""

    def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return domain_error_response(exc)

    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        code, message = STATUS_ERRORS[422]
        return error_response(422, code, message, _clean_validation_errors(list(exc.errors)))

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code, message = STATUS_ERRORS.get(exc.status_code, ("http_error", "请求失败"))
        if exc.status_code == 400 and "parse" in str(exc).lower():
            message = "请求体不是有效的 JSON"
        return error_response(exc.status_code, code, message, str(exc))

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        code, message = STATUS_ERRORS[404]
        return error_response(404, code, message, None)

    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        code, message = STATUS_ERRORS[413]
        return error_response(413, code, message, None)

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        code, message = STATUS_ERRORS[500]
        return error_response(
            500, code, message, {"request_id": getattr(request, "request_id", "")}
        )

    handlers: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
        (DomainError, on_domain_error),
        (ValidationError, on_validation_error),
        (HttpError, on_http_error),
        (Http404, on_not_found),
        (RequestDataTooBig, on_too_big),
        (Exception, on_unexpected),
    ]
    for exception_class, handler in handlers:
        api.add_exception_handler(exception_class, handler)
