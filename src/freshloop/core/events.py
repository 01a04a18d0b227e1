"""Domain events: facts one module announces and others react to, delivered after commit.

`publish()` never calls a handler while the writing transaction is open: handlers run once the
outermost transaction commits and not at all if it rolls back, so no listener ever sees a fact
that did not happen. Outside a transaction (autocommit) handlers run at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from django.db import transaction

from freshloop.core import clock

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base class. Subclasses are frozen dataclasses with a unique `name` like "OrderPaid"."""

    name: ClassVar[str] = "DomainEvent"
    occurred_at: dt.datetime = dataclasses.field(default_factory=clock.now)

    def payload(self) -> dict[str, Any]:
        """The event's fields as JSON-ready values (datetimes as ISO strings)."""
        data = dataclasses.asdict(self)
        return {
            key: value.isoformat() if isinstance(value, dt.datetime) else value
            for key, value in data.items()
        }


EventT = TypeVar("EventT", bound=DomainEvent)
Handler = Callable[[Any], None]

_handlers: dict[type[DomainEvent], list[Handler]] = {}


def subscribe(
    event_type: type[EventT],
) -> Callable[[Callable[[EventT], None]], Callable[[EventT], None]]:
    """Register a handler for an event type; subscribing to DomainEvent receives every event."""

    def register(handler: Callable[[EventT], None]) -> Callable[[EventT], None]:
        handlers = _handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)
        return handler

    return register


def unsubscribe(event_type: type[DomainEvent], handler: Handler) -> None:
    """Remove a handler (tests and plug-ins that unload)."""
    handlers = _handlers.get(event_type, [])
    if handler in handlers:
        handlers.remove(handler)


def publish(event: DomainEvent, *, using: str | None = None) -> None:
    """Deliver `event` to its handlers after the current transaction commits."""
    transaction.on_commit(lambda: dispatch(event), using=using)


def dispatch(event: DomainEvent) -> None:
    """Call every handler registered for the event's class or any of its bases, in MRO order.

    Each handler is isolated: the transaction that produced the event has already committed,
    so a failing listener cannot undo it and must not stop the other listeners. The failure
    is logged with its traceback; listeners that need retries enqueue a huey job instead.
    """
    for event_class in type(event).__mro__:
        for handler in list(_handlers.get(event_class, [])):
            try:
                handler(event)
            except Exception:
                logger.exception("handler %r failed for event %s", handler, event.name)
