"""Request id and body size limit, both usable under ASGI (uvicorn) and WSGI (tests)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware

from freshloop.core.errors import MalformedRequest, PayloadTooLarge
from freshloop.core.http import STATUS_ERRORS, domain_error_response, error_response
from freshloop.core.logging import client_ip_var, request_id_var
from freshloop.core.net import client_ip as client_ip  # the one client-IP function, re-exported
from freshloop.core.outages import outage_response

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class _BothStacks:
    """Runs natively in both sync and async stacks so uvicorn never hops threads for it: async
    exactly when the rest of the chain (`get_response`) is."""

    sync_capable = True
    async_capable = True
    is_async: bool

    # For the type checker only: `markcoroutinefunction(self)` wants a callable, and every
    # subclass defines (or inherits) the real `__call__`.
    if TYPE_CHECKING:

        def __call__(self, request: HttpRequest) -> Any: ...

    def _adopt_mode(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)


class _DualModeMiddleware(_BothStacks):
    """A middleware as two hooks: `before` may answer early, `after` may replace the response."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._adopt_mode(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        early = self.before(request)
        response = early if early is not None else self.get_response(request)
        return self.after(request, response)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        early = self.before(request)
        response = early if early is not None else await self.get_response(request)
        return self.after(request, response)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response


class RequestIdMiddleware(_DualModeMiddleware):
    """Tags the request, its logs and its audit rows with one id; echoes it as X-Request-ID."""

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Tokens let `after` restore the previous values: server threads are reused, and a
        # stale id would tag the next, unrelated log line.
        request._freshloop_context_tokens = (  # type: ignore[attr-defined]
            request_id_var.set(request_id),
            client_ip_var.set(client_ip(request)),
        )
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response["X-Request-ID"] = getattr(request, "request_id", "")
        tokens = getattr(request, "_freshloop_context_tokens", None)
        if tokens is not None:
            request_token, ip_token = tokens
            try:
                request_id_var.reset(request_token)
                client_ip_var.reset(ip_token)
            except ValueError:
                # The response finished in another context (async hand-off); nothing to undo here.
                pass
        return response


ADMIN_UPLOAD_BODY_BYTES = 12 * 1024 * 1024
UPLOAD_PATHS = ("/admin/", "/console/food/trace/")
"""Where bodies may reach ADMIN_UPLOAD_BODY_BYTES: pages that take picture and video uploads."""


class BodySizeLimitMiddleware(_DualModeMiddleware):
    """Refuses bodies over FRESHLOOP_MAX_BODY_BYTES with a JSON 413 before any view parses them.

    A declared Content-Length is checked without reading; a chunked body (no length) is read
    at most one byte past the limit, and what was read is kept as the request body.
    """

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if request.method not in _BODY_METHODS:
            return None
        limit = settings.FRESHLOOP.max_body_bytes
        if request.path.startswith(UPLOAD_PATHS):
            # The back office (and the console's upload pages) send pictures of up to 10 MB
            # (core/images.py) plus the form.
            limit = max(limit, ADMIN_UPLOAD_BODY_BYTES)
        too_large = PayloadTooLarge(detail={"max_bytes": limit})
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return domain_error_response(MalformedRequest("Content-Length 无效"))
            return domain_error_response(too_large) if length > limit else None
        if request.headers.get("Content-Type", "").startswith("multipart/"):
            return None
        data = request.read(limit + 1)
        if len(data) > limit:
            return domain_error_response(too_large)
        request._body = data
        return None


# A NUL inside a JSON string: `\u0000` not itself escaped (`\\u0000` is the text "\u0000").
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
# Endpoints that answer a NUL in their JSON themselves, per field or per event, with their own
# codes: the data hub's batch ingestion refuses one event and keeps the rest; a segment
# definition answers `segment_invalid`.
_OWN_NUL_HANDLING = ("/api/v1/track", "/api/v1/segments")


