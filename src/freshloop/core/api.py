"""API plumbing shared by every module's router: the error format, its documentation in
OpenAPI, and caller authentication."""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import redis
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError, ValidationErrorContext
from ninja.security.base import AuthBase
from ninja.utils import check_csrf
from pydantic import BaseModel

from freshloop.core.api_errors import ErrorDocumentedSchema
from freshloop.core.apikeys import api_key_authenticate
from freshloop.core.audit import Actor
from freshloop.core.errors import (
    DomainError,
    MalformedRequest,
    NotAuthenticated,
    PermissionDenied,
    problems_message,
)
from freshloop.core.http import STATUS_ERRORS, domain_error_response, error_response
from freshloop.core.models import ApiKey
from freshloop.core.outages import outage_response
from freshloop.core.permissions import Role, require_role

logger = logging.getLogger(__name__)


# Where a value came from, as ninja names it first in `loc`; a body schema is a view parameter
# named `body` by the house convention, which ninja repeats next (`["body", "body", "items"]`).
_PARAMETER_SOURCES = frozenset({"body", "query", "path", "header", "cookie", "form", "file"})

# Pydantic's error types as Chinese sentences for the person filling the form: `{label}` is
# the field's Chinese name (its schema `title`, see `field_label`), the other `{…}` come from
# the error's `ctx`. Anything not listed is "{label}格式不正确".
_PROBLEMS: dict[str, str] = {
    "extra_forbidden": "未知字段 {field}",
    "missing": "请填写{label}",
    "model_attributes_type": "{label}应为 JSON 对象",
    "model_type": "{label}应为 JSON 对象",
    "dict_type": "{label}应为 JSON 对象",
    "list_type": "{label}应为列表",
    "string_type": "{label}应为文字",
    "int_type": "{label}应为整数",
    "int_parsing": "{label}应为整数",
    "int_from_float": "{label}应为整数",
    "float_type": "{label}应为数字",
    "float_parsing": "{label}应为数字",
    "bool_type": "{label}应为 true 或 false",
    "bool_parsing": "{label}应为 true 或 false",
    "datetime_type": "{label}应为 ISO 8601 时间，如 2026-01-01T08:00:00+08:00",
    "datetime_parsing": "{label}应为 ISO 8601 时间，如 2026-01-01T08:00:00+08:00",
    "datetime_from_date_parsing": "{label}应为 ISO 8601 时间，如 2026-01-01T08:00:00+08:00",
    "timezone_aware": "{label}需要带时区",
    "greater_than": "{label}应大于 {gt}",
    "greater_than_equal": "{label}不能小于 {ge}",
    "less_than": "{label}应小于 {lt}",
    "less_than_equal": "{label}不能大于 {le}",
    "string_too_short": "{label}至少 {min_length} 个字",
    "string_too_long": "{label}最多 {max_length} 个字",
    "too_short": "{label}至少 {min_length} 项",
    "too_long": "{label}最多 {max_length} 项",
    "string_pattern_mismatch": "{label}格式不正确",
    "literal_error": "{label}应为 {expected} 之一",
    "enum": "{label}应为 {expected} 之一",
    "address_choice": "请填写收货地址，或选择地址簿中的一个地址（二者只能选一个）",
}
_DEFAULT_PROBLEM = "{label}格式不正确"
_BODY_LABEL = "请求体"


def _field_path(loc: list[str]) -> str:
    """`["body", "body", "items", "0", "zz"]` → `items[0].zz`; "" for the body itself."""
    parts = _field_steps(loc)
    path = ""
    for part in parts:
        if part.isdigit():
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _field_steps(loc: list[str]) -> list[str]:
    parts = list(loc)
    if parts and parts[0] in _PARAMETER_SOURCES:
        source = parts.pop(0)
        if source == "body" and parts[:1] == ["body"]:
            parts.pop(0)
    return parts


