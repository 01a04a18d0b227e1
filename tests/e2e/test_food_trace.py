"""Scanning a pack's QR code opens the lot's traceability page and its pasture tour.

The operator (supply chain, 1280 px) opens the lot in the console: the QR code offered for
download encodes the address shown under it. A shopper's phone (390 px) then opens that
address — what a camera reading the code opens (segno writes codes but cannot read them, so the
test checks the PNG is the code of that address, then follows the address) — and sees the
verified lot, the pasture's 360° panorama viewer initialised, the records, the cold chain and
the 修改记录. A screenshot of the phone's page is kept for the docs."""

from __future__ import annotations

import dataclasses
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import segno
from playwright.sync_api import Browser, Page, expect

from freshloop.core.permissions import Role
from freshloop.food.services import (
    trace_media_add,
    trace_origin_assign,
    trace_publish,
    trace_record_add,
    trace_record_update,
)
from freshloop.web.demo_food_trace import pasture_panorama, pasture_photo
from tests.e2e.conftest import PHONE_CONTEXT
from tests.factories import make_staff_user
from tests.food.trace_helpers import OPERATOR, make_lot, make_origin, yesterday

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = os.environ.get("FRESHLOOP_TRACE_SCREENSHOT", "/tmp/trace.png")  # noqa: S108
CONSOLE_SCREENSHOT = os.environ.get(
    "FRESHLOOP_TRACE_CONSOLE_SCREENSHOT",
    "/tmp/trace_console.png",  # noqa: S108
)


def published_lot_with_a_pasture_tour() -> int:
    lot = make_lot(name="牧场鲜牛奶")
    trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
    record = trace_record_add(
        batch=lot,
        kind="inspection",
        occurred_on=yesterday(),
        title="出厂检验",
        inspector="质检员 张敏",
        result="菌落总数合格",
        actor=OPERATOR,
    )
    trace_media_add(
        batch=lot,
        kind="panorama",
        file=pasture_panorama(),
        caption="牧场 360° 全景",
        actor=OPERATOR,
    )
    trace_media_add(
        batch=lot, kind="photo", file=pasture_photo(), caption="夏季放牧", actor=OPERATOR
    )
    trace_publish(batch=lot, actor=OPERATOR)
    trace_record_update(
        record=record,
        kind="inspection",
        occurred_on=yesterday(),
        title="出厂检验",
        inspector="质检员 张敏",
        result="菌落总数合格（第三方复检：合格）",
        actor=OPERATOR,
    )
    trace_publish(batch=lot, actor=OPERATOR, note="补充复检结果")
    return lot.pk


class TestScanLotQr:
    def test_scan_opens_the_pasture_tour(
        self, browser: Browser, live_server: Any, settings: Any, console_errors: list[str]
    ) -> None:
        # the QR codes point at this server, as FRESHLOOP_PUBLIC_BASE_URL does in production
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP, public_base_url=live_server.url
        )
        lot_id = published_lot_with_a_pasture_tour()
        make_staff_user("laowang", Role.SUPPLY_CHAIN)

        # given the operator's console page of the lot
        console = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        desk = console.new_page()
        desk.goto(f"{live_server.url}/console/login/?next=/console/food/trace/lots/{lot_id}/")
        desk.fill("input[name=username]", "laowang")
        desk.fill("input[name=password]", "pass-1234")
        desk.click("button[type=submit]")
        expect(desk.locator("[data-testid=trace-published-version]")).to_have_text("v2")
        url = desk.locator("[data-testid=trace-public-url]").inner_text().strip()
        assert url.startswith(f"{live_server.url}/trace/{lot_id}.")
        # and the QR code it offers encodes exactly that address
        with desk.expect_download() as download_info:
            desk.click("[data-testid=trace-qr-png]")
        png = Path(download_info.value.path()).read_bytes()
        desk.screenshot(path=CONSOLE_SCREENSHOT, full_page=True)
        expected = io.BytesIO()
        segno.make(url, error="q").save(expected, kind="png", scale=12, border=4)
        assert png == expected.getvalue()
        console.close()

        # when a shopper's phone opens the address the code carries
        phone = browser.new_context(**PHONE_CONTEXT)
        page: Page = phone.new_page()
        page.on("pageerror", lambda error: console_errors.append(f"pageerror: {error}"))
        page.on(
            "response",
            lambda response: (
                console_errors.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )
        page.goto(url)

        # then the lot is verified and the pasture's panorama viewer is running
        expect(page.locator("[data-testid=trace-verified]")).to_contain_text("溯源码校验通过")
        expect(page.locator("[data-testid=trace-product]")).to_contain_text("牧场鲜牛奶")
        panorama = page.locator("[data-testid=panorama]")
        expect(panorama.locator(".psv-container")).to_have_count(1)
        expect(panorama).to_have_attribute("data-state", "ready", timeout=15_000)
        expect(panorama.locator("canvas")).to_have_count(1)
        # with the origin and its location, the records, the cold chain and the change log
        expect(page.locator("[data-testid=trace-origin]")).to_contain_text("呼伦贝尔一号牧场")
        expect(page.locator("[data-testid=trace-location]")).to_contain_text("49.328412")
        expect(page.locator("[data-testid=trace-record]")).to_contain_text("第三方复检")
        expect(page.locator("[data-testid=trace-step]").first).to_contain_text("生产")
        expect(page.locator("[data-testid=trace-version]")).to_have_count(2)
        expect(page.locator("[data-testid=trace-history]")).to_contain_text(
            "修改检验报告「出厂检验」结果：菌落总数合格 → 菌落总数合格（第三方复检：合格）"
        )
        # the plain picture stays hidden while the viewer runs
        expect(page.locator("[data-panorama-fallback]")).to_be_hidden()
        # and dragging across it turns the view: the viewer follows the finger
        panorama.scroll_into_view_if_needed()
        box = panorama.bounding_box()
        assert box is not None
        looking_at = panorama.get_attribute("data-yaw")
        middle_y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.8, middle_y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(box["x"] + box["width"] * (0.8 - 0.06 * step), middle_y)
        page.mouse.up()
        expect(panorama).to_have_attribute("data-yaw", re.compile(r"^-?\d+$"))
        expect(panorama).not_to_have_attribute("data-yaw", looking_at or "0")
        page.wait_for_timeout(500)
        page.screenshot(path=SCREENSHOT, full_page=True)
        assert console_errors == []
        phone.close()
