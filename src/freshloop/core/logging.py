"""Request-scoped context (request id, client IP) for logs and audit records."""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("freshloop_request_id", default="-")
client_ip_var: ContextVar[str | None] = ContextVar("freshloop_client_ip", default=None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record so text and JSON formats can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