def _annotation_options(annotation: Any) -> list[Any]:
    """`X | None`, `Annotated[X, …]`, `Optional[X]` → the types a value may be."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _annotation_options(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [
            option
            for arg in typing.get_args(annotation)
            if arg is not type(None)
            for option in _annotation_options(arg)
        ]
    return [annotation]


def field_label(model: Any, loc: Sequence[str | int]) -> str | None:
    """The Chinese name of the field at `loc` (pydantic's loc inside ninja's parameter
    `model`), from the schemas' `Field(title=...)`. A nested object's field goes by its own
    title (`address.phone` → 收货人手机号: titles are written to stand alone); an item of a
    list is counted (`items[0]` → 第 1 项商品, `items[0].quantity` → 第 1 项商品的购买数量).
    None when a field on the way has no title (the caller then names the path)."""
    annotation: Any = model
    title, scope, label = "", "", ""
    for depth, step in enumerate(loc):
        options = _annotation_options(annotation)
        if isinstance(step, int) or (isinstance(step, str) and step.isdigit()):
            sequences = [
                option
                for option in options
                if typing.get_origin(option) in (list, tuple, set, frozenset)
            ]
            if not sequences or not title:
                return label or None
            counted = f"第 {int(step) + 1} 项{title}"
            scope = label = f"{scope}的{counted}" if scope else counted
            args = typing.get_args(sequences[0])
            annotation = args[0] if args else Any
            continue
        models = [
            option
            for option in options
            if isinstance(option, type)
            and issubclass(option, BaseModel)
            and str(step) in option.model_fields
        ]
        if not models:
            mappings = [option for option in options if typing.get_origin(option) is dict]
            if mappings and label:
                label = f"{label}中的 {step}"
                annotation = typing.get_args(mappings[0])[-1]
            # else a union member's tag or a validator's name: not a field, nothing to add
            continue
        info = models[0].model_fields[str(step)]
        annotation = info.annotation
        if info.title:
            title = info.title
            label = f"{scope}的{title}" if scope else title
        elif depth > 0:
            return None
        # depth 0 is ninja's model of the view's parameters (`body`): no title of its own
    return label or None


def _problem(
    error_type: str,
    field: str,
    context: dict[str, Any],
    *,
    label: str | None = None,
    blank: bool = False,
) -> str:
    """One problem as a Chinese sentence naming the field by its title (请求体 when the body
    itself is wrong; the path, as 参数 limit, only for a parameter without a title)."""
    if label is None:
        label = f"参数 {field}" if field else _BODY_LABEL
    if error_type == "missing" and not field:
        return "缺少请求体（JSON 对象）"
    if error_type == "string_too_short" and (blank or context.get("min_length") == 1):
        error_type = "missing"  # "" or "   " for a required text: not filled in
    if isinstance(context.get("expected"), str):  # "'h5', 'jsapi' or 'native'"
        context = {**context, "expected": context["expected"].replace(" or ", ", ")}
    values = {**context, "field": field or _BODY_LABEL, "label": label}
    try:
        return _PROBLEMS.get(error_type, _DEFAULT_PROBLEM).format(**values)
    except (KeyError, IndexError, ValueError):
        return _DEFAULT_PROBLEM.format(label=label)


def _clean_validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors can carry exception objects in `ctx`; keep what a client can act on:
    `loc`, `msg`, `type` as pydantic says them, plus `field` (a path such as `items[0].sku_id`)
    and a Chinese `message`, a sentence that names the field by its title."""
    cleaned: list[dict[str, Any]] = []
    for error in errors:
        if not isinstance(error, dict):
            cleaned.append({"msg": str(error), "field": "", "message": "请求体格式不正确"})
            continue
        loc = [str(part) for part in error.get("loc", [])]
        error_type = str(error.get("type", ""))
        context = {str(k): v for k, v in dict(error.get("ctx") or {}).items()}
        field = _field_path(loc)
        label = error.get("label")
        cleaned.append(
            {
                "loc": loc,
                "msg": str(error.get("msg", "")),
                "type": error_type,
                "field": field,
                "message": _problem(
                    error_type,
                    field,
                    context,
                    label=str(label) if label else None,
                    blank=bool(error.get("blank")),
                ),
            }
        )
    # Unknown keys first: a misspelt key (`coupon_idz`) is usually what the other problems
    # (`coupon_ids` missing) come from, so it is the one the message should name.
    return sorted(cleaned, key=lambda problem: problem.get("type") != "extra_forbidden")


