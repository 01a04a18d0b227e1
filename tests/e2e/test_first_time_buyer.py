"""The first-time buyer's whole journey on three phone widths (issue #14's done-when): log in
with a text code → a product → the cart → checkout with a pasted address → pay → an
after-sales request, with no validation error on the way and nothing wider than the screen."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Response, expect

from freshloop.core import clock
from freshloop.identity.models import Identifier
from freshloop.orders.models import AfterSalesCase, Order, OrderStatus
from tests.e2e.conftest import PHONE_CONTEXT
from tests.e2e.test_address_book import _overflowing
from tests.e2e.test_aftersales import _photo
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import give_coupon, make_sku
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db(transaction=True)


def _fen(text: str) -> int:
    """'¥119.80' → 11980."""
    return round(float(text.replace("¥", "").replace("−", "").strip()) * 100)


@pytest.mark.parametrize("width", [360, 390, 414])
def test_login_product_cart_checkout_pay_aftersales(
    browser: Browser, live_server: Any, width: int
) -> None:
    # given a phone of this width, a chilled milk in stock and nobody signed in
    context = browser.new_context(**{**PHONE_CONTEXT, "viewport": {"width": width, "height": 800}})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))

    def validation_errors(response: Response) -> None:
        if response.status == 422 or (response.status >= 400 and "/api/" not in response.url):
            problems.append(f"{response.status} {response.url}")

    page.on("response", validation_errors)
    milk = make_sku(price_fen=5990, stock=20, name="牧场鲜牛奶")
    base = live_server.url

    def fits(where: str) -> None:
        assert page.viewport_size is not None
        assert page.viewport_size["width"] == width
        assert _overflowing(page) == [], where
        assert page.locator(".field-error").count() == 0, where

    # when they log in with a text code and land on the product
    _log_in_by_phone(page, base, "13900139077", f"/m/products/{milk.product_id}")
    person = Identifier.objects.get(type="phone").person
    coupon = give_coupon(
        person,
        coupon_template(
            code="welcome5",
            name="新人满50减5",
            kind="threshold",
            amount_off_fen=500,
            threshold_fen=5000,
            valid_from=clock.now() - dt.timedelta(hours=1),
        ),
    )
    expect(page.locator("[data-testid=product-name]")).to_have_text("牧场鲜牛奶")
    fits("product")

    # and put two cartons in the cart
    page.click("[data-testid=add-to-cart]")
    expect(page.locator("[data-testid=toast]")).to_have_text("已加入购物车")
    page.goto(f"{base}/m/cart")
    expect(page.locator("[data-testid=cart-line]")).to_have_count(1)
    page.locator("[data-testid=cart-line] button", has_text="+").click()
    expect(page.locator("[data-testid=qty]")).to_have_text("2")
    fits("cart")

    # and check out, pasting their address into 智能填写
    page.click("[data-testid=go-checkout]")
    expect(page).to_have_url(f"{base}/m/checkout")
    page.fill("[data-testid=address-paste]", "王小明 13900139077 上海市浦东新区张江路1号")
    page.click("[data-testid=address-parse]")
    expect(page.locator("select[name=district]")).to_have_value("浦东新区")
    fits("checkout form")
    page.click("[data-testid=address-save]")
    expect(page.locator("[data-testid=address-card]")).to_contain_text("王小明")
    expect(page.locator(f"[data-testid=coupon-{coupon.pk}]")).to_be_checked()
    expect(page.locator("[data-testid=total]")).to_have_text("¥114.80")

    # then the lines add up to 商品金额 (the coupon's share is shown under the line)
    explanation = page.locator("[data-testid=price-explanation] .row")
    subtotal = explanation.filter(has_text="商品金额").locator("span").last.inner_text()
    lines = page.locator("[data-testid=line-amount] > span").all_inner_texts()
    assert sum(_fen(text) for text in lines) == _fen(subtotal) == 11980
    fits("checkout")

    # when they place the order and pay in the cashier
    page.click("[data-testid=submit-order]")
    expect(page).to_have_url(re.compile(r"/m/pay/"))
    expect(page.locator("[data-testid=pay-amount]")).to_contain_text("114.80")
    fits("cashier")
    page.click("[data-testid=pay-confirm]")
    # back on the order page, the cashier confirms the payment and settles on its plain address
    expect(page).to_have_url(re.compile(r"/m/orders/O_[^?]+$"))
    expect(page.locator("[data-testid=order-status]")).to_have_text("已支付")
    fits("order")

    # and ask for after-sales: one carton arrived damaged, with a photo
    page.click("[data-testid=aftersales-open]")
    form = page.locator("[data-testid=aftersales-form]")
    form.get_by_text("商品破损", exact=True).click()
    form.locator("[data-testid=aftersales-plus]").first.click()
    form.locator("textarea[name=description]").fill("盒子压坏了")
    form.locator("[data-testid=aftersales-photos]").set_input_files(
        files=[{"name": "box.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
    )
    fits("after-sales form")
    form.locator("[data-testid=aftersales-submit]").click()

    # then the case waits for customer service, and nothing went wrong on the way
    expect(page.locator("[data-testid=aftersales-status]")).to_have_text("待处理")
    fits("after-sales submitted")

    # and 我的 → 我的售后 lists it, with one case waiting
    page.goto(f"{base}/m/me")
    expect(page.locator("[data-testid=my-aftersales-open]")).to_have_text("1")
    page.click("[data-testid=my-aftersales]")
    expect(page.locator("[data-testid=aftersales-case]")).to_contain_text("盒子压坏了")
    fits("my after-sales")
    order = Order.objects.get()
    assert order.status == OrderStatus.PAID
    assert order.paid_fen == 11480
    assert order.address["district"] == "浦东新区"
    case = AfterSalesCase.objects.get()
    assert case.order_id == order.pk
    assert case.lines == [{"line_id": order.lines.get().pk, "quantity": 1}]
    assert problems == []
    context.close()
