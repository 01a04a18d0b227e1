"""Request-scoped context (request id, client IP) for logs and audit records."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("freshloop_request_id", default="-")
client_ip_var: ContextVar[str | None] = ContextVar("freshloop_client_ip", default=None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record so text and JSON formats can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class DependencyOutageFilter(logging.Filter):
    """A database or Redis that does not answer is one line, not a traceback per attempt.

    While a dependency is down, every request, job poll and flush fails the same way — huey's
    consumer alone logs a traceback several times a second while Redis is away. Records
    carrying such an exception lose the traceback (the exception's first line is appended to
    the message instead), and the same logger repeats it at most once every
    `core.outages.LOG_EVERY_SECONDS`, saying how many it held back. Anything else passes as is.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_logged: dict[tuple[str, str], float] = {}
        self.suppressed: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        # Imported here: logging is configured before the apps are ready.
        from freshloop.core.outages import (
            LOG_EVERY_SECONDS,
            is_database_outage,
            is_redis_outage,
        )

        # The outage may sit under what was logged (a DeliveryError raised from it): follow the
        # chain a few links down.
        cause: BaseException | None = record.exc_info[1]
        for _ in range(5):
            if cause is None or is_database_outage(cause) or is_redis_outage(cause):
                break
            cause = cause.__cause__ or cause.__context__
        if cause is None or not (is_database_outage(cause) or is_redis_outage(cause)):
            return True
        key = (record.name, type(cause).__name__)
        now = time.monotonic()
        last = self.last_logged.get(key)
        if last is not None and now - last < LOG_EVERY_SECONDS:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        self.last_logged[key] = now
        held_back = self.suppressed.pop(key, 0)
        reason = (str(cause).strip().splitlines() or [""])[0][:200]
        record.msg = f"{record.getMessage()} ({type(cause).__name__}: {reason})" + (
            f"; {held_back} more like it since the last line" if held_back else ""
        )
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True
