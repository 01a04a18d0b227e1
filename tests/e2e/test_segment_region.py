"""A marketer builds a segment by where customers live (所在地区) and sees its count, in a real
browser: the builder's region menus come from the address picker's region tree."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.models import Segment
from freshloop.orders.services import address_create
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
    return EventStore(settings.DATAHUB_STORE_PATH)


def _living_in(province: str, city: str) -> None:
    address_create(
        person=make_person(),
        name="李雷",
        phone="13800138000",
        province=province,
        city=city,
        district="",
        detail="幸福路 1 号",
        is_default=True,
    )


class TestSegmentByRegion:
    def test_customers_in_guangdong(
        self, page: Page, live_server: Any, store: EventStore, console_errors: list[str]
    ) -> None:
        # given two customers in 广东 and one in 山东
        _living_in("广东省", "广州市")
        _living_in("广东省", "深圳市")
        _living_in("山东省", "济南市")
        make_staff_user("marketer", Role.MARKETER)
        base = live_server.url
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(f"{base}/console/login/")
        page.fill("input[name=username]", "marketer")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        expect(page).not_to_have_url(re.compile(r"/console/login/"))
        page.wait_for_load_state("load")

        # when the marketer builds "所在地区 · 省份 · 等于 广东省"
        page.goto(f"{base}/console/data/segments/new")
        rule = page.locator("[data-testid=rule]").first
        rule.locator("[data-testid=rule-kind]").select_option("region")
        rule = page.locator("[data-testid=rule]").first
        rule.locator("[data-testid=rule-scope]").select_option("province")
        rule = page.locator("[data-testid=rule]").first
        rule.locator("[data-testid=rule-value]").select_option("广东省")

        # then the preview counts the two, and the saved segment holds them
        expect(page.locator("[data-testid=preview-count]")).to_have_text("2", timeout=10_000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "segment-region.png"))
        page.fill("[data-testid=segment-name]", "广东客户")
        page.click("[data-testid=segment-save]")
        expect(page.locator("[data-testid=member-count]")).to_have_text("2", timeout=10_000)
        segment = Segment.objects.get()
        assert segment.definition["rules"] == [
            {"kind": "region", "scope": "province", "operator": "eq", "value": "广东省"}
        ]
        assert console_errors == []
