"""Typed helpers for intelligence tests: events written straight into the event store, as the
flusher writes them (the models only ever read the store)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import numpy as np
import pyarrow as pa

from freshloop.datahub.eventstore.selectors import (
    EVENT_SCHEMA,
    EventStore,
    business_day,
    to_naive_utc,
)
from freshloop.intelligence.synthetic import SyntheticBrand, synthetic_brand, synthetic_events

_numbers = itertools.count(1)


def event_row(
    name: str,
    *,
    person_id: int,
    at: dt.datetime,
    channel: str = "shop",
    amount_fen: int | None = None,
    properties: dict[str, Any] | None = None,
    live_session: str | None = None,
) -> dict[str, Any]:
    number = next(_numbers)
    moment = to_naive_utc(at)
    return {
        "event_id": f"h-{number}",
        "name": name,
        "day": business_day(moment),
        "occurred_at": moment,
        "received_at": moment,
        "source": "server",
        "channel": channel,
        "person_id": person_id,
        "session_id": None,
        "live_session": live_session,
        "order_no": f"HO{number}" if name == "order_paid" else None,
        "sku_id": None,
        "amount_fen": amount_fen,
        "custom": False,
        "properties": json.dumps(properties or {}, ensure_ascii=False),
    }


def append_events(store: EventStore, rows: list[dict[str, Any]]) -> None:
    store.append(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA))


def load_brand(
    store: EventStore,
    *,
    people: int,
    now: dt.datetime,
    days: int = 150,
    seed: int = 7,
    person_ids: np.ndarray | None = None,
) -> SyntheticBrand:
    brand = synthetic_brand(people=people, days=days, now=to_naive_utc(now), seed=seed)
    events, items = synthetic_events(brand, person_ids=person_ids)
    store.append(events, items)
    return brand
