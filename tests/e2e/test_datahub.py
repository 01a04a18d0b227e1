"""A marketer opens the dashboard and a profile, then builds a segment and sees its count —
in a real browser against the real server, on a small history made through the services."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.models import Segment
from freshloop.datahub.segments.selectors import segment_evaluate
from freshloop.datahub.tags.services import tags_recompute_all
from freshloop.identity.models import Person
from freshloop.promotions.models import Coupon
from tests.datahub.helpers import record_server_event
from tests.factories import make_person, make_staff_user
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_NOT_PAID = {
    "op": "and",
    "rules": [
        {
            "kind": "event",
            "name": "live_join",
            "measure": "distinct_live_sessions",
            "operator": "gte",
            "value": 2,
            "within_days": 30,
        },
        {
            "kind": "event",
            "name": "order_paid",
            "measure": "count",
            "operator": "eq",
            "value": 0,
            "within_days": 30,
        },
    ],
}


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
    return EventStore(settings.DATAHUB_STORE_PATH)


def _history(store: EventStore) -> dict[str, Person]:
    """Two viewers who watched two sessions and did not pay, one who watched twice and paid,
    one who watched once; the payer's order is the dashboard's GMV."""
    now = clock.now()
    people = {name: make_person() for name in ("watcher_a", "watcher_b", "payer", "once")}
    for name, sessions in (("watcher_a", 2), ("watcher_b", 3), ("payer", 2), ("once", 1)):
        for index in range(sessions):
            record_server_event(
                "live_join",
                person_id=people[name].pk,
                occurred_at=now - dt.timedelta(days=3 + index),
                channel="live",
                live_session=f"LIVE-{index}",
            )
    record_server_event(
        "order_paid",
        person_id=people["payer"].pk,
        occurred_at=now - dt.timedelta(days=2),
        channel="live",
        live_session="LIVE-0",
        properties={"order_no": "E2E-1", "amount_fen": 12_880, "province": "上海"},
    )
    buffer_flush_all(store=store)
    tags_recompute_all(store=store)
    return people


def _login(page: Page, base: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    # a marketer's home is the dashboard
    expect(page).to_have_url(re.compile(re.escape(f"{base}/console/data/")))


class TestDataHubInTheBrowser:
    def test_dashboard_profile_and_a_segment_with_its_count(
        self, page: Page, live_server: Any, store: EventStore, console_errors: list[str]
    ) -> None:
        people = _history(store)
        make_staff_user("marketer", Role.MARKETER)
        template = coupon_template("seg-e2e", name="会员回流券")
        base = live_server.url
        page.set_viewport_size({"width": 1400, "height": 900})
        _login(page, base)

        # The dashboard draws every chart, and the GMV figure is the one order.
        page.goto(f"{base}/console/data/")
        for name in ("funnel", "cac", "repurchase", "gmv", "retention", "channels", "products"):
            expect(page.locator(f"[data-chart={name}]")).to_have_attribute(
                "data-loaded", "true", timeout=15_000
            )
        expect(page.locator("[data-kpi=gmv]")).to_have_text("¥128.80")
        expect(page.locator("[data-kpi=orders]")).to_have_text("1 单")
        expect(page.locator("[data-chart=funnel] canvas")).to_have_count(1)
        expect(page.locator("[data-chart=live-sessions] table")).to_contain_text("LIVE-0")

        # The payer's profile shows the paid order on the timeline and the live sessions.
        page.goto(f"{base}/console/data/people/")
        page.fill("[data-testid=people-search]", people["payer"].one_id)
        page.press("[data-testid=people-search]", "Enter")
        expect(page).to_have_url(f"{base}/console/data/people/{people['payer'].one_id}")
        expect(page.locator("[data-testid=profile-timeline]")).to_contain_text("支付成功")
        expect(page.locator("[data-testid=profile-live]")).to_contain_text("LIVE-1")
        page.fill("[data-testid=manual-tag-input]", "直播常客")
        page.click("[data-testid=manual-tag-add]")
        expect(page.locator("[data-testid=manual-tags]")).to_contain_text("直播常客")

        # "Watched ≥ 2 live sessions in 30 days and not paid": the two watchers.
        expected = segment_evaluate(definition=LIVE_NOT_PAID, store=store)
        assert expected == {people["watcher_a"].pk, people["watcher_b"].pk}
        page.goto(f"{base}/console/data/segments/new")
        page.click("text=近30天看过≥2场直播且未支付")
        expect(page.locator("[data-testid=rule]")).to_have_count(2)
        expect(page.locator("[data-testid=preview-count]")).to_have_text("2", timeout=10_000)
        # Loosen the first rule to one session: the one-time viewer joins (3 people).
        page.locator("[data-testid=rule]").first.locator("[data-testid=rule-value]").fill("1")
        page.locator("[data-testid=rule]").first.locator("[data-testid=rule-value]").dispatch_event(
            "change"
        )
        expect(page.locator("[data-testid=preview-count]")).to_have_text("3", timeout=10_000)
        page.locator("[data-testid=rule]").first.locator("[data-testid=rule-value]").fill("2")
        page.locator("[data-testid=rule]").first.locator("[data-testid=rule-value]").dispatch_event(
            "change"
        )
        expect(page.locator("[data-testid=preview-count]")).to_have_text("2", timeout=10_000)
        page.click("[data-testid=segment-save]")
        expect(page.locator("[data-testid=member-count]")).to_have_text("2", timeout=10_000)
        segment = Segment.objects.get()
        assert segment.name == "近30天看过≥2场直播且未支付"
        assert segment.member_count == 2
        page.goto(f"{base}/console/data/segments/")
        expect(page.locator("[data-testid=segment-list]")).to_contain_text(
            "近30天看过≥2场直播且未支付"
        )

        # Issuing a coupon to the segment gives each of the two watchers one.
        page.goto(f"{base}/console/data/segments/{segment.pk}")
        page.select_option("[data-testid=coupon-template]", str(template.pk))
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("[data-testid=segment-issue]")
        expect(page.locator(".dh-notice.ok")).to_contain_text("已发放 2 张")
        assert sorted(
            Coupon.objects.filter(template=template).values_list("person_id", flat=True)
        ) == sorted([people["watcher_a"].pk, people["watcher_b"].pk])
        assert console_errors == []
