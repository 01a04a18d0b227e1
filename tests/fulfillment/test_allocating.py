"""Allocation through the services: OrderPaid → pending → allocated (shipments with FEFO
lots, reservations moved, the order allocated, the decision explained), batches that spread
scarce stock, failures with a reason, retry, selectors and the operators' API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from freshloop.catalog.models import Batch, Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.fulfillment.models import Allocation, AllocationStatus, Shipment, ShipmentLine
from freshloop.fulfillment.selectors import (
    allocation_for_order,
    allocation_lot_picks,
    allocation_queue,
    near_expiry_report,
)
from freshloop.fulfillment.services import (
    RateSpec,
    allocation_open,
    allocation_retry,
    allocations_run,
    carrier_configure,
    sku_weight_set,
)
from freshloop.inventory.models import (
    BatchStock,
    Reservation,
    ReservationStatus,
    StockLevel,
    Warehouse,
)
from freshloop.inventory.services import lot_hold, stock_receive, warehouse_upsert
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import order_ship
from tests.factories import ADDRESS, make_person, make_sku, make_staff_user
from tests.orders.helpers import pay

pytestmark = pytest.mark.django_db
OPERATOR = Actor(type="user", id="1", label="仓管小李")
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with clock.frozen(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)):
        yield


def zones(local: int, regional: int, national: int, cold: int = 0) -> list[RateSpec]:
    return [
        RateSpec(first_fee_fen=national, extra_per_kg_fen=200, cold_surcharge_fen=cold),
        RateSpec(first_fee_fen=local, extra_per_kg_fen=200, cold_surcharge_fen=cold, zone="local"),
        RateSpec(
            first_fee_fen=regional, extra_per_kg_fen=200, cold_surcharge_fen=cold, zone="regional"
        ),
    ]


@pytest.fixture
def carriers() -> None:
    carrier_configure(
        code="sf-cold",
        name="顺丰冷运",
        chilled=True,
        frozen=True,
        rates=zones(1000, 1400, 2000, cold=800),
        speed_factor=0.6,
    )
    carrier_configure(code="zto", name="中通快递", rates=zones(500, 800, 1200))


def warehouse(code: str, name: str, province: str, *, chilled: bool) -> Warehouse:
    return warehouse_upsert(
        code=code, name=name, province=province, city=province, chilled=chilled, frozen=chilled
    )


def lot(sku: Sku, where: Warehouse, *, expires_in: int, units: int, no: str) -> Batch:
    expires = TODAY + dt.timedelta(days=expires_in)
    batch = batch_register(
        sku=sku, batch_no=no, produced_on=expires - dt.timedelta(days=7), expires_on=expires
    )
    stock_receive(sku=sku, warehouse=where, quantity=units, actor=OPERATOR, batch=batch)
    return batch


def paid_order(
    sku: Sku,
    quantity: int,
    *,
    province: str = "上海",
    channel: str = "shop",
    capture: Any,
    ships: bool = True,
) -> Order:
    from freshloop.orders.services import CheckoutItem, CheckoutRequest, order_create

    address = dict(ADDRESS, province=province, city=province)
    order, _ = order_create(
        request=CheckoutRequest(
            person=make_person(),
            channel=channel,
            items=[CheckoutItem(sku_id=sku.pk, quantity=quantity)],
            address=address,
            ships=ships,
        )
    )
    with capture(execute=True):  # the durable OrderPaid subscriber runs after commit
        pay(order)
    order.refresh_from_db()
    return order


def reserved_at(sku: Sku, where: Warehouse) -> int:
    return StockLevel.objects.get(sku=sku, warehouse=where).reserved


class TestOrderPaidToAllocated:
    def test_a_paid_order_waits_then_ships_chilled_from_the_cold_warehouse(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given milk (chilled) in 上海's cold warehouse, lots with different expiries
        qingpu = warehouse("sh-cold", "上海青浦冷链仓", "上海", chilled=True)
        warehouse("bj-dry", "北京常温仓", "北京", chilled=False)
        milk = make_sku(storage="chilled")
        lot(milk, qingpu, expires_in=6, units=5, no="LATER")
        lot(milk, qingpu, expires_in=5, units=1, no="SOONER")
        # when a shop order for 2 is paid
        order = paid_order(milk, 2, capture=django_capture_on_commit_callbacks)
        # then it waits in the queue
        assert Allocation.objects.get(order=order).status == AllocationStatus.PENDING
        assert [row.order_no for row in allocation_queue()] == [order.order_no]
        # and the batch allocates it: one chilled parcel, 顺丰冷运, 1 day
        result = allocations_run()
        assert result.allocated == [order.pk]
        order.refresh_from_db()
        assert order.status == OrderStatus.ALLOCATED
        (shipment,) = Shipment.objects.filter(order=order)
        assert (shipment.warehouse_id, shipment.carrier.name, shipment.storage) == (
            qingpu.pk,
            "顺丰冷运",
            "chilled",
        )
        assert shipment.transit_days == 1
        assert shipment.promised_on == TODAY + dt.timedelta(days=1)
        # the lots are first expiry first: the single SOONER unit, then one LATER
        lots = sorted(
            (line.batch.batch_no if line.batch else "", line.quantity)
            for line in ShipmentLine.objects.filter(shipment=shipment)
        )
        assert lots == [("LATER", 1), ("SOONER", 1)]
        view = allocation_for_order(order.pk)
        assert view is not None
        assert view.explanation.startswith("上海青浦冷链仓，顺丰冷运，1 天，¥")
        assert "唯一有库存且 3 天内可达的冷藏仓" in view.explanation
        assert view.cost_fen == shipment.cost_fen > 0
        assert allocation_queue() == []

    def test_shipping_takes_the_lots_the_allocation_recorded(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        qingpu = warehouse("sh-cold", "上海青浦冷链仓", "上海", chilled=True)
        milk = make_sku(storage="chilled")
        lot(milk, qingpu, expires_in=6, units=5, no="LATER")
        lot(milk, qingpu, expires_in=5, units=1, no="SOONER")
        order = paid_order(milk, 2, capture=django_capture_on_commit_callbacks)
        allocations_run()
        picks = allocation_lot_picks(order.pk)
        order_ship(
            order_no=order.order_no,
            carrier="顺丰冷运",
            tracking_no="SF1",
            actor=OPERATOR,
            lot_picks=picks,
        )
        units = dict(BatchStock.objects.values_list("batch__batch_no", "quantity"))
        assert units == {"LATER": 4, "SOONER": 0}

    def test_opening_twice_is_one_allocation(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        sku = make_sku(
            storage="ambient", stock=3, warehouse=warehouse("sh", "上海仓", "上海", chilled=False)
        )
        order = paid_order(sku, 1, capture=django_capture_on_commit_callbacks)
        assert allocation_open(order_id=order.pk) == allocation_open(order_id=order.pk)
        assert Allocation.objects.filter(order=order).count() == 1


class TestBatch:
    def test_scarce_stock_goes_to_the_nearer_buyer_and_reservations_follow(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given one unit in 上海 and one in 北京
        shanghai = warehouse("sh", "上海仓", "上海", chilled=False)
        beijing = warehouse("bj", "北京仓", "北京", chilled=False)
        rice = make_sku(storage="ambient", stock=1, warehouse=shanghai)
        stock_receive(sku=rice, warehouse=beijing, quantity=1, actor=OPERATOR)
        # when a 江苏 buyer pays first (reserved in 上海), then a 上海 buyer (北京 left)
        jiangsu = paid_order(rice, 1, province="江苏", capture=django_capture_on_commit_callbacks)
        local = paid_order(rice, 1, province="上海", capture=django_capture_on_commit_callbacks)
        assert Reservation.objects.get(order_ref=jiangsu.order_no).stock.warehouse == shanghai
        # and both are allocated in one batch
        result = allocations_run()
        assert sorted(result.allocated) == sorted([jiangsu.pk, local.pk])
        # then 上海's unit ships to the 上海 buyer and 江苏 gets 北京's: the reservations
        # swapped warehouses in one move, and the levels agree
        assert Shipment.objects.get(order=local).warehouse == shanghai
        assert Shipment.objects.get(order=jiangsu).warehouse == beijing
        assert (
            Reservation.objects.get(
                order_ref=jiangsu.order_no, status=ReservationStatus.ACTIVE
            ).stock.warehouse
            == beijing
        )
        assert (reserved_at(rice, shanghai), reserved_at(rice, beijing)) == (1, 1)
        view = allocation_for_order(jiangsu.pk)
        assert view is not None
        assert "整批运费最低" in view.explanation


class TestFailures:
    def test_no_cold_carrier_fails_with_a_reason_and_can_be_retried(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given only an ambient carrier
        carrier_configure(code="zto", name="中通快递", rates=zones(500, 800, 1200))
        qingpu = warehouse("sh-cold", "上海青浦冷链仓", "上海", chilled=True)
        milk = make_sku(storage="chilled", stock=3, warehouse=qingpu)
        order = paid_order(milk, 1, capture=django_capture_on_commit_callbacks)
        result = allocations_run()
        # then the order fails (never an ambient parcel) with a reason the queue shows
        assert result.failed
        assert order.pk in result.failed
        (row,) = allocation_queue(status="failed")
        assert "冷藏" in row.error
        assert not Shipment.objects.filter(order=order).exists()
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID
        # when a cold carrier is added and the operator retries
        carrier_configure(
            code="sf-cold",
            name="顺丰冷运",
            chilled=True,
            frozen=True,
            rates=zones(1000, 1400, 2000, 800),
        )
        with django_capture_on_commit_callbacks(execute=True):
            allocation_retry(order_id=order.pk, actor=OPERATOR)
        assert Allocation.objects.get(order=order).status == AllocationStatus.ALLOCATED

    def test_an_order_that_ships_nothing_is_never_allocated(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a presale deposit: money only, its units held for the balance order
        sku = make_sku(
            storage="ambient", stock=3, warehouse=warehouse("sh", "上海仓", "上海", chilled=False)
        )
        order = paid_order(sku, 1, capture=django_capture_on_commit_callbacks, ships=False)
        # then payment opens no allocation and the batch ships nothing
        assert (order.status, order.shipping_fen) == (OrderStatus.PAID, 0)
        assert not Allocation.objects.filter(order=order).exists()
        allocations_run()
        assert not Shipment.objects.filter(order=order).exists()

    def test_a_cancelled_order_is_not_allocated(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        sku = make_sku(
            storage="ambient", stock=3, warehouse=warehouse("sh", "上海仓", "上海", chilled=False)
        )
        order = paid_order(sku, 1, capture=django_capture_on_commit_callbacks)
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.REFUNDED)
        result = allocations_run()
        assert order.pk in result.failed
        assert not Shipment.objects.filter(order=order).exists()

    def test_an_order_whose_refund_is_being_decided_waits(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        sku = make_sku(
            storage="ambient", stock=3, warehouse=warehouse("sh", "上海仓", "上海", chilled=False)
        )
        order = paid_order(sku, 1, capture=django_capture_on_commit_callbacks)
        Order.objects.filter(pk=order.pk).update(
            status=OrderStatus.REFUND_REQUESTED, status_before_refund=OrderStatus.PAID
        )
        result = allocations_run()
        assert (result.allocated, result.failed) == ([], {})
        assert Allocation.objects.get(order=order).status == AllocationStatus.PENDING


class TestTasks:
    def test_the_periodic_job_and_the_kick_allocate_the_queue(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        from freshloop.fulfillment.tasks import allocate_pending, allocate_soon

        sku = make_sku(
            storage="ambient", stock=3, warehouse=warehouse("sh", "上海仓", "上海", chilled=False)
        )
        first = paid_order(sku, 1, capture=django_capture_on_commit_callbacks)
        assert allocate_pending.call_local() == 1
        second = paid_order(sku, 1, capture=django_capture_on_commit_callbacks)
        assert allocate_soon.call_local() == 1
        statuses = set(
            Allocation.objects.filter(order__in=[first, second]).values_list("status", flat=True)
        )
        assert statuses == {AllocationStatus.ALLOCATED}


class TestNearExpiry:
    def test_each_lot_is_offered_only_where_its_freshness_still_allows(self) -> None:
        # given milk with a 7-day shelf life: the shop needs 5 days left, group buying 4
        where = warehouse("sh", "上海仓", "上海", chilled=True)
        milk = make_sku(storage="chilled")
        sku_weight_set(sku_id=milk.pk, weight_g=1200)
        lot(milk, where, expires_in=6, units=6, no="LATER")  # a day above the shop's bound
        lot(milk, where, expires_in=5, units=5, no="FRESH")  # the shop's last day
        lot(milk, where, expires_in=4, units=4, no="POOL")  # group buying only, today
        lot(milk, where, expires_in=2, units=3, no="SHORT")
        lot(milk, where, expires_in=1, units=2, no="STAFF")
        lot(milk, where, expires_in=-1, units=1, no="GONE")
        recalled = lot(milk, where, expires_in=4, units=7, no="RECALLED")
        lot_hold(batch_id=recalled.pk, reason="召回", actor=OPERATOR)
        # when
        rows = near_expiry_report(today=TODAY)
        # then
        assert [(r.batch_no, r.units, r.days_left, r.action, r.sell_until) for r in rows] == [
            ("GONE", 1, -1, "write_off", None),
            ("STAFF", 2, 1, "staff_sale", None),
            ("SHORT", 3, 2, "staff_sale", None),
            ("POOL", 4, 4, "groupbuy_pool", TODAY),
            ("FRESH", 5, 5, "flash_price", TODAY),
        ]


class TestApi:
    def test_operators_read_the_queue_and_an_allocation_and_retry(
        self, carriers: None, django_capture_on_commit_callbacks: Any
    ) -> None:
        qingpu = warehouse("sh-cold", "上海青浦冷链仓", "上海", chilled=True)
        milk = make_sku(storage="chilled", stock=3, warehouse=qingpu)
        order = paid_order(milk, 1, capture=django_capture_on_commit_callbacks)
        client = Client()
        client.force_login(make_staff_user("supply", Role.SUPPLY_CHAIN))
        queue = client.get("/api/v1/fulfillment/allocations")
        assert queue.status_code == 200
        assert [item["order_no"] for item in queue.json()["items"]] == [order.order_no]
        allocations_run()
        detail = client.get(f"/api/v1/fulfillment/allocations/{order.order_no}")
        assert detail.status_code == 200
        body = detail.json()
        assert body["status"] == "allocated"
        assert body["shipments"][0]["carrier"] == "顺丰冷运"
        # retrying an allocated order is a 409 with a code, not a 500
        retry = client.post(f"/api/v1/fulfillment/allocations/{order.order_no}/retry")
        assert retry.status_code == 409
        assert retry.json()["code"] == "allocation_state_invalid"
        missing = client.get("/api/v1/fulfillment/allocations/O_NOPE")
        assert missing.status_code == 404

    def test_a_marketer_may_not(self) -> None:
        client = Client()
        client.force_login(make_staff_user("marketer", Role.MARKETER))
        assert client.get("/api/v1/fulfillment/allocations").status_code == 403
