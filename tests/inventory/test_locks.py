"""Inventory's row locks: stock levels in the order orders take them (SKU order), lots in
primary-key order but handed out earliest expiry first."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import transaction

from freshloop.catalog.models import Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.inventory.locks import lots_lock, stock_levels_lock
from freshloop.inventory.models import BatchStock, StockLevel
from freshloop.inventory.services import (
    ReservationRequest,
    stock_receive,
    stock_reserve,
    stock_take,
)
from tests.concurrency import run_at_once
from tests.factories import make_sku, make_warehouse

OPERATOR = Actor(type="user", id="1", label="仓管小李")


def skus_whose_levels_run_against_their_ids() -> tuple[Sku, Sku]:
    """Two SKUs, the first created first, whose stock levels were created the other way round
    (goods of the newer SKU arrived first), so level primary keys run against SKU ids."""
    older, newer = make_sku(), make_sku(name="鸡蛋")
    warehouse = make_warehouse()
    stock_receive(sku=newer, warehouse=warehouse, quantity=10, actor=OPERATOR)
    stock_receive(sku=older, warehouse=warehouse, quantity=10, actor=OPERATOR)
    older_level = StockLevel.objects.get(sku=older)
    newer_level = StockLevel.objects.get(sku=newer)
    assert older.pk < newer.pk
    assert older_level.pk > newer_level.pk
    return older, newer


@pytest.mark.django_db
class TestStockLevelsLock:
    def test_levels_come_in_sku_order_whatever_their_primary_keys(self) -> None:
        # given two SKUs whose levels' primary keys run against the SKU ids
        older, newer = skus_whose_levels_run_against_their_ids()
        # when a stock take locks both
        with transaction.atomic():
            levels = stock_levels_lock(warehouse=make_warehouse(), sku_ids=[newer.pk, older.pk])
        # then they were taken (and come back) in SKU order, the order orders lock them in
        assert list(levels) == [older.pk, newer.pk]

    def test_skus_without_a_level_in_the_warehouse_are_left_out(self) -> None:
        # given a SKU stocked in Shanghai only
        stocked = make_sku(stock=5)
        # when Beijing's levels are locked
        with transaction.atomic():
            levels = stock_levels_lock(
                warehouse=make_warehouse("bj", province="北京"), sku_ids=[stocked.pk]
            )
        # then there is nothing to lock
        assert levels == {}


@pytest.mark.django_db
class TestLotsLock:
    def test_lots_come_earliest_expiry_first(self) -> None:
        # given a later-expiring lot received before an earlier-expiring one (a lower pk), and
        # an even earlier one with nothing left
        sku, warehouse = make_sku(), make_warehouse()
        late = batch_register(sku=sku, batch_no="LATE", produced_on=dt.date(2026, 11, 25))
        early = batch_register(sku=sku, batch_no="EARLY", produced_on=dt.date(2026, 11, 20))
        empty = batch_register(sku=sku, batch_no="EMPTY", produced_on=dt.date(2026, 11, 1))
        for lot, quantity in ((late, 4), (early, 3), (empty, 1)):
            stock_receive(
                sku=sku, warehouse=warehouse, quantity=quantity, actor=OPERATOR, batch=lot
            )
        BatchStock.objects.filter(batch=empty).update(quantity=0)  # the oldest one is used up
        stock = StockLevel.objects.get(sku=sku)
        # when shipping locks the lots
        with transaction.atomic():
            lots = lots_lock(stock)
        # then the lots with units come earliest expiry first
        assert [lot.batch.batch_no for lot in lots] == ["EARLY", "LATE"]


@pytest.mark.django_db(transaction=True)
class TestStockTakeBesideAnOrder:
    def test_a_stock_take_waits_for_a_two_sku_order_instead_of_deadlocking(self) -> None:
        # given two SKUs whose levels' primary keys run against the SKU ids, and an order that
        # has reserved the first SKU (SKU order) and pauses before the second
        older, newer = skus_whose_levels_run_against_their_ids()
        warehouse = make_warehouse()
        halfway = threading.Barrier(2, timeout=10)

        def order() -> str:
            with transaction.atomic():
                for index, sku in enumerate((older, newer)):
                    stock_reserve(
                        order_ref="O-1",
                        requests=[ReservationRequest(sku=sku, quantity=1)],
                        expires_at=clock.now() + dt.timedelta(minutes=15),
                    )
                    if index == 0:
                        halfway.wait()
                        # Give the stock take time to lock what it can: locking by primary key
                        # it would hold the newer SKU's level and wait for the older one's,
                        # which this order holds while it waits for the newer one's (on
                        # PostgreSQL, a deadlock; one of the two would be aborted).
                        time.sleep(0.3)
            return "reserved"

        def count() -> str:
            halfway.wait()
            stock_take(warehouse=warehouse, counts={older.pk: 8, newer.pk: 9}, actor=OPERATOR)
            return "counted"

        # when the stock take starts while the order holds the first SKU's level
        outcomes = run_at_once([order, count])
        # then both finish: the take waited for the order's commit
        assert [outcome.label for outcome in outcomes] == ["reserved", "counted"]
        levels = {level.sku_id: level for level in StockLevel.objects.all()}
        assert (levels[older.pk].on_hand, levels[older.pk].reserved) == (8, 1)
        assert (levels[newer.pk].on_hand, levels[newer.pk].reserved) == (9, 1)
