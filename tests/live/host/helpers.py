"""Set-up for the host side: sessions with live coupons, commenting viewers, and a recorder for
what the room is told (the real `realtime.publish`, captured after commit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from freshloop.catalog.models import Sku
from freshloop.core import clock, realtime
from freshloop.core.audit import Actor
from freshloop.identity.models import Person
from freshloop.live.models import LiveComment, LiveSession, LiveViewer
from freshloop.live.room.services import comment_post, live_session_create, viewer_join
from freshloop.promotions.models import CouponTemplate
from tests.factories import make_person, make_sku
from tests.live.helpers import make_host
from tests.orders.helpers import coupon_template

HOST = Actor(type="user", id="1", label="主播小鲜")

RoomEvents = list[tuple[str, str, dict[str, Any]]]


def record_room_events(monkeypatch: pytest.MonkeyPatch) -> RoomEvents:
    """Every (channel, event, data) sent to a room from now on (after the commit)."""
    sent: RoomEvents = []
    monkeypatch.setattr(
        realtime, "publish", lambda channel, event, data: sent.append((channel, event, data))
    )
    return sent


def live_coupon(code: str = "live10", **fields: Any) -> CouponTemplate:
    spec = {"name": "直播专享立减10元", "kind": "fixed", "amount_off_fen": 1000, "threshold_fen": 0}
    spec.update(fields)
    return coupon_template(code, live_only=True, **spec)


def make_room(
    *,
    skus: list[Sku] | None = None,
    coupons: list[CouponTemplate] | None = None,
    host: User | None = None,
    start: bool = True,
) -> LiveSession:
    """A session made by the real create service, optionally started by the real start
    service (so its state history is genuine)."""
    from freshloop.live.host.services import live_session_start

    session = live_session_create(
        title="周五会员直播 · 牧场鲜奶专场",
        host=host or make_host(),
        scheduled_at=clock.now() + dt.timedelta(minutes=5),
        sku_ids=[sku.pk for sku in (skus if skus is not None else [make_sku(stock=20)])],
        coupon_template_ids=[t.pk for t in coupons or []],
        actor=HOST,
    )
    if start:
        live_session_start(session=session, actor=HOST)
    return session


def join(session: LiveSession, nickname: str, person: Person | None = None) -> LiveViewer:
    return viewer_join(session=session, person=person or make_person(), nickname=nickname)


def say(
    session: LiveSession, viewer: LiveViewer, text: str = "这个牛奶保质期多久？"
) -> LiveComment:
    return comment_post(session=session, person=viewer.person, text=text)


def host_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
