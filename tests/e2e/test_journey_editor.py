"""A community manager builds the abandoned-cart win-back journey in the console editor —
message with product cards, wait 2 hours, still unpaid, call-back task — fixes the order of
two cards by dragging, saves, starts it and finds it running in the list."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core.permissions import Role
from freshloop.scrm.models import Journey
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)


def _login(page: Page, base: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("input[name=username]", "xiaozhou")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    expect(page.locator("[data-testid=journeys]")).to_be_visible()


def _types(page: Page) -> list[str]:
    return [
        card.get_attribute("data-type") or ""
        for card in page.locator("[data-testid=step-card]").all()
    ]


class TestJourneyEditor:
    def test_build_reorder_save_start_and_see_it_running(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER)
        base = live_server.url
        page.set_viewport_size({"width": 1440, "height": 1000})
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _login(page, base)

        # The role home lists journeys (none yet) and leads to the editor.
        expect(page.locator("[data-testid=journeys]")).to_contain_text("还没有客户旅程")
        page.click("text=全部旅程")
        expect(page).to_have_url(f"{base}/console/scrm/")
        expect(page.locator("[data-testid=journey-empty]")).to_be_visible()
        page.click("[data-testid=journey-new]")
        expect(page).to_have_url(f"{base}/console/scrm/journeys/new")

        # The new journey starts with one message card; the rest are added from the menu —
        # the condition before the wait, by mistake.
        # (the first card is drawn once the editor runs: only then type into its fields)
        expect(page.locator("[data-testid=step-card]")).to_have_count(1)
        page.fill("[data-testid=journey-name]", "直播加购挽回")
        page.select_option("[data-testid=journey-trigger]", "live_cart_abandoned")
        page.fill("[data-testid=message-text]", "您在直播间加购的鲜牛奶还在购物车里，库存不多啦～")
        page.check("[data-testid=message-cards]")
        page.click("[data-testid=step-add-condition]")
        page.click("[data-testid=step-add-wait]")
        page.click("[data-testid=step-add-task]")
        assert _types(page) == ["message", "condition", "wait", "task"]

        # Saving with an empty task title: the card's own field says what is wrong.
        page.click("[data-testid=journey-save]")
        title_error = page.locator("[data-testid=step-card]").nth(3).locator(".field-error:visible")
        expect(title_error).to_have_text("请填写任务内容（最多 120 字）")
        expect(page.locator("[data-testid=task-title]")).to_have_attribute("aria-invalid", "true")
        assert not Journey.objects.exists()
        page.fill("[data-testid=task-title]", "回访：直播间加购仍未支付")
        expect(title_error).to_have_count(0)

        # Wait 120 minutes: typed as 2 hours.
        wait = page.locator("[data-testid=step-card][data-type=wait]")
        wait.locator("[data-testid=wait-amount]").fill("2")
        wait.locator("[data-testid=wait-unit]").select_option("hours")

        # Drag the wait card onto the condition: the wait comes first.
        wait.locator("[data-testid=step-handle]").drag_to(
            page.locator("[data-testid=step-card][data-type=condition]")
        )
        assert _types(page) == ["message", "wait", "condition", "task"]
        # ↓ then ↑ from the keyboard puts it back where it is.
        down = page.locator("[data-testid=step-card]").nth(1).locator("[data-testid=step-down]")
        down.focus()
        page.keyboard.press("Enter")
        assert _types(page) == ["message", "condition", "wait", "task"]
        moved = page.locator("[data-testid=step-card]").nth(2)
        expect(moved.locator("[data-testid=step-down]")).to_be_focused()  # focus went along
        page.keyboard.press("Shift+Tab")  # from the moved card's ↓ to its ↑
        expect(moved.locator("[data-testid=step-up]")).to_be_focused()
        page.keyboard.press("Enter")
        assert _types(page) == ["message", "wait", "condition", "task"]

        page.click("[data-testid=journey-save]")
        expect(page.locator("[data-testid=editor-notice]")).to_contain_text("已保存并发布第 1 版")
        journey = Journey.objects.get()
        expect(page).to_have_url(f"{base}/console/scrm/journeys/{journey.pk}")
        assert journey.current_version is not None
        assert journey.current_version.steps == [
            {
                "type": "message",
                "text": "您在直播间加购的鲜牛奶还在购物车里，库存不多啦～",
                "product_cards": True,
            },
            {"type": "wait", "minutes": 120},
            {"type": "condition", "check": "unpaid_since_entry"},
            {
                "type": "task",
                "title": "回访：直播间加购仍未支付",
                "due_minutes": 60,
                "assignee": "",
            },
        ]
        expect(page.locator("[data-testid=step-stats]").first).to_contain_text("进入 0")

        # A test run on one customer runs the message, then waits (not a WeCom friend: skipped).
        customer = make_person()
        page.fill("[data-testid=test-one-id]", customer.one_id)
        page.click("[data-testid=test-run-button]")
        expect(page.locator("[data-testid=test-run-result]")).to_contain_text("企业微信消息")
        expect(page.locator("[data-kpi=entered]")).to_have_text("1")
        expect(page.locator("[data-testid=journey-chart]")).to_have_attribute("data-loaded", "true")

        # Start it.
        page.click("[data-testid=journey-start]")
        expect(page.locator("[data-testid=editor-status]")).to_have_text("运行中")
        expect(page.locator("[data-testid=journey-pause]")).to_be_visible()
        expect(page.locator("[data-testid=journey-chart]")).to_have_attribute("data-loaded", "true")
        page.screenshot(path=str(SCREENSHOTS / "console-scrm-editor.png"), full_page=True)
        journey.refresh_from_db()
        assert journey.status == "active"

        # The list shows it running, with its numbers.
        page.click("text=返回列表")
        row = page.locator("[data-testid=journey-row]")
        expect(row).to_have_count(1)
        expect(row.locator("[data-testid=journey-status]")).to_have_text("运行中")
        expect(row).to_contain_text("直播间加购未支付")
        expect(row).to_contain_text("v1")
        page.screenshot(path=str(SCREENSHOTS / "console-scrm-journeys.png"), full_page=True)
        assert console_errors == []