def validation_message(problems: list[dict[str, Any]]) -> str:
    """The envelope's message: the first problem's sentence, and how many more."""
    return problems_message(problems, fallback=STATUS_ERRORS[422][1])


class FreshLoopAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document lists every operation's error codes (core.api_errors)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._openapi_schemas: dict[str, ErrorDocumentedSchema] = {}

    def validation_error_from_error_contexts(
        self, error_contexts: list[ValidationErrorContext[Any]]
    ) -> ValidationError:
        """Ninja's errors, each with the Chinese `label` of its field (from the model that
        failed, which is only known here) and whether the value was `blank` text; the
        handler turns them into sentences (`_clean_validation_errors`)."""
        errors: list[dict[str, Any]] = []
        for context in error_contexts:
            model = context.model
            for error in context.pydantic_validation_error.errors(include_url=False):
                raw_loc = tuple(error["loc"])
                item: dict[str, Any] = dict(error)
                flat_loc = model.__ninja_flatten_map_reverse__.get(raw_loc, raw_loc)
                item["loc"] = (model.__ninja_param_source__, *flat_loc)
                value = item.pop("input", None)
                item["blank"] = isinstance(value, str) and not value.strip()
                item["label"] = field_label(model, raw_loc)
                ctx = item.get("ctx")
                if isinstance(ctx, dict) and isinstance(ctx.get("error"), Exception):
                    item["ctx"] = {**ctx, "error": str(ctx["error"])}
                errors.append(item)
        return ValidationError(errors)

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> ErrorDocumentedSchema:
        """Built once per process and prefix: the routes are fixed once the URLconf is loaded,
        and building the document walks every operation's schemas (about 60 ms, which made
        /api/v1/openapi.json the slowest page a client fetches)."""
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        schema = self._openapi_schemas.get(path_prefix)
        if schema is None:
            schema = self._openapi_schemas[path_prefix] = ErrorDocumentedSchema(self, path_prefix)
        return schema


def install_error_handlers(api: NinjaAPI) -> None:
    """Render every failure as {"code", "message", "detail"} with a fitting status."""

    def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return domain_error_response(exc)

    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        problems = _clean_validation_errors(list(exc.errors))
        return error_response(422, STATUS_ERRORS[422][0], validation_message(problems), problems)

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

    def on_dependency_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        # 503 with Retry-After when the database or Redis does not answer (core.outages);
        # any other database or Redis error is a bug like any other.
        return outage_response(request, exc) or on_unexpected(request, exc)

    handlers: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
        (DomainError, on_domain_error),
        (OperationalError, on_dependency_error),
        (InterfaceError, on_dependency_error),
        (redis.ConnectionError, on_dependency_error),
        (redis.TimeoutError, on_dependency_error),
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
        if request.method not in {"GET", "HEAD", "OPTIONS"}:
            csrf_check(request)
        require_role(user, *self.roles)
        return user


def csrf_check(request: HttpRequest) -> None:
    """Django's CSRF check for a cookie-authenticated write (403 when it fails). It reads
    `request.POST` (for `csrfmiddlewaretoken`), which parses a multipart or urlencoded body
    and raises on a broken boundary or too many fields: that is the client's malformed request
    (400), not a server error."""
    try:
        failed = check_csrf(request) is not None
    except RequestDataTooBig:
        raise  # rendered as 413
    except (MultiPartParserError, SuspiciousOperation) as error:
        raise MalformedRequest(
            "请求体格式不正确，请以 JSON 发送",
            detail={"content_type": (request.content_type or "")[:100]},
        ) from error
    if failed:
        raise PermissionDenied("CSRF 校验失败，请刷新页面后重试")


def request_actor(request: HttpRequest) -> Actor:
    """Who is calling: an API key (by name) or an operator."""
    principal = getattr(request, "auth", None)
    if isinstance(principal, ApiKey):
        return Actor(type="api_key", id=str(principal.pk), label=f"api:{principal.name}")
    return Actor.for_user(request.user)
