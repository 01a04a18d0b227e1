"""A refused form says what to fix next to the input it is about (issue #14): the H5 pages put
each problem of the error envelope under the input whose `data-field` is its path
(`showFieldErrors` in web/h5/base.html) and focus the first."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from freshloop.live.host.services import product_pin
from freshloop.orders.models import Order
from tests.e2e.conftest import AsgiServer
from tests.e2e.test_live_loop import _viewer_room
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import make_sku
from tests.live.helpers import HOST_ACTOR, make_session

pytestmark = pytest.mark.django_db(transaction=True)

# Set to a directory to keep a picture of the refused checkout (to look at it as a shopper).
SCREENSHOT_DIR = os.environ.get("FRESHLOOP_SCREENSHOT_DIR", "")


@pytest.fixture
def phone(phone_page: Page) -> Page:
    return phone_page


class TestCheckoutAddress:
    def test_an_empty_phone_is_asked_for_under_its_input(
        self, phone: Page, live_server: Any
    ) -> None:
        # given a shopper at the checkout who filled in everything but the phone
        milk = make_sku(price_fen=5990, stock=20, name="牧场鲜牛奶")
        _log_in_by_phone(phone, live_server.url, "13900139000", f"/m/products/{milk.product_id}")
        phone.click("[data-testid=buy-now]")
        expect(phone).to_have_url(re.compile(r"/m/checkout"))
        # (a first-time buyer: the address book opens its form for the first address)
        phone.fill("input[name=name]", "王小明")
        phone.select_option("select[name=province]", "上海市")
        phone.select_option("select[name=city]", "上海市")
        phone.fill("input[name=detail]", "张江路 1 号")
        expect(phone.locator("[data-testid=total]")).not_to_have_text("¥0.00")

        # when the order is submitted
        phone.click("[data-testid=submit-order]")

        # then the page says so under the phone input, which has the focus, and no order exists
        note = phone.locator(".field-error[data-error-for='phone']")
        expect(note).to_have_text("请填写收货人手机号")
        phone_input = phone.locator("input[name=phone]")
        expect(phone_input).to_be_focused()
        expect(phone_input).to_have_attribute("aria-invalid", "true")
        if SCREENSHOT_DIR:
            phone.screenshot(path=f"{SCREENSHOT_DIR}/checkout-empty-phone.png", full_page=True)
        assert not Order.objects.exists()
        # and typing in it clears the message
        phone_input.fill("13900139000")
        expect(note).to_have_count(0)


class TestLogin:
    def test_asking_for_a_code_without_a_phone_points_at_the_phone(
        self, phone: Page, live_server: Any
    ) -> None:
        phone.goto(f"{live_server.url}/m/login?next=/m/")
        phone.click("[data-testid=send-code]")
        expect(phone.locator(".field-error[data-error-for=phone]")).to_have_text("请填写手机号")
        expect(phone.locator("input[name=phone]")).to_be_focused()

    def test_a_wrong_code_is_said_under_the_code_input(self, phone: Page, live_server: Any) -> None:
        phone.goto(f"{live_server.url}/m/login?next=/m/")
        phone.fill("input[name=phone]", "13900139000")
        phone.click("[data-testid=send-code]")
        expect(phone.locator("[data-testid=send-code]")).to_contain_text("秒后重发")
        phone.fill("input[name=code]", "000000")
        phone.click("[data-testid=login]")
        expect(phone.locator(".field-error[data-error-for=code]")).to_contain_text("验证码")


class TestLiveRoomSheet:
    def test_an_empty_phone_is_asked_for_in_the_checkout_sheet(
        self, browser: Browser, asgi_server: AsgiServer
    ) -> None:
        # given a viewer in a live room buying the pinned milk, the phone left empty
        milk = make_sku(price_fen=2990, stock=50, name="牧场鲜牛奶")
        session = make_session(skus=[milk])
        product_pin(session=session, sku_id=milk.pk, actor=HOST_ACTOR)
        errors: list[str] = []
        viewer = _viewer_room(browser, asgi_server.url, session.code, errors)
        viewer.click("[data-testid=pinned-buy]")
        sheet = viewer.locator("[data-testid=checkout-sheet]")
        sheet.locator("input[name=name]").fill("王小明")
        sheet.locator("select[name=province]").select_option("上海市")
        sheet.locator("select[name=city]").select_option("上海市")
        sheet.locator("input[name=detail]").fill("张江路 1 号")
        expect(viewer.locator("[data-testid=room-price]")).to_contain_text("¥29.90")
        # (¥29.90 of chilled milk: ¥69.10 more ships free)
        expect(viewer.locator("[data-testid=room-free-shipping-nudge]")).to_have_text(
            "再买 ¥69.10 即可包邮"
        )

        # when they tap pay
        viewer.click("[data-testid=room-pay]")

        # then the sheet says so under the phone input, focused, and no order is placed
        expect(sheet.locator(".field-error[data-error-for='phone']")).to_have_text(
            "请填写收货人手机号"
        )
        expect(sheet.locator("input[name=phone]")).to_be_focused()
        if SCREENSHOT_DIR:
            viewer.screenshot(path=f"{SCREENSHOT_DIR}/room-empty-phone.png")
        assert not Order.objects.exists()
        assert [e for e in errors if "pageerror" in e] == []
