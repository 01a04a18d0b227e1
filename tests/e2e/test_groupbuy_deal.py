"""A leader shares a tiered group deal; two customers join on their phones and pay; a neighbour
makes it three, the group reaches the second tier and both see the difference refunded. A
second group closes below the smallest tier and its member gets everything back (GB-3)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from freshloop.core import clock
from freshloop.core.outbox import outbox_relay
from freshloop.groupbuy.deals.models import DealGroup, GroupMember
from freshloop.groupbuy.deals.services import deal_groups_close_due, group_join
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import address_create
from freshloop.payments.services import payment_sandbox_pay
from tests.e2e.conftest import PHONE_CONTEXT
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import ADDRESS, SAVED_ADDRESS, make_person
from tests.groupbuy.deals.factories import make_deal
from tests.groupbuy.factories import make_leader

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
LEADER_PHONE, ANNA_PHONE, BO_PHONE, CHEN_PHONE = (
    "13900139001",
    "13900139002",
    "13900139003",
    "13900139004",
)
TWO_TIERS = [{"size": 2, "price_fen": 3990}, {"size": 3, "price_fen": 3590}]


@pytest.fixture
def phones(browser: Browser) -> Iterator[Any]:
    """A new phone (its own browser context) per person."""
    contexts = []

    def new_phone() -> Page:
        context = browser.new_context(**PHONE_CONTEXT)
        contexts.append(context)
        return context.new_page()

    yield new_phone
    for context in contexts:
        context.close()


def _customer(phone: str) -> None:
    address_create(person=make_person(phone=phone), **SAVED_ADDRESS)


def _join_and_pay(page: Page, base: str, phone: str, card_path: str) -> None:
    """Open the shared card, sign in, 参团, pay at the sandbox cashier."""
    page.goto(f"{base}{card_path}")
    expect(page.locator("[data-testid=login-to-join]")).to_be_visible()
    _log_in_by_phone(page, base, phone, card_path)
    page.click("[data-testid=join]")
    expect(page).to_have_url(re.compile(r"/m/(pay|orders)/"))
    page.click("[data-testid=pay-confirm]")
    # the cashier settles on the order's plain address (a later goto would race it)
    expect(page).to_have_url(re.compile(r"/m/orders/[^?]+$"))
    expect(page.locator("[data-testid=order-status]")).to_have_text("已支付")


def _worker_runs() -> None:
    """The worker's relay: refund effects, then the refunds' submissions to the sandbox."""
    for _ in range(4):
        outbox_relay()


class TestTieredGroupDeal:
    def test_a_leader_shares_two_customers_join_and_get_the_difference_back(
        self, phones: Any, live_server: Any
    ) -> None:
        # given a three-person deal (2 人 ¥39.90, 3 人 ¥35.90), a leader and two customers
        deal = make_deal(tiers=TWO_TIERS, quantity=10)
        make_leader(make_person(phone=LEADER_PHONE))
        for phone in (ANNA_PHONE, BO_PHONE):
            _customer(phone)
        base = live_server.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

        # when the leader opens a group for their customers and shares its card
        leader = phones()
        _log_in_by_phone(leader, base, LEADER_PHONE, f"/m/groupbuy/deals/{deal.deal_no}")
        expect(leader.locator("[data-testid=tier]")).to_have_count(2)
        leader.click("[data-testid=leader-open-group]")
        expect(leader).to_have_url(re.compile(r"/m/groupbuy/groups/GG_"))
        card_path = leader.url.removeprefix(base)
        expect(leader.locator("[data-testid=countdown]")).to_contain_text("还差 2 人成团")
        expect(leader.locator("[data-testid=countdown]")).to_contain_text("再邀 3 人降到 ¥35.90")
        leader.screenshot(path=str(SCREENSHOTS / "groupbuy-card-leader.png"))

        # and two customers open it on their phones, join and pay the current tier
        anna, bo = phones(), phones()
        _join_and_pay(anna, base, ANNA_PHONE, card_path)
        _join_and_pay(bo, base, BO_PHONE, card_path)
        bo.goto(f"{base}{card_path}")
        expect(bo.locator("[data-testid=member]")).to_have_count(2)
        expect(bo.locator("[data-testid=countdown]")).to_contain_text("再邀 1 人降到 ¥35.90")
        expect(bo.locator("[data-testid=my-place]")).to_have_text("已参团 · 看订单")
        expect(bo.locator("[data-testid=join]")).to_have_count(0)
        bo.screenshot(path=str(SCREENSHOTS / "groupbuy-card.png"))

        # and a neighbour joins the same group from the app: three people, the second tier
        group = DealGroup.objects.get()
        neighbour = make_person()
        order = group_join(group_no=group.group_no, person=neighbour, address=dict(ADDRESS)).order
        payment_sandbox_pay(order_no=order.order_no, person_id=neighbour.pk)
        _worker_runs()

        # then the group succeeded at ¥35.90 and both customers got ¥4.00 back
        for page in (anna, bo):
            page.goto(f"{base}{card_path}")
            expect(page.locator("[data-testid=group-result]")).to_contain_text("成团价 ¥35.90")
            page.goto(f"{base}/m/groupbuy/me")
            expect(page.locator("[data-testid=my-group]")).to_contain_text("已退 ¥4.00")
        anna.screenshot(path=str(SCREENSHOTS / "groupbuy-mine.png"))
        paid_first = GroupMember.objects.exclude(person=neighbour).values_list(
            "order_no", flat=True
        )
        for order in Order.objects.filter(order_no__in=list(paid_first)):
            assert (order.status, order.refunded_fen) == (OrderStatus.PARTIALLY_REFUNDED, 400)
        anna.goto(f"{base}/m/orders/{paid_first[0]}")
        expect(anna.locator("[data-testid=timeline]")).to_contain_text("已退款 4.00 元")

    def test_a_group_that_does_not_fill_in_time_refunds_its_member(
        self, phones: Any, live_server: Any
    ) -> None:
        # given a customer who starts a group and pays, and nobody else joins
        deal = make_deal(tiers=TWO_TIERS, quantity=10)
        _customer(CHEN_PHONE)
        base = live_server.url
        chen = phones()
        _log_in_by_phone(chen, base, CHEN_PHONE, f"/m/groupbuy/deals/{deal.deal_no}")
        chen.click("[data-testid=start-group]")
        expect(chen).to_have_url(re.compile(r"/m/(pay|orders)/"))
        chen.click("[data-testid=pay-confirm]")
        # the cashier settles on the order's plain address (a later goto would race it)
        expect(chen).to_have_url(re.compile(r"/m/orders/[^?]+$"))
        expect(chen.locator("[data-testid=order-status]")).to_have_text("已支付")
        group = DealGroup.objects.get()

        # when its time runs out (the closing job) and the worker pays the refund back
        deal_groups_close_due(now=group.closes_at + dt.timedelta(seconds=1))
        _worker_runs()

        # then the card says so and the order is refunded in full
        chen.goto(f"{base}/m/groupbuy/groups/{group.group_no}")
        expect(chen.locator("[data-testid=group-result]")).to_contain_text("全额退回")
        chen.screenshot(path=str(SCREENSHOTS / "groupbuy-failed.png"))
        order = Order.objects.get()
        assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, order.paid_fen)
        chen.goto(f"{base}/m/orders/{order.order_no}")
        expect(chen.locator("[data-testid=order-status]")).to_have_text("已退款")
        assert clock.now() < group.closes_at  # the clock was never moved: the job was told
