"""Live-room set-up through the real services."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.contrib.auth.models import User

from freshloop.catalog.models import Sku
from freshloop.core import clock, realtime
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.live.models import LiveSession, LiveStatus
from freshloop.live.room.services import live_session_create
from tests.factories import make_sku, make_staff_user

HOST_ACTOR = Actor(type="user", id="1", label="主播小鲜")


def make_host(username: str = "host") -> User:
    existing = User.objects.filter(username=username).first()
    return existing or make_staff_user(username, Role.LIVE_HOST)


def make_session(
    *, skus: list[Sku] | None = None, status: str = LiveStatus.LIVE, host: User | None = None
) -> LiveSession:
    skus = skus if skus is not None else [make_sku(stock=20)]
    session = live_session_create(
        title="周五会员直播 · 牧场鲜奶专场",
        host=host or make_host(),
        scheduled_at=clock.now() + dt.timedelta(minutes=5),
        sku_ids=[sku.pk for sku in skus],
        actor=HOST_ACTOR,
    )
    if status != LiveStatus.SCHEDULED:
        LiveSession.objects.filter(pk=session.pk).update(status=status, started_at=clock.now())
        session.refresh_from_db()
    return session


def realtime_broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the real-time broker is a Redis that does not answer: a free local port
    that nobody listens on (connections are refused). The rest (rate limits) is untouched."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = realtime.RedisBroker(f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(realtime, "get_broker", lambda: broker)
