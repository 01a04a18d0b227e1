"""Request id and body size limit, both usable under ASGI (uvicorn) and WSGI (tests)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponseBase

from freshloop.core.errors import MalformedRequest, PayloadTooLarge
from freshloop.core.http import STATUS_ERRORS, domain_error_response, error_response
from freshloop.core.logging import client_ip_var, request_id_var

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def client_ip(request: HttpRequest) -> str | None:
    """The caller's IP: REMOTE_ADDR, or X-Forwarded-For counted from the right past trusted proxies."""
    hops = settings.FRESHLOOP.trusted_proxy_hops
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


class _DualModeMiddleware:
    """Runs natively in both sync and async stacks so uvicorn never hops threads for it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

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


class BodySizeLimitMiddleware(_DualModeMiddleware):
    """Refuses bodies over FRESHLOOP_MAX_BODY_BYTES with a JSON 413 before any view parses them.

    A declared Content-Length is checked without reading; a chunked body (no length) is read
    at most one byte past the limit, and what was read is kept as the request body.
    """

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if request.method not in _BODY_METHODS:
            return None
        limit = settings.FRESHLOOP.max_body_bytes
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


class AsgiCloseConnectionsMiddleware:
    """Close the request's database connection where the view used it (ASGI only).

    Under ASGI, Django runs a sync view in a task whose context is a copy of the handler's, and
    `request_finished` (which closes connections) is sent from the handler's own context, where
    the view's connection is invisible: each request would leave an open connection behind until
    garbage collection, and PostgreSQL runs out of connection slots under load. Running last in
    the chain, sync-only, this middleware shares the view's thread and context, so it can close
    what the view opened. Persistent connections (CONN_MAX_AGE) cannot be reused across ASGI
    requests for the same reason, so they are closed too; pooling belongs in front of the
    database (pgbouncer) or in psycopg's pool. WSGI (the test client, the live test server) is
    left alone.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        try:
            return self.get_response(request)
        finally:
            if isinstance(request, ASGIRequest):
                for database in connections.all(initialized_only=True):
                    if not database.in_atomic_block:
                        database.close()
