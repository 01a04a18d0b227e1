"""A buyer at 390 px reports a damaged bottle of a paid order: 申请售后, 商品破损, one unit, a
photo, submit — and the order page shows the case 待处理."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from freshloop.identity.models import Identifier
from freshloop.orders.models import AfterSalesCase
from tests.e2e.test_address_book import _overflowing
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import make_sku
from tests.orders.helpers import buy, pay

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (220, 60, 60)).save(out, "JPEG")
    return out.getvalue()


class TestAfterSalesOnThePhone:
    def test_damaged_unit_with_a_photo_is_submitted_and_shown_pending(
        self, phone_page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        page = phone_page
        base = live_server.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # given a buyer signed in with a paid order of two bottles of milk
        milk = make_sku(price_fen=3000, stock=10, name="牧场鲜牛奶")
        _log_in_by_phone(page, base, "13900139011", "/m/me")
        person = Identifier.objects.get(type="phone").person
        order = pay(buy(person, (milk, 2)))
        page.goto(f"{base}/m/orders/{order.order_no}")
        assert page.viewport_size is not None
        assert page.viewport_size["width"] == 390

        # when they open 申请售后 and pick 商品破损, one unit and a photo
        page.click("[data-testid=aftersales-open]")
        form = page.locator("[data-testid=aftersales-form]")
        expect(form).to_be_visible()
        form.get_by_text("商品破损", exact=True).click()
        form.locator("[data-testid=aftersales-plus]").first.click()
        expect(form.locator("[data-testid=aftersales-qty]").first).to_have_text("1")
        form.locator("textarea[name=description]").fill("瓶身破裂，漏了一箱")
        form.locator("[data-testid=aftersales-photos]").set_input_files(
            files=[{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
        )
        expect(form.locator("[data-testid=aftersales-preview]")).to_have_count(1)
        assert _overflowing(page) == []
        page.screenshot(path=str(SCREENSHOTS / "aftersales-form.png"), full_page=True)
        form.locator("[data-testid=aftersales-submit]").click()

        # then the page shows the case waiting for customer service
        status = page.locator("[data-testid=aftersales-status]")
        expect(status).to_have_text("待处理")
        expect(page.locator("[data-testid=aftersales-case] img")).to_have_count(1)
        expect(page.locator("[data-testid=aftersales-open]")).to_have_count(0)
        assert _overflowing(page) == []
        page.screenshot(path=str(SCREENSHOTS / "aftersales-submitted.png"), full_page=True)
        case = AfterSalesCase.objects.get()
        assert case.reason == "damaged"
        assert case.lines == [{"line_id": order.lines.get().pk, "quantity": 1}]
        assert case.photos.count() == 1
        assert console_errors == []
