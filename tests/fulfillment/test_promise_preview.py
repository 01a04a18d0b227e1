"""The promise before allocation (`order_promise_preview`): the date the order page shows an
unpaid order, or a paid one waiting for the batch, is the date allocation then promises; no
date when allocation could not place the order; a handful of queries, no writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from freshloop.catalog.models import Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.fulfillment.models import Allocation, AllocationStatus
from freshloop.fulfillment.selectors import order_promise_preview, order_promised_on
from freshloop.fulfillment.services import RateSpec, allocations_run, carrier_configure
from freshloop.inventory.models import Warehouse
from freshloop.inventory.services import stock_receive, warehouse_upsert
from freshloop.orders.models import Order
from tests.factories import make_order, make_person, make_sku
from tests.orders.helpers import pay

pytestmark = pytest.mark.django_db
OPERATOR = Actor.system("tests")
TODAY = dt.date(2026, 12, 1)  # a Tuesday; the clock below is 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with clock.frozen(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)):
        yield


def slow_cold_carrier() -> None:
    """A cold carrier two days slower than the distance says: inside 上海 it takes 3 days,
    where the transit table says 1 — so the two answers differ and the test can tell."""
    carrier_configure(
        code="slow-cold",
        name="慢速冷运",
        chilled=True,
        frozen=True,
        rates=[RateSpec(first_fee_fen=1500, cold_surcharge_fen=500)],
        days_offset=2,
    )


def cold_warehouse(code: str = "sh-cold", name: str = "上海青浦冷链仓") -> Warehouse:
    return warehouse_upsert(
        code=code, name=name, province="上海", city="上海", chilled=True, frozen=True
    )


def milk_in(where: Warehouse, *, units: int = 10, expires_in: int = 10) -> Sku:
    milk = make_sku(storage="chilled", name="牧场鲜牛奶")
    expires = TODAY + dt.timedelta(days=expires_in)
    lot = batch_register(
        sku=milk,
        batch_no=f"L{where.pk}",
        produced_on=TODAY - dt.timedelta(days=1),
        expires_on=expires,
    )
    stock_receive(sku=milk, warehouse=where, quantity=units, actor=OPERATOR, batch=lot)
    return milk


def paid(order: Order, capture: Any) -> Order:
    with capture(execute=True):  # the durable OrderPaid subscriber opens the allocation
        pay(order)
    order.refresh_from_db()
    return order


class TestOrderPromisePreview:
    def test_an_unpaid_order_is_previewed_the_date_allocation_then_promises(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a slow cold carrier and milk in 上海's cold warehouse
        slow_cold_carrier()
        milk = milk_in(cold_warehouse())
        order = make_order(make_person(), (milk, 2))
        # when the unpaid order is previewed
        preview = order_promise_preview(order=order)
        # then allocation would send it from 上海青浦冷链仓 by 慢速冷运 in 3 days
        assert preview is not None
        assert (preview.on, preview.days) == (dt.date(2026, 12, 4), 3)
        assert [(p.warehouse, p.carrier, p.days) for p in preview.parcels] == [
            ("上海青浦冷链仓", "慢速冷运", 3)
        ]
        # and once paid and allocated, the promise is that same date
        paid(order, django_capture_on_commit_callbacks)
        assert allocations_run().allocated == [order.pk]
        assert order_promised_on(order_id=order.pk) == preview.on

    def test_a_paid_order_waiting_for_the_batch_is_previewed_too(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a paid order whose allocation is pending
        slow_cold_carrier()
        milk = milk_in(cold_warehouse())
        order = paid(make_order(make_person(), (milk, 1)), django_capture_on_commit_callbacks)
        assert Allocation.objects.get(order=order).status == AllocationStatus.PENDING
        # when it is previewed, then allocated
        preview = order_promise_preview(order=order)
        allocations_run()
        # then the preview named the date allocation promised
        assert preview is not None
        assert order_promised_on(order_id=order.pk) == preview.on == dt.date(2026, 12, 4)
        # and an allocated order has its promise, no preview
        order.refresh_from_db()
        assert order_promise_preview(order=order) is None

    def test_the_preview_picks_the_cheaper_warehouse_as_allocation_does(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given milk in 上海 and in 北京, a carrier cheap inside 上海 and dear elsewhere
        carrier_configure(
            code="sf-cold",
            name="顺丰冷运",
            chilled=True,
            rates=[
                RateSpec(first_fee_fen=3000),
                RateSpec(first_fee_fen=1000, zone="local"),
            ],
            speed_factor=0.6,
        )
        beijing = warehouse_upsert(
            code="bj-cold", name="北京冷链仓", province="北京", city="北京", chilled=True
        )
        milk = milk_in(beijing)
        lot = batch_register(
            sku=milk, batch_no="LSH", produced_on=TODAY, expires_on=TODAY + dt.timedelta(days=10)
        )
        stock_receive(sku=milk, warehouse=cold_warehouse(), quantity=5, actor=OPERATOR, batch=lot)
        order = make_order(make_person(), (milk, 1))
        # when previewed, then it ships from 上海 (local, cheaper) in 1 day
        preview = order_promise_preview(order=order)
        assert preview is not None
        assert [(p.warehouse, p.days) for p in preview.parcels] == [("上海青浦冷链仓", 1)]
        paid(order, django_capture_on_commit_callbacks)
        allocations_run()
        assert order_promised_on(order_id=order.pk) == preview.on == dt.date(2026, 12, 2)

    def test_no_carrier_configured_means_no_preview(self) -> None:
        # given stock but no carrier
        order = make_order(make_person(), (milk_in(cold_warehouse()), 1))
        # then there is nothing to preview: the page keeps the transit table's estimate
        assert order_promise_preview(order=order) is None

    def test_no_carrier_that_keeps_it_cold_means_no_preview(self) -> None:
        # given only an ambient carrier for chilled milk
        carrier_configure(code="zto", name="中通快递", rates=[RateSpec(first_fee_fen=800)])
        order = make_order(make_person(), (milk_in(cold_warehouse()), 1))
        # then allocation would fail it, so no date is previewed
        assert order_promise_preview(order=order) is None

    def test_a_handful_of_queries_and_no_writes(self, django_assert_max_num_queries: Any) -> None:
        # given three warehouses, two carriers and an order of two SKUs
        slow_cold_carrier()
        carrier_configure(code="zto", name="中通快递", rates=[RateSpec(first_fee_fen=800)])
        first, second = cold_warehouse(), cold_warehouse("sh-2", "上海嘉定冷链仓")
        cold_warehouse("sh-3", "上海松江冷链仓")
        order = make_order(make_person(), (milk_in(first), 1), (milk_in(second), 1))
        # when previewed, then a bounded number of reads (no query per carrier or warehouse)
        with django_assert_max_num_queries(8) as captured:
            assert order_promise_preview(order=order) is not None
        assert not any(
            q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
            for q in captured.captured_queries
        )
