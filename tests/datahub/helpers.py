"""Typed helpers for data hub tests: write events through the real buffer and flush."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.ingestion.services import (
    event_source_create,
    server_event_payload,
    server_event_record,
    track_accept,
)
from freshloop.datahub.models import EventSource
from freshloop.datahub.tags.services import tags_recompute_all
from freshloop.identity.models import Person
from tests.factories import make_person, make_staff_user

_numbers = itertools.count(1)


def make_source(channel: str = "shop") -> tuple[str, EventSource]:
    return event_source_create(
        actor=Actor.system("tests"), name=f"{channel}-{next(_numbers)}", channel=channel
    )


def track_event(
    name: str,
    *,
    occurred_at: dt.datetime,
    one_id: str | None = None,
    identifiers: list[dict[str, str]] | None = None,
    properties: dict[str, Any] | None = None,
    live_session: str = "",
    event_id: str | None = None,
) -> dict[str, Any]:
    """One event as a client would send it to /api/v1/track."""
    event: dict[str, Any] = {
        "event_id": event_id or f"t-{next(_numbers)}",
        "name": name,
        "occurred_at": occurred_at.isoformat(),
        "properties": properties or {},
    }
    if one_id:
        event["one_id"] = one_id
    if identifiers:
        event["identifiers"] = identifiers
    if live_session:
        event["live_session"] = live_session
    return event


def record_server_event(
    name: str,
    *,
    person_id: int,
    occurred_at: dt.datetime,
    channel: str = "shop",
    properties: dict[str, Any] | None = None,
    live_session: str = "",
    event_id: str | None = None,
) -> None:
    """A system-side fact (what the recorder writes for a domain event), e.g. a paid order
    with `properties={"order_no": ..., "amount_fen": ..., "coupon_used": ..., "lines": [...]}`."""
    server_event_record(
        event_id=event_id or f"s-{next(_numbers)}",
        payload=server_event_payload(
            name=name,
            occurred_at=occurred_at,
            channel=channel,
            person_id=person_id,
            properties=properties or {},
            live_session=live_session,
        ),
    )


def send_and_flush(source: EventSource, events: list[dict[str, Any]], store: EventStore) -> None:
    result = track_accept(source=source, events=events)
    assert result.rejected == 0, result.errors
    buffer_flush_all(store=store)


def console_client(*roles: Role, username: str = "operator") -> Client:
    """A browser logged in to the console as a staff user holding `roles`."""
    client = Client()
    client.force_login(make_staff_user(username, *roles))
    return client


def paid_buyer(store: EventStore, phone: str = "13800138000", amount_fen: int = 5_990) -> Person:
    """A person with one paid order ten days ago (in 上海), flushed and tagged."""
    person = make_person(phone=phone)
    record_server_event(
        "order_paid",
        person_id=person.pk,
        occurred_at=clock.now() - dt.timedelta(days=10),
        properties={"order_no": f"N-{person.pk}", "amount_fen": amount_fen, "province": "上海"},
    )
    buffer_flush_all(store=store)
    tags_recompute_all(store=store)
    return person
