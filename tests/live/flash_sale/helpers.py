"""Flash-sale test set-up through the real services (imported by the test_flash_sale* files)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

from django.conf import settings

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.identity.models import Person
from freshloop.live.flash_sale.services import flash_sale_buy, flash_sale_start
from freshloop.live.host.services import live_session_start
from freshloop.live.models import FlashSale, LiveSession
from freshloop.live.room.services import live_session_create
from freshloop.orders.models import Order
from tests.concurrency import errors_of, run_at_once, values_of
from tests.factories import ADDRESS, make_sku, make_staff_user

HOST = Actor(type="user", id="1", label="主播小鲜")
_hosts = itertools.count(1)


def make_live_session(*skus: Sku) -> LiveSession:
    host = make_staff_user(f"host{next(_hosts)}", Role.LIVE_HOST)
    session = live_session_create(
        title="周五会员直播",
        host=host,
        scheduled_at=clock.now(),
        sku_ids=[sku.pk for sku in skus],
        actor=HOST,
    )
    return live_session_start(session=session, actor=HOST)


def make_flash_sale(
    *,
    units: int = 10,
    per_user_limit: int = 1,
    price_fen: int = 990,
    list_price_fen: int = 2990,
    stock: int | None = None,
    duration_seconds: int = 600,
) -> FlashSale:
    """A running sale of a fresh SKU (list ¥29.90, flash ¥9.90) in a fresh live session."""
    sku = make_sku(price_fen=list_price_fen, stock=units * 2 if stock is None else stock)
    return flash_sale_start(
        session=make_live_session(sku),
        sku=sku,
        price_fen=price_fen,
        quantity=units,
        per_user_limit=per_user_limit,
        duration_seconds=duration_seconds,
        actor=HOST,
    )


def buy(sale: FlashSale, person: Person, quantity: int = 1, *, key: str = "") -> Order:
    """Buy as a request would: with the sale read fresh from the database."""
    return flash_sale_buy(
        flash_sale=FlashSale.objects.select_related("session").get(pk=sale.pk),
        person=person,
        quantity=quantity,
        address=dict(ADDRESS),
        idempotency_key=key,
    ).order


def use_redis(django_settings: Any, url: str) -> None:
    """Switch the flash-sale engine to Redis mode for this test (pytest-django `settings`)."""
    django_settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, redis_url=url)


def run_concurrently(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Start every call at the same instant, each on its own connection."""
    outcomes = run_at_once(calls)
    return values_of(outcomes), errors_of(outcomes)
