"""The product page's buy bar on phones 360, 390 and 414 px wide: nothing wider than the
screen, the cart link on one line, both buttons wholly on screen; 已加入购物车 is a toast."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import make_sku

pytestmark = pytest.mark.django_db(transaction=True)

# Every element's right edge, and the widest element, measured in the page.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wider = [];
  for (const node of document.querySelectorAll('body *')) {
    const box = node.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right > width + 0.5 || box.left < -0.5) wider.push(node.tagName + '.' + node.className + ' ' + Math.round(box.left) + '..' + Math.round(box.right));
  }
  return { width: width, scrollWidth: document.documentElement.scrollWidth, wider: wider };
}"""


@pytest.fixture
def page(phone_page: Page) -> Page:
    """The buyer's phone browser (outside WeChat)."""
    return phone_page


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


class TestBuyBarFitsPhones:
    @pytest.mark.parametrize("width", [360, 390, 414])
    def test_nothing_leaves_the_screen_and_the_buttons_are_whole(
        self, page: Page, live_server: Any, console_errors: list[str], width: int
    ) -> None:
        # given a product with two specs
        sku = make_sku(price_fen=5990, stock=20, name="牧场鲜牛奶 950ml 家庭装")
        page.set_viewport_size({"width": width, "height": 800})

        # when a shopper opens its page on a phone this wide
        page.goto(f"{live_server.url}/m/products/{sku.product_id}")
        expect(page.locator("[data-testid=product-name]")).to_be_visible()

        # then no element is wider than the screen
        measured = page.evaluate(_OVERFLOW)
        assert measured["width"] == width
        assert measured["scrollWidth"] <= width
        assert measured["wider"] == []
        # and 购物车 stands on one line, both buttons wholly inside the screen, text unwrapped
        cart = _box(page, "[data-testid=bar-cart]")
        glyph_and_text = page.locator("[data-testid=bar-cart]").evaluate(
            "(a) => a.lastChild.textContent"
        )
        assert glyph_and_text == "购物车"
        assert cart["height"] < 48
        for selector in ("[data-testid=add-to-cart]", "[data-testid=buy-now]"):
            button = _box(page, selector)
            assert button["x"] >= 0
            assert button["x"] + button["width"] <= width
            assert button["height"] < 56  # one line of text, not wrapped
            assert page.locator(selector).evaluate("(b) => b.scrollWidth <= b.clientWidth")
        assert console_errors == []


class TestAddedToCartToast:
    def test_added_to_cart_shows_a_toast_that_goes_away(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given a logged-in shopper on a product page
        sku = make_sku(price_fen=5990, stock=20, name="原味老酸奶")
        _log_in_by_phone(page, live_server.url, "13900139001", f"/m/products/{sku.product_id}")

        # when they add it to the cart
        page.click("[data-testid=add-to-cart]")

        # then a toast says so over the page, and fades by itself
        toast = page.locator("[data-testid=toast]")
        expect(toast).to_have_text("已加入购物车")
        expect(toast).to_be_visible()
        assert toast.evaluate("(t) => getComputedStyle(t).position") == "fixed"
        expect(toast).to_be_hidden(timeout=5000)
        assert console_errors == []
