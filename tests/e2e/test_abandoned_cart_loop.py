"""The abandoned live cart won back (issue #15's done-when): a viewer who is 林's WeCom
contact adds milk to the cart in the live room and leaves; ten minutes later the worker's jobs
abandon the cart, enrol the viewer in the running win-back journey and send 林's message; the
operator watches it arrive, with the milk's card, on the viewer's simulated phone; the viewer
got the coupon, pays through the H5 checkout, and the journey counts the conversion while the
live room counts a recovered cart."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, Page, expect

from freshloop.core import clock
from freshloop.core.outbox import outbox_relay
from freshloop.core.permissions import Role
from freshloop.live.models import LiveCartIntent
from freshloop.live.room.carts import cart_stats, carts_abandon_due
from freshloop.orders.models import Order, OrderStatus
from freshloop.promotions.models import Coupon
from freshloop.scrm.models import Journey, StaffTask, WecomContact
from freshloop.scrm.selectors import journey_stats
from freshloop.scrm.services import journeys_run_due
from freshloop.web import demo_scrm
from tests.e2e.conftest import PHONE_CONTEXT, AsgiServer
from tests.e2e.test_login_flows import _sms_code_from_outbox
from tests.factories import make_sku, make_staff_user
from tests.live.helpers import make_session

pytestmark = pytest.mark.django_db(transaction=True)

# Into a temporary folder unless FRESHLOOP_SCREENSHOT_DIR names one (docs/screenshots when
# retaking the README's pictures): a test run never changes the repository.
SCREENSHOT = (
    Path(
        os.environ.get("FRESHLOOP_SCREENSHOT_DIR")
        or Path(tempfile.gettempdir()) / "freshloop-screens"
    )
    / "console-scrm-sandbox-phone.png"
)
VIEWER_PHONE = "13900139077"


def _errors_of(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )


def _eventually(check: Callable[[], bool], seconds: float = 15) -> bool:
    """Effects of a request are delivered just after its commit, in the server's thread."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def _worker_jobs(now: dt.datetime) -> None:
    """What the worker's periodic jobs do at `now`: live.carts_abandon, scrm.journeys_run,
    and the outbox relay that delivers the WeCom message."""
    carts_abandon_due(now=now)
    journeys_run_due(now=now)
    outbox_relay()


@pytest.fixture
def daytime_policy(settings: Any) -> None:
    """Quiet hours off: the test runs at any hour, and a 23:00 run would hold the message to
    08:00 (the policy's own tests prove quiet hours)."""
    policy = dataclasses.replace(
        settings.FRESHLOOP.marketing_policy, quiet_start_minute=0, quiet_end_minute=0
    )
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, marketing_policy=policy)


