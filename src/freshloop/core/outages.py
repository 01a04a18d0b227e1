"""A dependency that does not answer is a 503 with `Retry-After`, not a 500 with a traceback.

When PostgreSQL restarts or Redis is down, every request that needs it fails the same way for
a few seconds. Those failures are not bugs: the client should wait and send the same request
again (with the same idempotency key), and the operator needs one line saying what is down,
not a traceback per request. This module decides which exceptions mean "a dependency is
unavailable" and turns them into the one error shape:

- the API (`/api/…`, or a client that asks for JSON): `{"code": "database_unavailable",
  "message": …, "detail": {"retry_after": 5}}`, status 503, `Retry-After: 5`;
- a page: a short Chinese 503 page with the same header.

Only connection-level failures count. An `IntegrityError`, a deadlock, a statement timeout or a
missing table is a real error of the request or of the code and stays what it was. Django
discards a broken connection at the end of the request (`close_if_unusable_or_obsolete`) and
opens a new one for the next, so service resumes by itself once the dependency is back.

Hooked in three places, so no path answers a 500 for an outage: the API's exception handlers
(`core.api`), the view-exception hook of `DependencyOutageMiddleware`, and `handler500` for
what fails in a middleware (a session saved on the way out).
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

from freshloop.core.errors import DatabaseUnavailable, ServiceUnavailable
from freshloop.core.http import domain_error_response

logger = logging.getLogger("freshloop.outage")

# SQLSTATE classes of a connection that is gone or refused: 08 connection exception,
# 57P01–57P05 operator intervention (admin / crash shutdown, cannot connect now, …),
# 53300 too many connections. psycopg reports a refused or dropped socket with no SQLSTATE.
_CONNECTION_SQLSTATES = ("08", "57P", "53300")
# SQLite's equivalents: another writer held the file past the busy timeout, or the file went.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")

# At most one warning per dependency per this many seconds and process; the line says how many
# more requests were refused since the last one.
LOG_EVERY_SECONDS = 10.0


def is_database_outage(exc: BaseException) -> bool:
    """Is `exc` the database being unreachable (rather than a query or data error)?"""
    if isinstance(exc, InterfaceError):
        return True  # "connection already closed": the socket went away under us
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if cause is not None and type(cause).__module__.startswith(("psycopg", "psycopg_pool")):
        sqlstate = getattr(cause, "sqlstate", None)
        return sqlstate is None or str(sqlstate).startswith(_CONNECTION_SQLSTATES)
    text = str(exc).lower()
    return any(marker in text for marker in _SQLITE_UNAVAILABLE)


REDIS_OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError)
"""What redis-py raises when the server does not answer (as opposed to a wrong command)."""


def is_redis_outage(exc: BaseException) -> bool:
    """Is `exc` Redis not answering (refused, reset, timed out, still loading)?"""
    return isinstance(exc, REDIS_OUTAGE_ERRORS)


def outage_error(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 to answer for `exc`, or None when it is not a dependency outage."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    if is_database_outage(exc):
        return DatabaseUnavailable()
    if is_redis_outage(exc):
        return ServiceUnavailable(detail={"dependency": "redis"})
    return None


class _OutageLog:
    """One concise warning line per dependency every LOG_EVERY_SECONDS, per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_logged: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def warn(
        self, error: ServiceUnavailable, exc: BaseException, request: HttpRequest | None = None
    ) -> None:
        now = time.monotonic()
        with self.lock:
            last = self.last_logged.get(error.code)
            if last is not None and now - last < LOG_EVERY_SECONDS:
                self.suppressed[error.code] = self.suppressed.get(error.code, 0) + 1
                return
            self.last_logged[error.code] = now
            suppressed = self.suppressed.pop(error.code, 0)
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        where = f"{request.method} {request.path}" if request is not None else "a request"
        logger.warning(
            "%s: answering 503 to %s (%s: %s)%s",
            error.code,
            where,
            type(exc).__name__,
            reason,
            f"; {suppressed} more refused since the last line" if suppressed else "",
        )


outage_log = _OutageLog()


def _wants_json(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _page(error: ServiceUnavailable) -> HttpResponse:
    # Rendered without the request: context processors would read the session and the user,
    # i.e. the very database that is down.
    html: str
    try:
        html = render_to_string("503.html", {"message": error.text})
    except TemplateDoesNotExist:  # pragma: no cover (the web module ships it)
        html = f"<!doctype html><meta charset=utf-8><h1>503</h1><p>{error.text}</p>"
    return HttpResponse(html, status=503, content_type="text/html; charset=utf-8")


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """A 503 for a dependency outage (logged as one throttled warning), else None."""
    error = outage_error(exc)
    if error is None:
        return None
    if not isinstance(exc, ServiceUnavailable):
        outage_log.warn(error, exc, request)
    response: HttpResponse = domain_error_response(error) if _wants_json(request) else _page(error)
    response["Retry-After"] = str(error.retry_after)
    response["Cache-Control"] = "no-store"
    # Django logs every 5xx again, with the traceback when there is one: the line above said it.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
