"""The contacts page in a browser: a community manager syncs WeCom's tags, pushes a computed
tag, hands a departed staff member's customers to a colleague and sees them wait for WeCom."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from freshloop.core.permissions import Role
from freshloop.messaging.wecom import sandbox_contact_add, sandbox_staff_resign
from freshloop.scrm.contacts import contact_sync
from freshloop.scrm.models import ContactTransfer, TransferStatus
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)


def test_transfer_a_leavers_customers(
    page: Page, live_server: Any, console_errors: list[str]
) -> None:
    cache.clear()
    sandbox_contact_add(staff_userid="fl_staff_wu", external_userid="wm_wu_01", name="孙女士")
    for external_userid, staff in [
        ("wm_sandbox_0001", "fl_staff_lin"),
        ("wm_sandbox_0002", "fl_staff_lin"),
        ("wm_sandbox_0003", "fl_staff_zhou"),
        ("wm_wu_01", "fl_staff_wu"),
    ]:
        contact_sync(corp_id="ww_sandbox_corp", external_userid=external_userid, staff_userid=staff)
    sandbox_staff_resign(userid="fl_staff_lin")
    make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER)
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 1300})
    page.goto(f"{base}/console/login/?next=/console/scrm/contacts/")
    page.fill("input[name=username]", "xiaozhou")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    expect(page.locator("[data-testid=contacts]")).to_be_visible()
    expect(page.locator("[data-testid=contact]")).to_have_count(4)

    page.click("[data-testid=tags-sync]")
    expect(page.locator("[data-testid=message]")).to_contain_text("已开始同步企业微信标签")

    page.select_option("[data-testid=handover]", "fl_staff_lin")
    page.check("[data-testid=takeover][value=fl_staff_zhou]")
    page.check("[data-testid=takeover][value=fl_staff_wu]")
    page.select_option("[data-testid=kind]", "resigned")
    page.click("[data-testid=transfer-submit]")
    expect(page.locator("[data-testid=message]")).to_contain_text("2 位客户等待接替")
    expect(page.locator("[data-testid=transfer-row]")).to_have_count(2)
    assert set(ContactTransfer.objects.values_list("takeover_userid", "status")) == {
        ("fl_staff_zhou", TransferStatus.WAITING),
        ("fl_staff_wu", TransferStatus.WAITING),
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-scrm-contacts.png"), full_page=True)
    assert console_errors == []
