"""Reading the event store: the store this process uses, and the day arithmetic every
analytics query shares. Queries read the `*_resolved` views (see `eventstore.store`)."""

from __future__ import annotations

from freshloop.datahub.eventstore.store import EventStore, business_day, event_store, to_naive_utc

__all__ = ["EventStore", "business_day", "event_store", "to_naive_utc"]