def _nul_in_json(value: Any, path: str = "") -> str | None:
    """The path (`items[0].name`) of the first text holding a NUL, in keys or values."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            step = f"{path}.{key}" if path else str(key)
            found = step if "\x00" in str(key) else _nul_in_json(item, step)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in_json(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _nul_field(request: HttpRequest) -> str | None:
    """The query parameter, JSON field (or "path") that carries a NUL character, if any."""
    if "\x00" in request.path:
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return name.replace("\x00", "") or "query"
    if request.method not in _BODY_METHODS or request.path.startswith(_OWN_NUL_HANDLING):
        return None
    if "json" in request.headers.get("Content-Type", "") and _JSON_NUL.search(request.body):
        try:
            return _nul_in_json(json.loads(request.body))
        except ValueError:
            return None  # not JSON after all: the parser answers it
    return None


class NulCharacterMiddleware(_DualModeMiddleware):
    """Refuses a NUL character in the path, a query parameter or a JSON body's text with a 422
    `validation_error` naming the parameter or field.

    No text anyone types has one, and PostgreSQL refuses NUL in every text column, so such a
    value reaching a query was a 500 (the API fuzzer found `?chat_id=…%00…`). Checked once
    here instead of in every view and schema. Form bodies are left to Django's form fields,
    which refuse NUL themselves, and the endpoints in `_OWN_NUL_HANDLING` answer it with their
    own codes.
    """

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        field = _nul_field(request)
        if field is None:
            return None
        message = f"{field} 不能包含空字符（\\0）"
        problem = {"field": field, "message": message, "type": "string_nul"}
        return error_response(422, STATUS_ERRORS[422][0], message, [problem])


class ApiErrorShapeMiddleware(_DualModeMiddleware):
    """Gives every non-JSON error under /api/ (unknown route, wrong method, CSRF) the JSON shape.

    Errors raised inside the API already have it; this catches the ones Django produces
    before or around the API, so clients never have to parse an HTML error page.
    """

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.status_code < 400 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code, message = STATUS_ERRORS.get(response.status_code, ("http_error", "请求失败"))
        shaped = error_response(response.status_code, code, message, {"path": request.path})
        if response.has_header("Allow"):
            shaped["Allow"] = response["Allow"]
        return shaped


class DependencyOutageMiddleware(_DualModeMiddleware):
    """A view that fails because the database or Redis does not answer gets a 503 with
    Retry-After (JSON for the API, a short page otherwise) and one throttled warning line,
    instead of a 500 and a traceback per request (core.outages). Failures in a middleware
    reach `handler500`, which answers the same way."""

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        return outage_response(request, exception)


def close_request_connections() -> None:
    for database in connections.all(initialized_only=True):
        if not database.in_atomic_block:
            database.close()


class AsgiCloseConnectionsMiddleware(_BothStacks):
    """Close the request's database connections in the context that opened them (ASGI only).

    Under ASGI, Django runs the middleware chain in a task whose context is a copy of the
    handler's, and `request_finished` (which closes connections) is sent from the handler's own
    context, where connections opened for the request are invisible: each request would leave
    one open until garbage collection, and PostgreSQL runs out of slots under load. This
    middleware runs inside that task: after the response is produced it closes them with
    `sync_to_async` (thread-sensitive: the same thread the sync view used). Persistent
    connections (CONN_MAX_AGE) cannot be reused across ASGI requests for the same reason, so
    they are closed too. The server no longer serves plain requests through Django's ASGI
    handler (config/asgi.py: WSGI on threads, with Django's connection pool on PostgreSQL), so
    this matters only where that handler is still used (ASGI test servers, a deployment that
    runs `django.core.asgi` directly). WSGI is left alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._adopt_mode(get_response)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        try:
            return self.get_response(request)
        finally:
            if isinstance(request, ASGIRequest):
                close_request_connections()

    async def _acall(self, request: HttpRequest) -> Any:
        try:
            return await self.get_response(request)
        finally:
            # In the request's own sync thread (thread-sensitive), where its connections live.
            await sync_to_async(close_request_connections)()


class StaticFilesMiddleware(_BothStacks, WhiteNoiseMiddleware):
    """WhiteNoise, able to run in an async middleware chain.

    WhiteNoise itself is sync-only, and one sync-only middleware makes Django run every request
    of an ASGI server through a per-request thread — including the live room's event streams,
    which then each hold an idle thread for as long as the viewer watches. Here only a static
    file is served in a thread; everything else passes straight through.
    """

    def __init__(
        self, get_response: Callable[[HttpRequest], Any], settings: Any = settings
    ) -> None:
        super().__init__(get_response, settings=settings)
        self._adopt_mode(get_response)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> Any:
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(
                request.path_info
            )
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)
