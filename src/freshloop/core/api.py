"""API plumbing shared by every module's router: the error format, its documentation in
OpenAPI, and caller authentication."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from freshloop.core.api_errors import ErrorDocumentedSchema
from freshloop.core.apikeys import api_key_authenticate
from freshloop.core.audit import Actor
from freshloop.core.errors import (
    DomainError,
    MalformedRequest,
    NotAuthenticated,
    PermissionDenied,
)
from freshloop.core.http import STATUS_ERRORS, domain_error_response, error_response
from freshloop.core.models import ApiKey
from freshloop.core.permissions import Role, require_role

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


class FreshLoopAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document lists every operation's error codes (core.api_errors)."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> ErrorDocumentedSchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        return ErrorDocumentedSchema(self, path_prefix)


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


# --- authentication for server-side callers and operators ---------------------------------


class ApiKeyAuth(AuthBase):
    """`Authorization: Bearer flk_…` or `X-Api-Key: flk_…` holding `scope`.

    Returns None when no key is presented so the next auth method (an operator session) can
    try; a presented but wrong key is an error at once.
    """

    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "X-Api-Key"
    declared_errors: ClassVar[tuple[type[DomainError], ...]] = (NotAuthenticated, PermissionDenied)

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        raw = request.headers.get("X-Api-Key", "")
        header = request.headers.get("Authorization", "")
        if not raw and header.lower().startswith("bearer flk_"):
            raw = header[7:].strip()
        if not raw:
            return None
        return api_key_authenticate(raw, scope=self.scope)


class OperatorAuth(AuthBase):
    """A logged-in back-office user holding one of `roles` (admins always pass); CSRF-checked
    for writes because it rides on the session cookie."""

    openapi_type = "apiKey"
    openapi_in = "cookie"
    openapi_name = "sessionid"
    declared_errors: ClassVar[tuple[type[DomainError], ...]] = (
        NotAuthenticated,
        PermissionDenied,
        MalformedRequest,
    )

    def __init__(self, *roles: Role) -> None:
        self.roles = roles
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in {"GET", "HEAD", "OPTIONS"} and self._csrf_failed(request):
            raise PermissionDenied("CSRF 校验失败，请刷新页面后重试")
        require_role(user, *self.roles)
        return user

    @staticmethod
    def _csrf_failed(request: HttpRequest) -> bool:
        """Django's CSRF check reads `request.POST` (for `csrfmiddlewaretoken`), which parses a
        multipart or urlencoded body and raises on a broken boundary or too many fields: that is
        the client's malformed request (400), not a server error."""
        try:
            return check_csrf(request) is not None
        except RequestDataTooBig:
            raise  # rendered as 413
        except (MultiPartParserError, SuspiciousOperation) as error:
            raise MalformedRequest(
                "请求体格式不正确，请以 JSON 发送",
                detail={"content_type": (request.content_type or "")[:100]},
            ) from error


def request_actor(request: HttpRequest) -> Actor:
    """Who is calling: an API key (by name) or an operator."""
    principal = getattr(request, "auth", None)
    if isinstance(principal, ApiKey):
        return Actor(type="api_key", id=str(principal.pk), label=f"api:{principal.name}")
    return Actor.for_user(request.user)
