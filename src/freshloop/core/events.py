"""Domain events: facts one module announces and others react to, delivered after commit.

`publish()` never calls a handler while the writing transaction is open: handlers run once the
outermost transaction commits and not at all if it rolls back, so no listener ever sees a fact
that did not happen. Outside a transaction (autocommit) handlers run at once.

Three kinds of handler:
- plain (`@subscribe(E)`): best effort, called after commit in the committing process; lost if
  that process dies in between (fine for a screen refresh, a cache, a live counter);
- durable (`@subscribe(E, durable=True)`): the event is written as an effect row in the
  publishing transaction (`core.effects`) and delivered at least once, after a crash too. The
  handler must be idempotent. Use it for anything that must happen: the refund that follows an
  approval, a webhook. `background=True` runs it on the worker instead of in the committing
  request;
- in the transaction (`@subscribe(E, in_transaction=True)`): called at once, inside the
  publishing transaction, so its rows commit or roll back with the fact. Only for a handler
  whose whole effect is a few rows in our own database that some consumer reads idempotently
  later (the data hub's write-ahead buffer): never an outside call, and a failure fails the
  publishing transaction. Cheaper than an effect row when that is all the effect is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, cast

from django.db import transaction

from freshloop.core import clock
from freshloop.core.effects import effect_consumer, effect_enqueue, effects_enqueue

logger = logging.getLogger(__name__)


_event_classes: dict[str, type[DomainEvent]] = {}


def _origin(event_class: type) -> tuple[str, str]:
    return event_class.__module__, event_class.__qualname__


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base class. Subclasses are frozen dataclasses with a unique `name` like "OrderPaid"."""

    name: ClassVar[str] = "DomainEvent"
    occurred_at: dt.datetime = dataclasses.field(default_factory=clock.now)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Known by name, so a durable handler's row can be turned back into the event in
        # any process (the relay after a restart). Bases without a name of their own are
        # not events anyone publishes.
        if "name" in cls.__dict__:
            known = _event_classes.get(cls.name)
            if known is not None and _origin(known) != _origin(cls):
                raise TypeError(f"two domain events are named {cls.name!r}")
            _event_classes[cls.name] = cls

    def payload(self) -> dict[str, Any]:
        """The event's fields as JSON-ready values (datetimes as ISO strings)."""
        data = dataclasses.asdict(self)
        return {
            key: value.isoformat() if isinstance(value, dt.datetime) else value
            for key, value in data.items()
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DomainEvent:
        """The event back from `payload()` (a durable handler's row)."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in payload:
                continue
            value = payload[field.name]
            if hints.get(field.name) is dt.datetime and isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            values[field.name] = value
        return cls(**values)


EventT = TypeVar("EventT", bound=DomainEvent)
Handler = Callable[[Any], None]

_handlers: dict[type[DomainEvent], list[Handler]] = {}
_durable_handlers: dict[type[DomainEvent], list[str]] = {}
"""Per event type, the effect names of its durable handlers."""
_in_transaction_handlers: dict[type[DomainEvent], list[Handler]] = {}


def _effect_name(handler: Handler) -> str:
    return f"event:{handler.__module__}.{handler.__qualname__}"


def subscribe(
    event_type: type[EventT],
    *,
    durable: bool = False,
    background: bool = False,
    in_transaction: bool = False,
) -> Callable[[Callable[[EventT], None]], Callable[[EventT], None]]:
    """Register a handler for an event type; subscribing to DomainEvent receives every event.

    `durable=True` makes delivery survive a crash (see the module docstring); the handler
    must be idempotent, since a crash after it ran but before it was marked done repeats it.
    """

    def register(handler: Callable[[EventT], None]) -> Callable[[EventT], None]:
        if in_transaction:
            handlers = _in_transaction_handlers.setdefault(event_type, [])
            if handler not in handlers:
                handlers.append(handler)
            return handler
        if durable:
            name = _effect_name(handler)

            def consume(payload: dict[str, Any]) -> None:
                event_class = _event_classes[payload["event"]]
                handler(cast(EventT, event_class.from_payload(payload["fields"])))

            effect_consumer(name, background=background)(consume)
            names = _durable_handlers.setdefault(event_type, [])
            if name not in names:
                names.append(name)
            return handler
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
    durable = _durable_handlers.get(event_type, [])
    if _effect_name(handler) in durable:
        durable.remove(_effect_name(handler))
    in_transaction = _in_transaction_handlers.get(event_type, [])
    if handler in in_transaction:
        in_transaction.remove(handler)


def publish(event: DomainEvent, *, using: str | None = None) -> None:
    """Deliver `event` to its handlers after the current transaction commits; durable
    handlers' effects are written now, in that transaction, and in-transaction handlers run
    now."""
    for event_class in type(event).__mro__:
        for handler in list(_in_transaction_handlers.get(event_class, ())):
            handler(event)
    durable = [
        name
        for event_class in type(event).__mro__
        for name in _durable_handlers.get(event_class, ())
    ]
    if durable:
        payload = {"event": event.name, "fields": event.payload()}
        with transaction.atomic(using=using):
            if len(durable) == 1:
                effect_enqueue(name=durable[0], payload=payload)
            else:
                effects_enqueue(names=durable, payload=payload)
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
