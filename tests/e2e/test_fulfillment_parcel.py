"""A buyer at 390 px opens a paid order whose chilled parcel was delivered: the parcel shows
its warehouse, carrier, waybill, promise and why it was sent from there, the route as a list,
and the temperature line with its safe band and the one excursion."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core import clock
from freshloop.fulfillment.services import (
    ReadingInput,
    device_create,
    readings_ingest,
    sandbox_carrier_tick,
    shipment_hand_over,
    shipment_pick,
)
from freshloop.identity.models import Identifier
from freshloop.orders.models import OrderStatus
from tests.e2e.test_address_book import _overflowing
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.fulfillment.factories import OPERATOR, make_parcel_order

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = os.environ.get("FRESHLOOP_PARCEL_SCREENSHOT", "/tmp/parcel.png")  # noqa: S108


class TestDeliveredColdParcel:
    def test_route_and_temperature_chart(
        self, phone_page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        page = phone_page
        base = live_server.url
        # given a signed-in buyer whose chilled milk went out, was carried and signed for
        _log_in_by_phone(page, base, "13900139021", "/m/me")
        person = Identifier.objects.get(type="phone").person
        parcels = make_parcel_order(
            person=person, sku_name="牧场鲜牛奶", promised_on=clock.to_shanghai(clock.now()).date()
        )
        shipment_pick(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        shipment_hand_over(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        while sandbox_carrier_tick():
            pass
        # and a logger in the parcel saw a 40-minute warm spell among four hours of readings
        device, _ = device_create(code="LOG-E2E", actor=OPERATOR, shipment_id=parcels.shipment.pk)
        start = clock.now() - dt.timedelta(hours=4)
        readings = []
        for minute in range(0, 240, 5):
            warm = 100 <= minute < 140
            celsius = 6.5 + (minute - 100) / 20 if warm else 2.5 + (minute % 30) / 30
            readings.append(
                ReadingInput(
                    reading_id=f"e2e-{minute}",
                    recorded_at=start + dt.timedelta(minutes=minute),
                    celsius=round(celsius, 1),
                )
            )
        assert readings_ingest(device=device, readings=readings).excursions_found == 1
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.DELIVERED

        # when they open the order
        page.goto(f"{base}/m/orders/{parcels.order.order_no}")

        # then the parcel shows where it came from, why, its waybill and its route
        parcel = page.locator("[data-testid=parcel]")
        expect(parcel).to_have_count(1)
        expect(parcel.locator("[data-testid=parcel-status]")).to_have_text("已签收")
        expect(parcel).to_contain_text("上海仓")
        expect(parcel).to_contain_text("顺丰冷运")
        expect(parcel.locator("[data-testid=parcel-waybill]")).to_have_text(
            parcels.shipment.__class__.objects.get(pk=parcels.shipment.pk).waybill_no
        )
        expect(parcel.locator("[data-testid=parcel-explanation]")).to_contain_text("冷链仓")
        route = parcel.locator("[data-testid=parcel-route] li")
        expect(route.first).to_contain_text("已签收")
        expect(route.last).to_contain_text("仓库已拣货打包")
        # and the temperature line is drawn, with the excursion spelled out
        expect(parcel.locator("[data-testid=parcel-temperature] canvas")).to_have_count(1)
        expect(parcel.locator("[data-testid=parcel-excursions]")).to_contain_text("超出安全温度")
        assert _overflowing(page) == []
        parcel.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=SCREENSHOT, full_page=True)
        assert console_errors == []
