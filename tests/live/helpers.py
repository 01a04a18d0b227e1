"""Live-room set-up through the real services."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.contrib.auth.models import User
from django.test import Client

from freshloop.catalog.models import Sku
from freshloop.core import clock, realtime
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.identity.auth import SESSION_TOKEN_KEY
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.live.models import LiveSession, LiveStatus
from freshloop.live.room.services import live_session_create
from freshloop.membership.services import membership_get_or_create
from tests.factories import make_sku, make_staff_user

HOST_ACTOR = Actor(type="user", id="1", label="主播小鲜")


def make_host(username: str = "host") -> User:
    existing = User.objects.filter(username=username).first()
    return existing or make_staff_user(username, Role.LIVE_HOST)


def make_session(
    *,
    skus: list[Sku] | None = None,
    status: str = LiveStatus.LIVE,
    host: User | None = None,
    members_only: bool = False,
) -> LiveSession:
    skus = skus if skus is not None else [make_sku(stock=20)]
    session = live_session_create(
        title="周五会员直播 · 牧场鲜奶专场",
        host=host or make_host(),
        scheduled_at=clock.now() + dt.timedelta(minutes=5),
        sku_ids=[sku.pk for sku in skus],
        actor=HOST_ACTOR,
        members_only=members_only,
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


def make_member(person: Person) -> Person:
    """The person joins the membership (what their first paid order does)."""
    membership_get_or_create(person=person)
    return person


def browser_for(person: Person) -> tuple[Client, str]:
    """A phone browser logged in as `person` through the H5 session cookie (no bearer token),
    with Django's CSRF checks on, and the CSRF token its pages carry."""
    _, record = consumer_token_issue(person=person, method="test")
    browser = Client(enforce_csrf_checks=True)
    session = browser.session
    session[SESSION_TOKEN_KEY] = record.pk
    session.save()
    browser.get("/m/live/")  # a page renders the token and sets its cookie
    return browser, browser.cookies["csrftoken"].value
