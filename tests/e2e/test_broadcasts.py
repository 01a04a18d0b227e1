"""A community manager composes a mass message to a data hub segment in the console, sees
how many would receive it (and why the others would not), sends it, and the customer's
sandbox phone shows it; the results page counts it delivered."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.outbox import outbox_relay
from freshloop.core.permissions import Role
from freshloop.datahub.segments.services import segment_save_and_materialise
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import Person
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.services import marketing_opt_out
from freshloop.scrm.models import Broadcast, BroadcastStatus, WecomContact
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
OPERATOR = Actor(type="user", id="3", label="社群运营小周")
TAG = "草莓老客"
TEXT = "丹东草莓到货啦，老客专享买二送一～"


@pytest.fixture
def daytime_policy(settings: Any) -> None:
    """Quiet hours off: the test runs at any hour (the policy's own tests prove them)."""
    policy = dataclasses.replace(
        settings.FRESHLOOP.marketing_policy, quiet_start_minute=0, quiet_end_minute=0
    )
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, marketing_policy=policy)


def contact(external_userid: str) -> Person:
    """The sandbox customer as a WeCom contact with a OneID (the add callback's event)."""
    publish(
        WecomContactChanged(
            corp_id="ww_sandbox_corp",
            change_type="add_external_contact",
            staff_userid="fl_staff_lin",
            external_userid=external_userid,
            wecom_time=int(clock.now().timestamp()),
            event_key=f"e2e-add:{external_userid}",
        )
    )
    return WecomContact.objects.get(external_userid=external_userid).person


class TestBroadcastComposer:
    def test_compose_preview_send_and_see_it_on_the_phone(
        self, page: Page, live_server: Any, console_errors: list[str], daytime_policy: None
    ) -> None:
        cache.clear()  # the WeCom sandbox's directory lives in the cache
        # given a segment of three: 王阿姨 (a contact), 李先生 (a contact who opted out) and a
        # shopper who is no WeCom contact
        wang = contact("wm_sandbox_0001")
        li = contact("wm_sandbox_0002")
        marketing_opt_out(actor=OPERATOR, person_id=li.pk, channel="wecom", source="self")
        for person in (wang, li, make_person()):
            manual_tag_add(person=person, tag=TAG, actor=OPERATOR)
        segment = segment_save_and_materialise(
            name="草莓老客",
            definition={
                "op": "and",
                "rules": [{"kind": "manual_tag", "operator": "has", "value": TAG}],
            },
            actor=OPERATOR,
        )
        make_staff_user("xiaozhou", Role.COMMUNITY_MANAGER)
        base = live_server.url
        page.set_viewport_size({"width": 1440, "height": 1000})
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

        page.goto(f"{base}/console/login/?next=/console/scrm/broadcasts/")
        page.fill("input[name=username]", "xiaozhou")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        expect(page.locator("[data-testid=broadcast-empty]")).to_be_visible()
        page.click("[data-testid=broadcast-new]")
        expect(page).to_have_url(f"{base}/console/scrm/broadcasts/new")
        # the composer is live (Alpine drew its byte counter): typing before that is lost when
        # the form's model initialises, as it was once on a loaded CI machine
        expect(page.locator("[data-testid=bc-bytes]")).to_contain_text("0 / 4000")

        # when the message is composed for the segment
        page.fill("[data-testid=bc-title]", "草莓老客回购")
        page.fill("[data-testid=bc-text]", TEXT)
        expect(page.locator("[data-testid=bc-bytes]")).to_contain_text(
            f"{len(TEXT.encode())} / 4000"
        )
        page.select_option("[data-testid=bc-audience]", str(segment.pk))
        # then the preview says one of three would receive it, and why the others would not
        expect(page.locator("[data-testid=preview-count]")).to_have_text("1 人")
        reasons = page.locator("[data-testid=preview-reasons]")
        expect(reasons).to_contain_text("不是企业微信好友：1 人")
        expect(reasons).to_contain_text("已退订企业微信消息：1 人")
        page.screenshot(path=str(SCREENSHOTS / "console-scrm-broadcast-compose.png"))

        # when it is sent now
        page.click("[data-testid=bc-send]")
        expect(page).to_have_url(re.compile(rf"{re.escape(base)}/console/scrm/broadcasts/\d+$"))
        broadcast = Broadcast.objects.get()
        assert page.url.endswith(f"/broadcasts/{broadcast.pk}")
        expect(page.locator("[data-testid=broadcast-status]")).to_have_text("已发送")
        broadcast.refresh_from_db()
        assert broadcast.status == BroadcastStatus.SENT
        outbox_relay()  # the worker's relay hands the message to WeCom (the sandbox)

        # then 王阿姨's phone shows it from her staff member, and 李先生's does not
        page.goto(f"{base}/console/scrm/sandbox/wm_sandbox_0001")
        message = page.locator("[data-testid=phone-message][data-kind=single]").last
        expect(message).to_contain_text(TEXT)
        page.goto(f"{base}/console/scrm/sandbox/wm_sandbox_0002")
        expect(page.locator("[data-testid=phone-message]", has_text=TEXT)).to_have_count(0)

        # and the results count it delivered, with the reasons for the others
        page.goto(f"{base}/console/scrm/broadcasts/{broadcast.pk}")
        expect(page.locator("[data-kpi=confirmed]")).to_have_text("1")
        expect(page.locator("[data-kpi=not_received]")).to_have_text("2")
        expect(page.locator("[data-testid=broadcast-chart]")).to_have_attribute(
            "data-loaded", "true"
        )
        page.screenshot(path=str(SCREENSHOTS / "console-scrm-broadcast-results.png"))
        page.goto(f"{base}/console/scrm/broadcasts/")
        expect(page.locator("[data-testid=broadcast-row]")).to_have_count(1)
        assert console_errors == []
