"""A first-time buyer at 390 px: 智能填写 fills the address, it is saved with the order, and the
next checkout has it preselected."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, Page, expect

from freshloop.identity.providers import SandboxJsSdk
from freshloop.orders.models import Address, Order
from tests.e2e.conftest import PHONE_CONTEXT, WECHAT_UA
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import SAVED_ADDRESS, make_sku
from tests.identity.test_jssdk import expected_signature

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
SAVED = SAVED_ADDRESS


@pytest.fixture
def page(phone_page: Page) -> Page:
    """The buyer's phone browser (outside WeChat)."""
    return phone_page


def _overflowing(page: Page) -> list[str]:
    """Elements whose right edge passes the viewport (a sideways scroll on a phone)."""
    result: list[str] = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const wide = [];
          for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1) wide.push(el.tagName + '.' + el.className + ' ' + Math.round(box.right));
          }
          if (document.documentElement.scrollWidth > width) wide.push('document ' + document.documentElement.scrollWidth);
          return wide;
        }"""
    )
    return result


class TestFirstTimeBuyerAddressBook:
    def test_paste_save_order_then_preselected(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given a first-time buyer at the checkout of one carton of milk
        milk = make_sku(price_fen=5990, stock=20, name="牧场鲜牛奶")
        base = live_server.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _log_in_by_phone(page, base, "13900139000", f"/m/products/{milk.product_id}")
        page.click("[data-testid=buy-now]")
        expect(page).to_have_url(re.compile(r"/m/checkout"))
        form = page.locator("[data-testid=address-form]")
        expect(form).to_be_visible()
        expect(page.locator("[data-testid=address-wechat]")).to_be_hidden()

        # when they paste an address into 智能填写
        page.fill("[data-testid=address-paste]", "张三 13800138000 上海市浦东新区张江路1号")
        page.click("[data-testid=address-parse]")

        # then the fields are filled, the pickers included
        expect(form.locator("input[name=name]")).to_have_value("张三")
        expect(form.locator("input[name=phone]")).to_have_value("13800138000")
        expect(form.locator("select[name=province]")).to_have_value("上海市")
        expect(form.locator("select[name=city]")).to_have_value("上海市")
        expect(form.locator("select[name=district]")).to_have_value("浦东新区")
        expect(form.locator("input[name=detail]")).to_have_value("张江路1号")
        assert _overflowing(page) == []
        page.screenshot(path=str(SCREENSHOTS / "checkout-address-form.png"), full_page=True)

        # when they save it
        page.click("[data-testid=address-save]")
        card = page.locator("[data-testid=address-card]")
        expect(card).to_be_visible()
        expect(card).to_contain_text("张三")
        expect(card).to_contain_text("138****8000")
        expect(card).to_contain_text("浦东新区 张江路1号")
        page.screenshot(path=str(SCREENSHOTS / "checkout-address-card.png"), full_page=True)

        # and place the order
        expect(page.locator("[data-testid=total]")).not_to_have_text("¥0.00")
        page.click("[data-testid=submit-order]")
        # the order page opens its cashier, which goes straight on to the one way to pay (the
        # sandbox's page): wait for that page, or the page.goto below races the cashier's own
        # navigation and Chromium aborts it (ERR_ABORTED, seen on a loaded CI machine)
        expect(page).to_have_url(re.compile(r"/m/pay/"))
        page.wait_for_load_state("load")
        assert Order.objects.get().address == SAVED
        assert Address.objects.get().is_default

        # then the next checkout shows that address preselected
        page.goto(f"{base}/m/checkout?sku={milk.pk}&qty=1")
        expect(card).to_be_visible()
        expect(card).to_contain_text("张三")
        expect(page.locator("[data-testid=address-form]")).to_be_hidden()
        assert _overflowing(page) == []

        # and 更换 opens the list, with room for a new one
        page.click("[data-testid=address-change]")
        address_list = page.locator("[data-testid=address-list]")
        expect(address_list).to_be_visible()
        expect(address_list).to_contain_text("默认")
        expect(page.locator("[data-testid=address-new]")).to_be_visible()
        assert _overflowing(page) == []
        page.screenshot(path=str(SCREENSHOTS / "checkout-address-list.png"), full_page=True)
        assert console_errors == []


# What the WeChat JS-SDK does inside WeChat: wx.config is recorded (WeChat checks the
# signature; the test does below), and openAddress hands back the buyer's address.
WECHAT_ADDRESS = """
window.wxConfigs = [];
window.wx = {
  config(options) { window.wxConfigs.push(options); },
  ready(callback) { setTimeout(callback, 0); },
  error() {},
  openAddress(options) { options.success({
    userName: '李四', telNumber: '13912345678', provinceName: '广东省', cityName: '深圳市',
    countyName: '南山区', detailInfo: '科苑路15号' }); },
};
"""


def _checkout_inside_wechat(
    browser: Browser,
    page: Page,
    base: str,
    init_script: str | None = None,
    on_error: Callable[[Any], None] | None = None,
) -> tuple[BrowserContext, Page]:
    """A buyer logs in on `page`, then opens a milk's checkout in WeChat's browser (same
    cookies); `init_script` stands in for what the WeChat JS-SDK would do."""
    milk = make_sku(price_fen=5990, stock=20, name="牧场鲜牛奶")
    _log_in_by_phone(page, base, "13900139000", f"/m/products/{milk.product_id}")
    wechat = browser.new_context(**{**PHONE_CONTEXT, "user_agent": WECHAT_UA})
    wechat.add_cookies(page.context.cookies())
    if init_script:
        wechat.add_init_script(init_script)
    inside = wechat.new_page()
    if on_error:
        inside.on("pageerror", on_error)
    inside.goto(f"{base}/m/checkout?sku={milk.pk}&qty=1")
    return wechat, inside


class TestWechatAddress:
    def test_inside_wechat_the_wechat_address_fills_the_form(
        self, browser: Browser, page: Page, live_server: Any
    ) -> None:
        # given a logged-in first-time buyer who opens the checkout inside WeChat
        wechat, inside = _checkout_inside_wechat(browser, page, live_server.url, WECHAT_ADDRESS)

        # when they tap 使用微信地址
        inside.click("[data-testid=address-wechat]")

        # then WeChat's address fills the form, pickers included
        form = inside.locator("[data-testid=address-form]")
        expect(form.locator("input[name=name]")).to_have_value("李四")
        expect(form.locator("input[name=phone]")).to_have_value("13912345678")
        expect(form.locator("select[name=province]")).to_have_value("广东省")
        expect(form.locator("select[name=city]")).to_have_value("深圳市")
        expect(form.locator("select[name=district]")).to_have_value("南山区")
        expect(form.locator("input[name=detail]")).to_have_value("科苑路15号")

        # and wx.config was called once, signed for this page with the official account's ticket
        configs = inside.evaluate("window.wxConfigs")
        assert len(configs) == 1
        config = configs[0]
        assert config["appId"] == settings.FRESHLOOP.wechat_app_id
        assert config["jsApiList"] == ["openAddress"]
        assert config["signature"] == expected_signature(
            ticket=SandboxJsSdk.ticket,
            nonce_str=config["nonceStr"],
            timestamp=config["timestamp"],
            url=inside.url.split("#")[0],
        )
        wechat.close()

    def test_the_vendored_jssdk_loads_as_wx(
        self, browser: Browser, page: Page, live_server: Any
    ) -> None:
        # given a buyer inside WeChat, with the real (vendored) JS-SDK
        errors: list[str] = []
        # when the checkout opens
        wechat, inside = _checkout_inside_wechat(
            browser, page, live_server.url, on_error=lambda error: errors.append(str(error))
        )
        # then the page fetched the JS-SDK, which defines wx.config and wx.openAddress
        inside.wait_for_function("window.wx && typeof wx.config === 'function'")
        assert inside.evaluate("typeof wx.openAddress") == "function"
        assert errors == []
        wechat.close()
