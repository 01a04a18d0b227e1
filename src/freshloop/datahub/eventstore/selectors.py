"""Reading the event store: the store this process uses, and the day arithmetic every
analytics query shares. Queries read the `*_resolved` views (see `eventstore.store`)."""

from __future__ import annotations

from freshloop.datahub.eventstore.store import (
    EVENT_SCHEMA,
    ORDER_ITEM_SCHEMA,
    EventStore,
    business_day,
    event_store,
    to_naive_utc,
)

# The row schemas, for code that loads events in bulk (the intelligence benchmarks' synthetic
# brand) through `EventStore.append`, as the flusher does.
__all__ = [
    "EVENT_SCHEMA",
    "ORDER_ITEM_SCHEMA",
    "EventStore",
    "business_day",
    "event_store",
    "to_naive_utc",
]
