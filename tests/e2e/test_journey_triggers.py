"""A community manager makes a 进入人群 journey in the console editor — the trigger's segment
chosen from the data hub's list, a welcome message naming it — renames it, starts it, sees
the segment's newcomers in 旅程中的客户 after the segment is recomputed, and cannot delete it
while they are inside."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.segments.services import segment_materialise, segment_save
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.scrm.models import Journey, JourneyEnrollment
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR = Actor(type="user", id="7", label="市场部小林")
SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
VIP_ONLY = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": "VIP"}]}


def _login(page: Page, base: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("input[name=username]", "xiaozhou")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    expect(page.locator("[data-testid=journeys]")).to_be_visible()


class TestSegmentJourney:
    def test_create_rename_enrol_and_see_who_is_inside(
        self, page: Page, live_server: Any, console_errors: list[str], tmp_path: Path, settings: Any
    ) -> None:
        settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
        store = EventStore(settings.DATAHUB_STORE_PATH)
        make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER)
        segment = segment_materialise(
            segment=segment_save(name="高价值老客", definition=VIP_ONLY, actor=OPERATOR),
            store=store,
        )
        base = live_server.url
        page.set_viewport_size({"width": 1440, "height": 1000})
        _login(page, base)
        page.goto(f"{base}/console/scrm/journeys/new")
        expect(page.locator("[data-testid=step-card]")).to_have_count(1)

        # The trigger 进入人群 asks for a segment; saving without one names the field.
        page.fill("[data-testid=journey-name]", "老客欢迎")
        page.select_option("[data-testid=journey-trigger]", "segment_joined")
        expect(page.locator("[data-testid=trigger-hint]")).to_contain_text("新进入这个人群的客户")
        expect(page.locator("[data-testid=message-placeholders]")).to_contain_text("{segment_name}")
        page.fill("[data-testid=message-text]", "欢迎成为{segment_name}，专属福利已备好")
        page.click("[data-testid=journey-save]")
        expect(page.locator("[data-testid=editor-notice]")).to_contain_text("请选择一个存在的人群")
        expect(page.locator("[data-testid=trigger-segment]")).to_have_attribute(
            "aria-invalid", "true"
        )
        assert not Journey.objects.exists()
        page.select_option("[data-testid=trigger-segment]", str(segment.pk))
        page.click("[data-testid=journey-save]")
        expect(page.locator("[data-testid=editor-notice]")).to_contain_text("已保存并发布第 1 版")
        journey = Journey.objects.get()
        assert (journey.trigger, journey.trigger_config) == (
            "segment_joined",
            {"segment_id": segment.pk},
        )
        expect(page.locator("[data-testid=trigger-text]")).to_contain_text("人群：高价值老客")

        # Rename it.
        page.fill("[data-testid=journey-name]", "高价值老客欢迎")
        page.click("[data-testid=journey-rename]")
        expect(page.locator("[data-testid=editor-notice]")).to_contain_text(
            "已重命名为“高价值老客欢迎”"
        )
        expect(page.locator(".topbar h1")).to_have_text("客户旅程 · 高价值老客欢迎")
        journey.refresh_from_db()
        assert journey.name == "高价值老客欢迎"

        # Start it; two customers become VIP and the segment is recomputed: they enter.
        page.click("[data-testid=journey-start]")
        expect(page.locator("[data-testid=editor-status]")).to_have_text("运行中")
        expect(page.locator("[data-testid=journey-delete]")).to_have_count(0)
        people = [make_person(phone=f"+86139000000{n:02d}") for n in range(2)]
        for person in people:
            manual_tag_add(person=person, tag="VIP", actor=OPERATOR)
        segment_materialise(segment=segment, store=store)
        assert JourneyEnrollment.objects.filter(journey=journey).count() == 2

        # 旅程中的客户 lists them, masked, at their first step.
        page.click("[data-testid=tab-people]")
        rows = page.locator("[data-testid=person-row]")
        expect(rows).to_have_count(2)
        expect(page.locator("[data-testid=people-total]")).to_have_text("共 2 人次")
        expect(rows.first).to_contain_text("139****0001")
        expect(rows.first.locator("[data-testid=person-step]")).to_have_text(
            "第 1 步 · 企业微信消息"
        )
        expect(rows.first.locator("[data-testid=person-status]")).to_have_text("进行中")
        expect(page.locator("[data-kpi=entered]")).to_have_text("2")
        expect(page.locator("[data-testid=step-card]").first).to_be_hidden()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "console-scrm-journey-people.png"), full_page=True)

        # Paused, it still cannot be deleted while they are inside.
        page.click("[data-testid=tab-steps]")
        page.click("[data-testid=journey-pause]")
        expect(page.locator("[data-testid=editor-status]")).to_have_text("已暂停")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("[data-testid=journey-delete]")
        expect(page.locator("[data-testid=editor-notice]")).to_contain_text(
            "旅程中还有 2 位客户未走完，不能删除"
        )
        assert Journey.objects.exists()

        # The list shows the new name and the segment.
        page.click("text=返回列表")
        row = page.locator("[data-testid=journey-row]")
        expect(row).to_contain_text("高价值老客欢迎")
        expect(row).to_contain_text("人群：高价值老客")
        assert console_errors == []

    def test_a_draft_is_deleted_from_the_editor(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER)
        base = live_server.url
        _login(page, base)
        page.goto(f"{base}/console/scrm/journeys/new")
        expect(page.locator("[data-testid=step-card]")).to_have_count(1)
        page.fill("[data-testid=journey-name]", "券快过期提醒")
        page.select_option("[data-testid=journey-trigger]", "coupon_expiring")
        expect(page.locator("[data-testid=trigger-days]")).to_have_value("3")
        page.fill("[data-testid=trigger-days]", "5")
        page.fill("[data-testid=message-text]", "您的{coupon_name}将于{coupon_expires}过期")
        page.click("[data-testid=journey-save]")
        expect(page.locator("[data-testid=editor-notice]")).to_contain_text("已保存并发布第 1 版")
        assert Journey.objects.get().trigger_config == {"days": 5}
        expect(page.locator("[data-testid=trigger-text]")).to_contain_text("过期前 5 天内")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("[data-testid=journey-delete]")
        expect(page).to_have_url(f"{base}/console/scrm/")
        expect(page.locator("[data-testid=journey-empty]")).to_be_visible()
        assert not Journey.objects.exists()
        assert console_errors == []
