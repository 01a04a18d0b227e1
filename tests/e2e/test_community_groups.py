"""A community manager opens a group's health page from the console, creates a 群活码 for it,
sees the poster's QR, and the public 活码 page shows the group's own QR."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from freshloop.community.models import JoinCode
from freshloop.core.permissions import Role
from tests.community.helpers import make_group
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)


class TestCommunityGroups:
    def test_health_page_then_a_join_code_with_its_qr(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        cache.clear()  # the WeCom sandbox's directory
        make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER)
        make_group("wr_e2e_a", customers=3, name="鲜环福利 1 群")
        make_group("wr_e2e_b", customers=1, first=10, name="鲜环福利 2 群")
        base = live_server.url
        page.set_viewport_size({"width": 1440, "height": 1000})
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

        page.goto(f"{base}/console/login/")
        page.fill("input[name=username]", "xiaozhou")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        page.click("[data-testid=nav-community]")
        expect(page).to_have_url(f"{base}/console/community/")
        expect(page.locator("[data-testid=group-row]")).to_have_count(2)
        expect(page.locator("[data-testid=kpi-customers]")).to_have_text("4")

        # The group's health page: its numbers and the joins/leaves chart drawn by ECharts.
        page.click("text=鲜环福利 1 群")
        expect(page).to_have_url(f"{base}/console/community/groups/wr_e2e_a")
        expect(page.locator("[data-testid=kpi-customers]")).to_have_text("3")
        expect(page.locator("[data-testid=kpi-joins]")).to_have_text("3 / 0")
        expect(page.locator("[data-testid=health-chart] canvas")).to_have_count(1)
        expect(page.locator("[data-testid=member-row]")).to_have_count(4)
        page.screenshot(path=str(SCREENSHOTS / "community-group-health.png"), full_page=True)

        # A 活码 over both groups; the first fills at 3 customers, so the second is current.
        page.click("text=群活码")
        page.fill("[data-testid=join-code-name]", "周末福利活码")
        rows = page.locator("[data-testid=join-code-group]")
        rows.nth(0).locator("select").select_option("wr_e2e_a")
        rows.nth(0).locator("[data-testid=join-code-qr]").fill("https://work.weixin.qq.com/gm/a")
        rows.nth(0).locator("[data-testid=join-code-threshold]").fill("3")
        rows.nth(1).locator("select").select_option("wr_e2e_b")
        rows.nth(1).locator("[data-testid=join-code-qr]").fill("https://work.weixin.qq.com/gm/b")
        page.click("[data-testid=join-code-create]")

        code = JoinCode.objects.get()
        expect(page).to_have_url(f"{base}/console/community/join-codes/{code.pk}")
        qr = page.locator("[data-testid=join-code-qr-image]")
        expect(qr).to_be_visible()
        assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml")
        assert qr.evaluate("img => img.naturalWidth") > 0
        expect(page.locator("[data-testid=join-code-group-row]")).to_have_count(2)
        expect(page.locator("[data-testid=join-code-current]")).to_have_count(1)
        expect(page.locator("[data-testid=join-code-group-row]").nth(1)).to_contain_text("正在使用")
        page.screenshot(path=str(SCREENSHOTS / "community-join-code.png"), full_page=True)

        # The poster's address: the public page shows the current group's own QR.
        page.goto(page.locator("[data-testid=join-code-url]").get_attribute("href") or "")
        expect(page.locator("[data-testid=join-page]")).to_contain_text("鲜环福利 2 群")
        expect(page.locator("[data-testid=join-page-qr]")).to_be_visible()
        code.refresh_from_db()
        assert code.scans == 1
        assert console_errors == []
