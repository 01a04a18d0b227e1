"""A buyer at 390 px opens 我的食品柜: a delivered item coloured by its date, adds a scanned
(typed) barcode and a typed item, taps 用完了 and 扔掉了 — and the counter follows."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core import clock
from freshloop.food.models import PantryBarcode, PantryItem, PantryStatus
from freshloop.food.services import PantryItemInput, pantry_item_add
from freshloop.identity.models import Identifier
from tests.e2e.test_address_book import _overflowing
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import make_sku

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)


class TestPantryOnThePhone:
    def test_add_use_and_throw_away(
        self, phone_page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        page = phone_page
        base = live_server.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # given a buyer with milk expiring tomorrow, and a registered yogurt barcode
        yogurt = make_sku(name="有机酸奶", storage="chilled")
        PantryBarcode.objects.create(ean="6901234567892", sku=yogurt)
        _log_in_by_phone(page, base, "13900139021", "/m/me")
        person = Identifier.objects.get(type="phone").person
        today = clock.to_shanghai(clock.now()).date()
        pantry_item_add(
            person_id=person.pk,
            data=PantryItemInput(
                name="鲜牛奶", storage="chilled", expires_on=today + dt.timedelta(days=1)
            ),
        )
        page.goto(f"{base}/m/pantry")
        rows = page.locator("[data-testid=pantry-item]")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_class("weui-cell pantry-item pantry-item--soon")
        expect(page.locator("[data-testid=waste-rate]")).to_have_text("—")

        # when they type a bad barcode, then the field says so
        page.fill("[data-testid=pantry-barcode]", "6901234567891")
        page.fill("[data-testid=pantry-expires]", str(today + dt.timedelta(days=10)))
        page.click("[data-testid=pantry-submit]")
        expect(page.locator("[data-error-for=barcode]")).to_contain_text("EAN-13")

        # when they type the yogurt's barcode, the name fills in; they add it
        page.fill("[data-testid=pantry-barcode]", "6901234567892")
        expect(page.locator("[data-testid=pantry-name]")).to_have_value("有机酸奶 950ml")
        page.fill("[data-testid=pantry-expires]", str(today + dt.timedelta(days=10)))
        page.click("[data-testid=pantry-submit]")
        expect(rows).to_have_count(2)
        expect(rows.nth(1).locator("[data-testid=pantry-item-name]")).to_have_text("有机酸奶 950ml")
        assert _overflowing(page) == []
        page.screenshot(path=str(SCREENSHOTS / "pantry-list.png"), full_page=True)

        # when the milk is used up and the yogurt thrown away
        rows.first.locator("[data-testid=pantry-used]").click()
        expect(rows).to_have_count(1)
        rows.first.locator("[data-testid=pantry-thrown]").click()
        expect(rows).to_have_count(0)

        page.screenshot(path=str(SCREENSHOTS / "pantry-counter.png"), full_page=True)
        # then the counter shows one saved, one thrown
        expect(page.locator("[data-testid=waste-saved]")).to_have_text("1")
        expect(page.locator("[data-testid=waste-thrown]")).to_have_text("1")
        expect(page.locator("[data-testid=waste-rate]")).to_have_text("50%")
        expect(page.locator("[data-testid=pantry-empty]")).to_be_visible()
        statuses = sorted(PantryItem.objects.values_list("status", flat=True))
        assert statuses == sorted([PantryStatus.USED, PantryStatus.THROWN])
        assert console_errors == []
