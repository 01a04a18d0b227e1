"""The whole live loop with two browsers: the host goes live and pins a product, the viewer
comments and the host sees it, the host starts a flash sale, the viewer buys and pays without
leaving the room, and the host's stats show the order."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from freshloop.core import clock
from freshloop.live.models import FlashSaleClaim, LiveSession
from freshloop.live.room.services import live_session_create
from freshloop.orders.models import Order, OrderStatus
from tests.e2e.conftest import PHONE_CONTEXT, AsgiServer
from tests.e2e.test_login_flows import _sms_code_from_outbox
from tests.factories import make_sku
from tests.live.helpers import HOST_ACTOR, make_host

pytestmark = pytest.mark.django_db(transaction=True)


def _watch_errors(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )


def _host_console(browser: Browser, base: str, code: str, errors: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    _watch_errors(page, errors)
    page.goto(f"{base}/console/login/?next=/console/live/{code}")
    page.fill("input[name=username]", "host")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/console/live/{code}")
    return page


def _viewer_room(browser: Browser, base: str, code: str, errors: list[str]) -> Page:
    context = browser.new_context(**PHONE_CONTEXT)
    page = context.new_page()
    _watch_errors(page, errors)
    page.goto(f"{base}/m/login?next=/m/live/{code}")
    page.fill("input[name=phone]", "13900139001")
    page.click("[data-testid=send-code]")
    expect(page.locator("[data-testid=send-code]")).to_contain_text("秒后重发")
    page.fill("input[name=code]", _sms_code_from_outbox())
    page.click("[data-testid=login]")
    expect(page).to_have_url(f"{base}/m/live/{code}")
    return page


class TestLiveLoop:
    def test_host_and_viewer_run_the_whole_loop(
        self, browser: Browser, asgi_server: AsgiServer
    ) -> None:
        # given a scheduled session with milk and eggs in stock
        milk = make_sku(price_fen=2990, stock=50, name="牧场鲜牛奶")
        eggs = make_sku(price_fen=4590, stock=50, name="散养土鸡蛋", category_code="eggs")
        session = live_session_create(
            title="周五会员直播",
            host=make_host(),
            scheduled_at=clock.now() + dt.timedelta(minutes=5),
            sku_ids=[milk.pk, eggs.pk],
            actor=HOST_ACTOR,
        )
        base, code = asgi_server.url, session.code

        # when the host goes live and pins the milk
        errors: list[str] = []
        host = _host_console(browser, base, code, errors)
        host.click("[data-testid=go-live]")
        # Going live writes the session, its timeline and the domain events in one request; at
        # the end of a full PostgreSQL run on 2 cores that once took longer than the 5 s default.
        expect(host.get_by_text("直播中").first).to_be_visible(timeout=15000)
        host.click(f"[data-testid=pin-{milk.pk}]")

        # then the viewer, in the room, sees the pinned milk
        viewer = _viewer_room(browser, base, code, errors)
        expect(viewer.locator("[data-testid=pinned-card]")).to_contain_text("牧场鲜牛奶")

        # when the viewer comments, the host sees it live
        viewer.fill("[data-testid=comment-input]", "这个奶是当天的吗？")
        viewer.click("[data-testid=comment-send]")
        expect(viewer.locator("[data-testid=comments]")).to_contain_text("这个奶是当天的吗？")
        expect(host.locator("[data-testid=comment-list]")).to_contain_text("这个奶是当天的吗？")

        # and markup in a comment stays text on both pages (no script runs, no image loads)
        dialogs: list[str] = []
        for page in (viewer, host):
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        attack = '<img src=x onerror="alert(1)">'
        viewer.fill("[data-testid=comment-input]", attack)
        viewer.click("[data-testid=comment-send]")
        expect(host.locator("[data-testid=comment-list]")).to_contain_text(attack)
        expect(viewer.locator("[data-testid=comments]")).to_contain_text(attack)
        assert viewer.locator("[data-testid=comments] img").count() == 0
        assert host.locator("[data-testid=comment-list] img").count() == 0

        # when the host starts a flash sale on the milk
        host.fill("[data-testid=flash-price]", "19.90")
        host.fill("[data-testid=flash-quantity]", "5")
        host.click("[data-testid=flash-start]")
        expect(viewer.locator("[data-testid=pinned-buy]")).to_have_text("马上抢")

        # the viewer buys and pays inside the room
        viewer.click("[data-testid=pinned-buy]")
        sheet = viewer.locator("[data-testid=checkout-sheet]")
        for field, value in [
            ("name", "王小明"),
            ("phone", "13900139001"),
            ("detail", "张江路 1 号"),
        ]:
            sheet.locator(f"input[name={field}]").fill(value)
        sheet.locator("select[name=province]").select_option("上海市")
        sheet.locator("select[name=city]").select_option("上海市")
        expect(viewer.locator("[data-testid=room-price]")).to_contain_text("直播秒杀价")
        # the pay button spans the sheet (14 px either side), not weui's 280 px at most
        sheet_box = sheet.bounding_box()
        pay_box = viewer.locator("[data-testid=room-pay]").bounding_box()
        assert sheet_box is not None
        assert pay_box is not None
        assert abs(pay_box["width"] - (sheet_box["width"] - 28)) <= 1
        viewer.click("[data-testid=room-pay]")
        cashier = viewer.frame_locator("[data-testid=cashier]")
        cashier.locator("[data-testid=pay-confirm]").click()
        expect(viewer.locator("[data-testid=pinned-buy]")).to_have_text("已购", timeout=15000)
        expect(viewer).to_have_url(re.compile(rf"/m/live/{code}$"))  # never left the room

        # and the host's stats show the order
        expect(host.locator("[data-testid=stat-orders]")).to_have_text("1", timeout=10000)
        expect(host.locator("[data-testid=stat-gmv]")).to_contain_text(
            "34.90"
        )  # paid, shipping included
        order = Order.objects.get(source_ref=code)
        assert order.status == OrderStatus.PAID
        assert order.total_fen == 1990 + 1500  # the flash price, cold-chain shipping under ¥99
        assert FlashSaleClaim.objects.get().order_ref == order.order_no
        assert LiveSession.objects.get(pk=session.pk).status == "live"
        assert errors == []
        assert dialogs == []
