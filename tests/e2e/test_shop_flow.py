"""A buyer on a phone: two products into the cart, checkout with a coupon and the explained
price, pay in the sandbox cashier, and see the order paid — all through real pages."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core import clock
from freshloop.identity.models import Identifier
from freshloop.orders.models import Order, OrderStatus
from freshloop.promotions.models import Coupon, CouponStatus
from tests.e2e.test_login_flows import MOBILE, _sms_code_from_outbox
from tests.factories import give_coupon, make_sku
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(phone_page: Page) -> Page:
    """The buyer's phone browser (outside WeChat)."""
    return phone_page


def _log_in_by_phone(page: Page, base_url: str, phone: str, next_path: str) -> None:
    page.goto(f"{base_url}/m/login?next={next_path}")
    page.fill("input[name=phone]", phone)
    page.click("[data-testid=send-code]")
    expect(page.locator("[data-testid=send-code]")).to_contain_text("秒后重发")
    page.fill("input[name=code]", _sms_code_from_outbox())
    page.click("[data-testid=login]")
    expect(page).to_have_url(f"{base_url}{next_path}")


class TestBuyWithCouponAndPay:
    def test_two_products_coupon_sandbox_payment_order_paid(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given two chilled products in stock and a 满99减20 coupon waiting for the buyer
        milk = make_sku(price_fen=5990, stock=20, name="牧场鲜牛奶")
        yogurt = make_sku(price_fen=3290, stock=20, name="原味老酸奶", category_code="yogurt")
        page.set_viewport_size(MOBILE)
        base = live_server.url
        _log_in_by_phone(page, base, "13900139000", f"/m/products/{milk.product_id}")
        person = Identifier.objects.get(type="phone").person
        coupon = give_coupon(
            person,
            coupon_template(valid_from=clock.now() - dt.timedelta(hours=1)),
        )

        # when they put both products in the cart from their pages
        page.click("[data-testid=add-to-cart]")
        expect(page.locator("[data-testid=toast]")).to_have_text("已加入购物车")
        page.goto(f"{base}/m/products/{yogurt.product_id}")
        expect(page.locator("[data-testid=product-name]")).to_have_text("原味老酸奶")
        page.click("[data-testid=add-to-cart]")
        expect(page.locator("[data-testid=toast]")).to_have_text("已加入购物车")
        page.goto(f"{base}/m/cart")
        expect(page.locator("[data-testid=cart-line]")).to_have_count(2)
        page.click("[data-testid=go-checkout]")

        # and check out: the best coupon is chosen and the price is explained line by line
        expect(page).to_have_url(f"{base}/m/checkout")
        page.fill("input[name=name]", "王小明")
        page.fill("input[name=phone]", "13900139000")
        page.select_option("select[name=province]", "上海市")
        page.select_option("select[name=city]", "上海市")
        page.fill("input[name=detail]", "张江路 1 号")
        explanation = page.locator("[data-testid=price-explanation]")
        expect(explanation).to_contain_text("商品金额")
        # ¥59.90 + ¥32.90 = ¥92.80 is below ¥99: the coupon does not apply yet
        expect(page.locator(f"[data-testid=coupon-{coupon.pk}]")).to_be_disabled()
        page.goto(f"{base}/m/cart")
        page.locator("[data-testid=cart-line]").first.locator("button", has_text="+").click()
        expect(page.locator("[data-testid=qty]").first).to_have_text("2")
        page.click("[data-testid=go-checkout]")
        for field, value in [
            ("name", "王小明"),
            ("phone", "13900139000"),
            ("detail", "张江路 1 号"),
        ]:
            page.fill(f"input[name={field}]", value)
        page.select_option("select[name=province]", "上海市")
        page.select_option("select[name=city]", "上海市")
        # ¥59.90×2 + ¥32.90 = ¥152.70 − ¥20 = ¥132.70, free cold-chain shipping from ¥99
        expect(page.locator(f"[data-testid=coupon-{coupon.pk}]")).to_be_checked()
        expect(page.locator("[data-testid=total]")).to_have_text("¥132.70")
        expect(explanation).to_contain_text("满99减20")
        expect(explanation).to_contain_text("−¥20.00")
        page.click("[data-testid=submit-order]")

        # then the sandbox cashier asks for exactly that amount
        expect(page).to_have_url(re.compile(r"/m/pay/"))
        expect(page.locator("[data-testid=pay-amount]")).to_contain_text("132.70")
        page.click("[data-testid=pay-confirm]")

        # and the order page shows it paid, with the timeline
        expect(page).to_have_url(re.compile(r"/m/orders/O_[^?]+$"))
        expect(page.locator("[data-testid=order-status]")).to_have_text("已支付")
        expect(page.locator("[data-testid=timeline]")).to_contain_text("支付成功")
        order = Order.objects.get()
        assert order.status == OrderStatus.PAID
        assert order.paid_fen == 13270
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.USED
        assert console_errors == []
