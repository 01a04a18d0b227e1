"""The parcel state machine, waybills, operators' pick / hand-over, the order following its
parcels, and the sandbox carrier."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import subscribe, unsubscribe
from freshloop.core.models import AuditLog, OutboxMessage
from freshloop.fulfillment.errors import FulfillmentInvalid, ShipmentNotFound, ShipmentStateInvalid
from freshloop.fulfillment.events import ShipmentStatusChanged
from freshloop.fulfillment.models import ShipmentEvent, ShipmentStatus
from freshloop.fulfillment.services import (
    sandbox_carrier_tick,
    shipment_advance,
    shipment_hand_over,
    shipment_pick,
    shipment_waybill_request,
)
from freshloop.orders.models import OrderStatus
from tests.fulfillment.factories import OPERATOR, make_parcel_order

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def published() -> list[ShipmentStatusChanged]:
    seen: list[ShipmentStatusChanged] = []

    def handler(event: ShipmentStatusChanged) -> None:
        seen.append(event)

    subscribe(ShipmentStatusChanged)(handler)
    yield seen
    unsubscribe(ShipmentStatusChanged, handler)


def advance(shipment_id: int, status: str, minutes: int, external_id: str = "", **extra: str):
    return shipment_advance(
        shipment_id=shipment_id,
        status=status,
        source="test",
        occurred_at=at(minutes),
        external_id=external_id,
        **extra,
    )


class TestShipmentAdvance:
    def test_moves_forward_records_and_audits(self, published: list[ShipmentStatusChanged]) -> None:
        # given a parcel just created
        parcel = make_parcel_order().shipment
        # when the carrier reports it in transit
        result = advance(parcel.pk, "in_transit", 10, "e1", description="【上海】已发出")
        # then it moved (skipping steps is fine), the step is on the timeline and audited
        assert result.moved
        assert result.recorded
        parcel.refresh_from_db()
        assert parcel.status == ShipmentStatus.IN_TRANSIT
        assert parcel.handed_over_at == at(10)
        assert ShipmentEvent.objects.filter(shipment=parcel).count() == 1
        assert AuditLog.objects.filter(
            action="fulfillment.shipment_advance", target_id=str(parcel.pk)
        ).exists()
        assert [(e.status, e.previous_status) for e in published] == [("in_transit", "created")]

    def test_replayed_external_id_adds_nothing(
        self, published: list[ShipmentStatusChanged]
    ) -> None:
        # given a recorded step
        parcel = make_parcel_order().shipment
        advance(parcel.pk, "in_transit", 10, "e1")
        # when the same push arrives again
        again = advance(parcel.pk, "in_transit", 10, "e1")
        # then nothing new is written nor published
        assert not again.recorded
        assert not again.moved
        assert ShipmentEvent.objects.filter(shipment=parcel).count() == 1
        assert len(published) == 1

    def test_older_step_is_recorded_but_never_moves_backwards(self) -> None:
        # given a parcel out for delivery
        parcel = make_parcel_order().shipment
        advance(parcel.pk, "out_for_delivery", 60, "e2")
        # when a late push of an earlier step arrives
        late = advance(parcel.pk, "in_transit", 30, "e1")
        # then it is on the timeline but the status stays
        assert late.recorded
        assert not late.moved
        parcel.refresh_from_db()
        assert parcel.status == ShipmentStatus.OUT_FOR_DELIVERY
        assert list(
            ShipmentEvent.objects.filter(shipment=parcel).values_list("status", flat=True)
        ) == [
            "in_transit",
            "out_for_delivery",
        ]

    def test_delivered_is_final(self) -> None:
        # given a delivered parcel
        parcel = make_parcel_order().shipment
        advance(parcel.pk, "delivered", 100, "d")
        # when an exception is reported later
        after = advance(parcel.pk, "exception", 200, "x")
        # then it is recorded only
        assert after.recorded
        assert not after.moved
        parcel.refresh_from_db()
        assert parcel.status == ShipmentStatus.DELIVERED

    def test_exception_only_when_not_older_than_current_step(self) -> None:
        # given a parcel in transit since minute 50
        parcel = make_parcel_order().shipment
        advance(parcel.pk, "in_transit", 50, "t")
        # when an exception stamped before that arrives, then one after
        old = advance(parcel.pk, "exception", 40, "x-old")
        new = advance(parcel.pk, "exception", 60, "x-new")
        # then only the newer exception moves the parcel
        assert not old.moved
        assert new.moved
        parcel.refresh_from_db()
        assert parcel.status == ShipmentStatus.EXCEPTION

    def test_newer_normal_step_resumes_from_exception(self) -> None:
        # given a parcel in exception since minute 60 after going out for delivery
        parcel = make_parcel_order().shipment
        advance(parcel.pk, "out_for_delivery", 50, "o")
        advance(parcel.pk, "exception", 60, "x")
        # when an older step arrives, then a newer lower one (re-routed)
        stale = advance(parcel.pk, "in_transit", 55, "t-old")
        resumed = advance(parcel.pk, "in_transit", 70, "t-new")
        # then only the newer one takes the parcel out of exception
        assert not stale.moved
        assert resumed.moved
        parcel.refresh_from_db()
        assert parcel.status == ShipmentStatus.IN_TRANSIT

    def test_unknown_status_and_naive_time_are_refused(self) -> None:
        parcel = make_parcel_order().shipment
        with pytest.raises(FulfillmentInvalid):
            advance(parcel.pk, "teleported", 1)
        with pytest.raises(FulfillmentInvalid):
            shipment_advance(
                shipment_id=parcel.pk,
                status="in_transit",
                source="t",
                occurred_at=dt.datetime(2026, 1, 1),
            )
        with pytest.raises(ShipmentNotFound):
            advance(10**9, "in_transit", 1)
        assert not ShipmentEvent.objects.exists()


class TestOrderFollowsParcels:
    def test_first_handed_over_ships_last_delivered_delivers(self) -> None:
        # given an allocated order in two parcels
        parcels = make_parcel_order(parcels=2)
        first, second = parcels.shipments
        # when the first is handed over
        advance(first.pk, "handed_over", 10, "h1")
        parcels.order.refresh_from_db()
        # then the order is shipped, with the carrier and waybill of that parcel
        assert parcels.order.status == OrderStatus.SHIPPED
        # and the second parcel handed over changes nothing more
        advance(second.pk, "handed_over", 11, "h2")
        # when only one is delivered the order is still shipped
        advance(first.pk, "delivered", 100, "d1")
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.SHIPPED
        # when the last is delivered the order is delivered
        advance(second.pk, "delivered", 120, "d2")
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.DELIVERED

    def test_paid_but_not_yet_allocated_order_is_allocated_then_shipped(self) -> None:
        parcels = make_parcel_order(allocated=False)
        assert parcels.order.status == OrderStatus.PAID
        advance(parcels.shipment.pk, "in_transit", 5, "t")
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.SHIPPED

    def test_a_lot_the_shelf_does_not_hold_leaves_the_order_allocated_and_alerts(self) -> None:
        # given an allocated order whose parcel names a lot the warehouse does not hold
        parcels = make_parcel_order(lot_stocked=False)
        # when the carrier reports the hand-over
        result = advance(parcels.shipment.pk, "handed_over", 10, "h1")
        # then the parcel's step is recorded and the parcel moves (the carrier has it)
        assert result.moved
        # but stock is not booked out of another lot: the order stays allocated
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.ALLOCATED
        # and a person is told
        alert = OutboxMessage.objects.get(channel="alert")
        assert alert.payload["kind"] == "fulfillment.lot_shortfall"
        assert alert.payload["shipment_no"] == parcels.shipment.shipment_no


class TestLateFlag:
    def test_delivered_after_promise_is_late(self, published: list[ShipmentStatusChanged]) -> None:
        # given a parcel promised for 2026-12-01 (Shanghai)
        parcel = make_parcel_order(promised_on=dt.date(2026, 12, 1)).shipment
        # when delivered 2026-12-02 01:00 Shanghai (2026-12-01 17:00 UTC)
        shipment_advance(
            shipment_id=parcel.pk,
            status="delivered",
            source="t",
            occurred_at=dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC),
            external_id="d",
        )
        # then the event says late
        assert published[-1].status == "delivered"
        assert published[-1].late is True

    def test_delivered_on_the_promised_day_is_on_time(
        self, published: list[ShipmentStatusChanged]
    ) -> None:
        parcel = make_parcel_order(promised_on=dt.date(2026, 12, 1)).shipment
        shipment_advance(
            shipment_id=parcel.pk,
            status="delivered",
            source="t",
            occurred_at=dt.datetime(2026, 12, 1, 15, 59, tzinfo=dt.UTC),
            external_id="d",
        )
        assert published[-1].late is False


class TestShipmentWaybillRequest:
    def test_gives_a_waybill_and_label_once(self) -> None:
        parcel = make_parcel_order().shipment
        first = shipment_waybill_request(shipment_id=parcel.pk, actor=OPERATOR)
        again = shipment_waybill_request(shipment_id=parcel.pk, actor=OPERATOR)
        assert first.waybill_no.startswith("SB")
        assert again.waybill_no == first.waybill_no
        assert first.label["receiver"]["province"] == "上海"
        assert first.label["items"][0]["batch_id"] is not None


class TestShipmentPickAndHandOver:
    def test_pick_then_hand_over_ships_the_order(self) -> None:
        parcels = make_parcel_order()
        picked = shipment_pick(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        assert picked.status == ShipmentStatus.PICKED
        assert picked.waybill_no
        handed = shipment_hand_over(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        assert handed.status == ShipmentStatus.HANDED_OVER
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.SHIPPED

    def test_cannot_pick_twice_or_hand_over_a_moving_parcel(self) -> None:
        parcels = make_parcel_order()
        shipment_hand_over(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        with pytest.raises(ShipmentStateInvalid):
            shipment_pick(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        with pytest.raises(ShipmentStateInvalid):
            shipment_hand_over(shipment_id=parcels.shipment.pk, actor=Actor.system("x"))


class TestSandboxCarrierTick:
    def test_walks_handed_over_parcels_to_delivery_in_chinese(self) -> None:
        # given a handed-over parcel of a sandbox carrier and one still in the warehouse
        parcels = make_parcel_order(parcels=2)
        moving, waiting = parcels.shipments
        shipment_hand_over(shipment_id=moving.pk, actor=OPERATOR)
        # when the sandbox ticks until nothing moves
        ticks = 0
        while sandbox_carrier_tick() and ticks < 20:
            ticks += 1
        # then the moving parcel went all the way (its hand-over was the courier's 已揽收),
        # its route in Chinese with its cities
        moving.refresh_from_db()
        waiting.refresh_from_db()
        assert moving.status == ShipmentStatus.DELIVERED
        assert waiting.status == ShipmentStatus.CREATED
        route = list(
            ShipmentEvent.objects.filter(shipment=moving, source="sandbox").values_list(
                "description", flat=True
            )
        )
        assert route[0] == "【上海青浦转运中心】顺丰冷运已收入，正在分拣"
        assert "已签收" in route[-1]
        handed = ShipmentEvent.objects.get(shipment=moving, status="handed_over")
        assert handed.description == "【上海】顺丰冷运已揽收"
        assert ticks == len(route)
        # and a tick more changes nothing
        assert sandbox_carrier_tick() == 0
        assert clock.now()  # the clock is real here
