"""One chilled order from payment to delivery, as the buyer and the system live it: the buyer
pays in the sandbox cashier; the solver allocates it to the cold warehouse and a cold-chain
carrier; the warehouse hands it over and the sandbox carrier walks it to the door; the logger
in the box reports a warm spell through the telemetry API; the after-sales rule refunds the
milk on its own; and the buyer's order page shows the promise, the route, the temperature
line and why the money came back — with the notice in their messages."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.outbox import outbox_relay
from freshloop.fulfillment.aftersales_rules import aftersales_rule_create
from freshloop.fulfillment.models import Allocation, AllocationStatus, AutoDecision, Shipment
from freshloop.fulfillment.services import (
    RateSpec,
    allocations_run,
    carrier_configure,
    device_create,
    sandbox_carrier_tick,
    shipment_hand_over,
    shipment_pick,
)
from freshloop.inventory.services import stock_receive, warehouse_upsert
from freshloop.orders.models import Order, OrderStatus
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import make_sku
from tests.fulfillment.factories import OPERATOR

pytestmark = pytest.mark.django_db(transaction=True)

# Where the journey leaves the buyer's order page for people to look at (not compared).
SCREENSHOT = os.environ.get("FRESHLOOP_JOURNEY_SCREENSHOT", "/tmp/journey.png")  # noqa: S108


def _relay_until_quiet() -> None:
    """What the worker does: deliver effects (after-sales decision, refund, in-app notice)
    until nothing is due."""
    with clock.frozen(clock.now() + dt.timedelta(minutes=2)):
        for _ in range(10):
            if outbox_relay(batch_size=500).sent == 0:
                break


class TestOneColdOrderFromPaymentToDelivery:
    def test_paid_allocated_carried_too_warm_refunded_and_explained(
        self, phone_page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        page, base = phone_page, live_server.url
        # given a cold warehouse in 上海 and a dry one in 北京, two carriers, fresh milk in a lot
        cold = warehouse_upsert(
            code="sh-qp", name="上海青浦冷链仓", province="上海", city="上海", chilled=True
        )
        warehouse_upsert(code="bj-dry", name="北京常温仓", province="北京", city="北京")
        carrier_configure(
            code="sf-cold",
            name="顺丰冷运",
            chilled=True,
            frozen=True,
            rates=[RateSpec(first_fee_fen=1800, extra_per_kg_fen=400, cold_surcharge_fen=600)],
        )
        carrier_configure(
            code="zto", name="中通快递", rates=[RateSpec(first_fee_fen=800, extra_per_kg_fen=200)]
        )
        milk = make_sku(price_fen=5990, name="牧场鲜牛奶", storage="chilled")
        today = clock.to_shanghai(clock.now()).date()
        lot = batch_register(sku=milk, batch_no="M1206", produced_on=today)
        stock_receive(sku=milk, warehouse=cold, quantity=20, actor=OPERATOR, batch=lot)
        # and a rule: milk that got too warm on the way is refunded without anyone asking
        aftersales_rule_create(
            spec={"name": "冷链超温全额退", "trigger": "excursion", "action": "full_refund"},
            actor=OPERATOR,
        )

        # when the buyer buys it on their phone and pays in the sandbox cashier
        _log_in_by_phone(page, base, "13900139031", f"/m/products/{milk.product_id}")
        page.click("[data-testid=buy-now]")
        expect(page).to_have_url(re.compile(r"/m/checkout"))
        page.fill("input[name=name]", "王小明")
        page.fill("input[name=phone]", "13900139031")
        page.select_option("select[name=province]", "上海市")
        page.select_option("select[name=city]", "上海市")
        page.fill("input[name=detail]", "张江路 1 号")
        page.click("[data-testid=submit-order]")
        expect(page).to_have_url(re.compile(r"/m/pay/"))
        page.click("[data-testid=pay-confirm]")
        # the cashier settles on the order's plain address (the reload below would race it)
        expect(page).to_have_url(re.compile(r"/m/orders/O_[^?]+$"))
        expect(page.locator("[data-testid=order-status]")).to_have_text("已支付")
        order = Order.objects.get()
        # and, waiting for the batch, the page names the date allocation would promise
        estimate = page.locator("[data-testid=delivery-estimate]")
        expect(estimate).to_contain_text("预计")
        previewed = re.search(r"\d+月\d+日（周.）", estimate.inner_text())
        assert previewed is not None

        # then payment opened its allocation, and the batch job sends it cold, from 上海
        assert Allocation.objects.get(order=order).status == AllocationStatus.PENDING
        assert allocations_run().allocated == [order.pk]
        # and the promise on the page is the date the buyer was shown before
        page.reload()
        expect(estimate).to_contain_text(f"承诺 {previewed.group(0)}前送达")
        shipment = Shipment.objects.select_related("warehouse", "carrier").get(order=order)
        assert (shipment.warehouse.name, shipment.carrier.name, shipment.storage) == (
            "上海青浦冷链仓",
            "顺丰冷运",
            "chilled",
        )
        assert shipment.lines.get().batch == lot

        # when the warehouse hands it over and the carrier carries it to the door
        shipment_pick(shipment_id=shipment.pk, actor=OPERATOR)
        shipment_hand_over(shipment_id=shipment.pk, actor=OPERATOR)
        while sandbox_carrier_tick():
            pass
        # and the logger in the box reports four hours, 40 minutes of them above 4 ℃
        _, key = device_create(code="LOG-J1", actor=OPERATOR, shipment_id=shipment.pk)
        start = clock.now() - dt.timedelta(hours=4)
        readings = [
            {
                "reading_id": f"j1-{minute}",
                "recorded_at": (start + dt.timedelta(minutes=minute)).isoformat(),
                "celsius": 7.5 if 100 <= minute < 140 else 3.0,
            }
            for minute in range(0, 240, 5)
        ]
        answer = httpx.post(
            f"{base}/api/v1/fulfillment/telemetry/readings",
            json={"readings": readings},
            headers={"X-Device-Key": key},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["excursions_found"] == 1
        _relay_until_quiet()

        # then the rule refunded the milk (the goods; the delivery fee stays), with its reason
        order.refresh_from_db()
        assert order.status == OrderStatus.PARTIALLY_REFUNDED
        assert order.refunded_fen == 5990
        decision = AutoDecision.objects.get(order=order)
        assert decision.status == "executed"
        assert "温度" in decision.explanation

        # and the buyer's order page shows the route, the temperature line and the reason
        page.goto(f"{base}/m/orders/{order.order_no}")
        parcel = page.locator("[data-testid=parcel]")
        expect(parcel).to_contain_text("上海青浦冷链仓")
        expect(parcel).to_contain_text("顺丰冷运")
        expect(parcel.locator("[data-testid=parcel-route] li").first).to_contain_text("已签收")
        expect(parcel.locator("[data-testid=parcel-temperature] canvas")).to_have_count(1)
        expect(page.locator("[data-testid=auto-decision]")).to_contain_text("温度")
        page.wait_for_timeout(300)  # the chart's first frame
        page.screenshot(path=SCREENSHOT, full_page=True)
        # and their messages carry the same notice
        page.goto(f"{base}/m/messages")
        expect(page.locator("[data-testid=inbox-message]").first).to_contain_text("温度")
        assert console_errors == []