class TestAbandonedCartLoop:
    def test_the_viewer_who_left_is_won_back_through_the_sandbox_phone(
        self, browser: Browser, asgi_server: AsgiServer, daytime_policy: None
    ) -> None:
        cache.clear()  # the WeCom sandbox's directory lives in the cache
        # given the demo's running win-back journey and a live room selling milk
        demo_scrm.seed_scrm()
        journey = Journey.objects.get(name=demo_scrm.WINBACK_JOURNEY)
        milk = make_sku(price_fen=3990, stock=20, name="牧场鲜牛奶")
        session = make_session(skus=[milk])
        make_staff_user("community", Role.COMMUNITY_MANAGER)
        base, errors = asgi_server.url, []

        # and a viewer logged in on their phone
        viewer_context = browser.new_context(**PHONE_CONTEXT)
        viewer = viewer_context.new_page()
        _errors_of(viewer, errors)
        viewer.goto(f"{base}/m/login?next=/m/me")
        viewer.fill("input[name=phone]", VIEWER_PHONE)
        viewer.click("[data-testid=send-code]")
        expect(viewer.locator("[data-testid=send-code]")).to_contain_text("秒后重发")
        viewer.fill("input[name=code]", _sms_code_from_outbox())
        viewer.click("[data-testid=login]")
        expect(viewer).to_have_url(f"{base}/m/me")

        # who added 林 in WeCom yesterday (the operator simulates it with the viewer's phone
        # number) and got the 新好友 journey's welcome then: today's marketing cap is free
        operator_context = browser.new_context(
            viewport={"width": 1440, "height": 900}, locale="zh-CN"
        )
        operator = operator_context.new_page()
        _errors_of(operator, errors)
        operator.goto(f"{base}/console/login/?next=/console/scrm/sandbox/")
        operator.fill("input[name=username]", "community")
        operator.fill("input[name=password]", "pass-1234")
        operator.click("button[type=submit]")
        expect(operator).to_have_url(f"{base}/console/scrm/sandbox/")
        yesterday = clock.now() - dt.timedelta(days=1, hours=1)
        with clock.frozen(yesterday):
            operator.fill("[data-testid=add-name]", "小鲜")
            operator.select_option("[data-testid=add-staff]", "fl_staff_lin")
            operator.fill("[data-testid=add-phone]", VIEWER_PHONE)
            operator.click("[data-testid=add-submit]")
            expect(operator).to_have_url(re.compile(r"/console/scrm/sandbox/wm_sandbox_\w+$"))
            expect(operator.locator("[data-testid=message]")).to_contain_text("已并入 OneID")
            external_userid = operator.url.rsplit("/", 1)[1]
            assert _eventually(
                lambda: WecomContact.objects.filter(external_userid=external_userid).exists()
            )
            _worker_jobs(yesterday)
        welcome = operator.locator("[data-testid=phone-message][data-kind=single]")
        expect(welcome).to_contain_text(demo_scrm.WELCOME_MESSAGE, timeout=15000)
        contact = WecomContact.objects.get(external_userid=external_userid)
        assert contact.follow_userid == "fl_staff_lin"

        # when the viewer opens the live room, taps buy on the milk, closes the sheet and leaves
        viewer.goto(f"{base}/m/live/{session.code}")
        viewer.click("[data-testid=open-products]")
        viewer.click(f"[data-testid=buy-{milk.pk}]")
        sheet = viewer.locator("[data-testid=checkout-sheet]")
        expect(sheet).to_be_visible()
        sheet.locator(".sheet__close").click()
        expect(sheet).to_be_hidden()
        assert _eventually(
            lambda: LiveCartIntent.objects.filter(
                person_id=contact.person_id, sku_id=milk.pk
            ).exists()
        )
        viewer.goto(f"{base}/m/me")

        # and eleven minutes pass (the default abandon window is ten) while the worker runs
        _worker_jobs(clock.now() + dt.timedelta(minutes=11))

        # then the operator, watching the viewer's phone, sees 林's message arrive with the card
        message = operator.locator("[data-testid=phone-message][data-kind=single]").last
        expect(message).to_contain_text("您在直播间看中的宝贝还在等您～", timeout=15000)
        card = message.locator("[data-testid=phone-card]")
        expect(card).to_contain_text("牧场鲜牛奶")
        expect(card).to_contain_text("¥39.90")
        operator.reload()  # the coupon beside the phone is drawn with the page
        expect(operator.locator("[data-testid=phone-coupons]")).to_contain_text("直播间挽回券")
        operator.wait_for_timeout(300)  # the scroll to the newest message settles
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        operator.screenshot(path=str(SCREENSHOT), full_page=True)

        # and the viewer got the win-back coupon on their coupon page
        viewer.goto(f"{base}/m/coupons")
        expect(viewer.locator("[data-testid=coupon]").first).to_contain_text("直播间挽回券")
        coupon = Coupon.objects.get(person_id=contact.person_id)

        # when the viewer follows the card and pays through the H5 checkout
        href = card.get_attribute("href") or ""
        link = urlsplit(href)
        assert f"src=j{journey.pk}s1" in link.query
        viewer.goto(f"{base}{link.path}?{link.query}")
        viewer.click("[data-testid=buy-now]")
        expect(viewer).to_have_url(re.compile(r"/m/checkout"))
        viewer.fill("input[name=name]", "王小鲜")
        viewer.fill("input[name=phone]", VIEWER_PHONE)
        viewer.select_option("select[name=province]", "上海市")
        viewer.select_option("select[name=city]", "上海市")
        viewer.fill("input[name=detail]", "张江路 1 号")
        expect(viewer.locator(f"[data-testid=coupon-{coupon.pk}]")).to_be_checked()
        expect(viewer.locator("[data-testid=total]")).to_have_text("¥49.90")  # 39.90+15−5
        viewer.click("[data-testid=submit-order]")
        expect(viewer).to_have_url(re.compile(r"/m/pay/"))
        viewer.click("[data-testid=pay-confirm]")
        expect(viewer).to_have_url(re.compile(r"/m/orders/O_[^?]+$"))
        expect(viewer.locator("[data-testid=order-status]")).to_have_text("已支付")

        # then the journey counts one conversion and the room one recovered cart
        order = Order.objects.get(person_id=contact.person_id)
        assert order.status == OrderStatus.PAID
        assert order.source_ref == f"j{journey.pk}s1"  # the card's tracking code, kept
        assert _eventually(lambda: journey_stats(journey=journey).converted == 1)
        stats = journey_stats(journey=journey)
        assert (stats.entered, stats.converted_fen) == (1, order.total_fen)
        assert _eventually(lambda: cart_stats(session=session).recovered == 1)
        # what they paid for the milk: the ¥5 coupon is allocated to it
        assert cart_stats(session=session).recovered_fen == 3990 - 500
        # and two hours on, the paid viewer gets no follow-up task
        _worker_jobs(clock.now() + dt.timedelta(minutes=11 + 121))
        assert not StaffTask.objects.filter(person_id=contact.person_id).exists()
        assert errors == []
