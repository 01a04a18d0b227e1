"""Typed errors of the event store."""

from __future__ import annotations

from freshloop.core.errors import DomainError


class EventStoreBusy(DomainError):
    code = "event_store_busy"
    message = "事件库正忙，请稍后重试"
    status = 503
