"""A group leader's day in the console `/leader/` (GB-1): they sign in on their phone, see a
customer's paid order waiting at the pickup point, type its pickup code and see it picked up;
open the sales and commission dashboard (charts drawn, no errors); pass a training quiz."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from freshloop.core.outbox import outbox_relay
from freshloop.groupbuy.commission.models import LeaderOrder, PickupStatus
from tests.e2e.conftest import PHONE_CONTEXT
from tests.e2e.test_login_flows import MOBILE
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import make_person
from tests.groupbuy.commission.helpers import customer_of, paid_order, rule, sku
from tests.groupbuy.factories import make_leader
from tests.groupbuy.training.helpers import make_course, right_answers

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
LEADER_PHONE, BUYER_PHONE = "13900139011", "13900139012"


def _an_attributed_paid_order() -> LeaderOrder:
    """A leader (signing in with LEADER_PHONE) whose customer paid an order of ¥100."""
    leader = make_leader(make_person(phone=LEADER_PHONE))
    rule(1, 1_000)
    buyer = customer_of(leader, make_person(phone=BUYER_PHONE))
    order = paid_order(contextlib.nullcontext, buyer, (sku(10_000), 1))
    for _ in range(3):  # the worker's relay: OrderPaid's durable reactions (attribution)
        outbox_relay()
    return LeaderOrder.objects.get(order=order)


class TestLeaderConsole:
    def test_hand_out_an_order_read_the_dashboard_and_pass_a_quiz(
        self, page: Page, browser: Browser, live_server: Any, console_errors: list[str]
    ) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        order = _an_attributed_paid_order()
        course = make_course()
        page.set_viewport_size(MOBILE)
        base = live_server.url

        # the buyer's order page shows where to collect it and the code (with its QR)
        buyer_phone = browser.new_context(**PHONE_CONTEXT)
        buyer_page = buyer_phone.new_page()
        _log_in_by_phone(buyer_page, base, BUYER_PHONE, f"/m/orders/{order.order_no}")
        expect(buyer_page.locator("[data-testid=pickup-code]")).to_have_text(order.pickup_code)
        expect(buyer_page.locator("[data-testid=pickup-qr]")).to_be_visible()
        buyer_page.locator("[data-testid=order-pickup]").scroll_into_view_if_needed()
        buyer_page.screenshot(path=str(SCREENSHOTS / "leader-buyer-order.png"))
        buyer_phone.close()

        # the leader signs in and opens today's orders to hand out
        _log_in_by_phone(page, base, LEADER_PHONE, "/leader/")
        expect(page.locator("[data-testid=stat-to-hand-out] b")).to_have_text("1")
        page.screenshot(path=str(SCREENSHOTS / "leader-home.png"), full_page=True)
        page.goto(f"{base}/leader/orders")
        waiting = page.locator(f"[data-testid=awaiting-order][data-order-no='{order.order_no}']")
        expect(waiting).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "leader-orders-waiting.png"), full_page=True)

        # a wrong code is refused, the buyer's code hands the order out
        page.fill("[data-testid=pickup-code]", "0000000")
        page.click("[data-testid=pickup-submit]")
        expect(page.locator("[data-testid=toast]")).to_contain_text("8 位数字")
        page.fill("[data-testid=pickup-code]", order.pickup_code)
        page.click("[data-testid=pickup-submit]")
        done = page.locator(f"[data-testid=picked-up-order][data-order-no='{order.order_no}']")
        expect(done).to_be_visible()
        expect(page.locator("[data-testid=nothing-to-hand-out]")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "leader-orders.png"), full_page=True)
        order.refresh_from_db()
        assert order.pickup_status == PickupStatus.PICKED_UP

        # the dashboard draws both charts
        page.goto(f"{base}/leader/dashboard")
        expect(page.locator("body[data-charts-ready='1']")).to_have_count(1)
        expect(page.locator("[data-testid=sales-chart] canvas")).to_have_count(1)
        expect(page.locator("[data-testid=commission-chart] canvas")).to_have_count(1)
        expect(page.locator("[data-testid=total-gmv] b")).to_have_text("¥100.00")
        page.screenshot(path=str(SCREENSHOTS / "leader-dashboard.png"), full_page=True)

        # the poster with the leader's own QR
        page.goto(f"{base}/leader/materials")
        expect(page.locator("[data-testid=poster-qr]")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "leader-materials.png"), full_page=True)

        # a course: every lesson marked done, then the quiz answered right
        page.goto(f"{base}/leader/training")
        page.click(f"[data-testid=course][data-code='{course.code}']")
        expect(page.locator("[data-testid=quiz-locked]")).to_be_visible()
        for _ in range(course.lessons.count()):
            page.locator("[data-testid=mark-done]").first.click()
        expect(page.locator("[data-testid=lesson-done]")).to_have_count(course.lessons.count())
        for number, choice in enumerate(right_answers(course), start=1):
            radio = page.locator(f"input[name=q{number}][value='{choice}']")
            page.locator("[data-testid=choice]").filter(has=radio).click()
            expect(radio).to_be_checked()
        page.screenshot(path=str(SCREENSHOTS / "leader-quiz.png"), full_page=True)
        page.click("[data-testid=quiz-submit]")
        expect(page.locator("[data-testid=quiz-result]")).to_contain_text("100 分")
        expect(page.locator("[data-testid=course-passed]")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "leader-training.png"), full_page=True)
        page.goto(f"{base}/leader/training")
        expect(page.locator("[data-testid=course-progress]")).to_contain_text("已学 2/2 课时")
        assert console_errors == []
