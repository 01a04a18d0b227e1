"""Supply chain at 1280 px: the fulfillment overview with its three charts, the excursion
list leading to a parcel's temperature chart, the rules form refusing a wrong field, and a
near-expiry lot put on a 限时特价 from the 临期库存 page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.fulfillment.services import (
    ReadingInput,
    device_create,
    readings_ingest,
    sandbox_carrier_tick,
    shipment_hand_over,
    shipment_pick,
)
from freshloop.inventory.services import stock_receive
from freshloop.promotions.models import Campaign
from tests.factories import make_sku, make_staff_user
from tests.fulfillment.factories import OPERATOR, make_parcel_order

pytestmark = pytest.mark.django_db(transaction=True)


def delivered_cold_parcel_with_an_excursion() -> str:
    parcels = make_parcel_order(
        sku_name="牧场鲜牛奶", promised_on=clock.to_shanghai(clock.now()).date()
    )
    shipment_pick(shipment_id=parcels.shipment.pk, actor=OPERATOR)
    shipment_hand_over(shipment_id=parcels.shipment.pk, actor=OPERATOR)
    while sandbox_carrier_tick():
        pass
    device, _ = device_create(code="LOG-CON", actor=OPERATOR, shipment_id=parcels.shipment.pk)
    start = clock.now() - dt.timedelta(hours=4)
    readings = []
    for minute in range(0, 240, 5):
        warm = 100 <= minute < 140
        celsius = 6.5 + (minute - 100) / 20 if warm else 2.5 + (minute % 30) / 30
        readings.append(
            ReadingInput(
                reading_id=f"con-{minute}",
                recorded_at=start + dt.timedelta(minutes=minute),
                celsius=round(celsius, 1),
            )
        )
    assert readings_ingest(device=device, readings=readings).excursions_found == 1
    return parcels.shipment.shipment_no


def near_expiry_lot() -> None:
    """Yogurt keeping 7 days, a lot with 5 days left: the shop's last day for it."""
    yogurt = make_sku(name="原味酸奶", price_fen=1290)
    today = clock.to_shanghai(clock.now()).date()
    expires = today + dt.timedelta(days=5)
    lot = batch_register(
        sku=yogurt,
        batch_no="YG-0601",
        produced_on=expires - dt.timedelta(days=7),
        expires_on=expires,
    )
    warehouse = make_parcel_order().warehouse
    stock_receive(sku=yogurt, warehouse=warehouse, quantity=40, actor=OPERATOR, batch=lot)


class TestFulfillmentConsole:
    def test_overview_excursions_rules_and_a_near_expiry_flash_price(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given a delivered chilled parcel that got too warm, and a lot nearing the shop's limit
        shipment_no = delivered_cold_parcel_with_an_excursion()
        near_expiry_lot()
        make_staff_user("laoli", Role.SUPPLY_CHAIN)
        base = live_server.url
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{base}/console/login/?next=/console/fulfillment/")
        page.fill("input[name=username]", "laoli")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")

        # the overview: KPIs with the excursion rate, and three charts drawn
        expect(page.locator("[data-testid=kpi-excursion]")).to_have_text("100.0%")
        for chart in ("on-time-chart", "cost-chart", "excursion-chart"):
            expect(page.locator(f"[data-testid={chart}] canvas")).to_have_count(1)
        page.wait_for_timeout(300)
        page.screenshot(path="/tmp/ff_overview.png", full_page=True)  # noqa: S108

        # the excursion list leads to the parcel, whose temperature is charted
        page.click("nav[aria-label=履约] >> text=温度异常")
        row = page.locator("[data-testid=excursion-row]")
        expect(row).to_have_count(1)
        row.locator(f"text={shipment_no}").click()
        expect(page.locator("[data-testid=temperature-chart] canvas")).to_have_count(1)
        expect(page.locator("[data-testid=shipment-excursions] tbody tr")).to_have_count(1)

        # a rule without a name is refused with the reason under the input
        page.goto(f"{base}/console/fulfillment/rules/")
        page.select_option("[data-testid=rule-trigger]", "excursion")
        page.select_option("[data-testid=rule-action]", "full_refund")
        page.click("[data-testid=rule-submit]")
        expect(page.locator("[data-testid=error-name]")).to_have_text("请填写规则名称")
        page.fill("[data-testid=rule-name]", "冷链超温全额退")
        page.fill("[data-testid=rule-min_excursion_minutes]", "30")
        page.click("[data-testid=rule-submit]")
        expect(page.locator("[data-testid=rule-row]")).to_contain_text("冷链超温全额退")
        page.screenshot(path="/tmp/ff_rules.png", full_page=True)  # noqa: S108

        # the near-expiry lot is put on a 限时特价, confirmed, once
        page.click("nav[aria-label=履约] >> text=临期库存")
        # (the fresh milk lots, received today with a 7-day shelf life, are there too)
        flash = page.locator("[data-testid=category-flash_price] [data-batch=YG-0601]")
        expect(flash).to_have_count(1)
        expect(flash.locator("[data-testid=near-expiry-price]")).to_have_value("10.32")
        page.once("dialog", lambda dialog: dialog.accept())
        flash.locator("[data-testid=launch-flash_price]").click()
        expect(page.locator("[data-testid=message]")).to_contain_text("已创建限时特价活动")
        expect(flash.locator("[data-testid=near-expiry-done]")).to_contain_text("已创建活动")
        assert Campaign.objects.filter(code__startswith="near-expiry-flash-").count() == 1
        assert Campaign.objects.get().name == "临期特价 YG-0601"
        page.screenshot(path="/tmp/ff_near_expiry.png", full_page=True)  # noqa: S108
        # the refused form answered 422 on purpose (the API's status); nothing else failed
        assert [e for e in console_errors if not e.startswith("422 ")] == []
