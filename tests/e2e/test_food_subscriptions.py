"""A household subscribes to milk at the cadence its own purchases suggest, then skips one
delivery (FD-1), on a 390 px phone."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.catalog.services import sku_upsert
from freshloop.core import clock
from freshloop.core.outbox import outbox_relay
from freshloop.food.models import Subscription, SubscriptionDelivery
from freshloop.food.services import subscriptions_run
from freshloop.identity.models import Identifier
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import address_create, order_payment_succeeded
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import SAVED_ADDRESS, make_order, make_person, make_sku

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
PHONE = "13900139000"


@pytest.fixture
def page(phone_page: Page) -> Page:
    return phone_page


def _household_with_history() -> Any:
    """A household that bought one case of 12 × 250 ml every 9 days, three times."""
    milk = make_sku(price_fen=5990, stock=50, name="牧场鲜牛奶")
    milk = sku_upsert(product=milk.product, code=milk.code, spec="250ml×12", price_fen=5990)
    person = make_person(phone=PHONE)
    address_create(person=person, **SAVED_ADDRESS)
    today = clock.now()
    for days_ago in (27, 18, 9):
        with clock.frozen(today - dt.timedelta(days=days_ago)):
            order = make_order(person, (milk, 1))
            order_payment_succeeded(
                order_no=order.order_no,
                amount_fen=order.total_fen,
                provider="sandbox",
                transaction_id=f"T{days_ago}",
                paid_at=clock.now(),
            )
    return milk


class TestSubscribeWithSuggestedCadence:
    def test_subscribe_to_milk_then_skip_one_delivery(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given a household whose purchases say a case lasts 9 days
        milk = _household_with_history()
        base = live_server.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _log_in_by_phone(page, base, PHONE, f"/m/products/{milk.product_id}")

        # when they open 周期购 on the product page
        page.click("[data-testid=subscribe-link]")
        expect(page).to_have_url(re.compile(r"/m/subscriptions/new\?sku="))
        # then the suggestion is theirs, with its reason
        expect(page.locator("[data-testid=suggestion-headline]")).to_have_text(
            "按您的饮用习惯，建议每 9 天一箱"
        )
        expect(page.locator("[data-testid=suggestion-reason]")).to_contain_text("3 次购买")
        page.screenshot(path=str(SCREENSHOTS / "food-subscribe.png"))

        # when they take the suggestion and subscribe
        page.click("[data-testid=use-suggestion]")
        expect(page.locator("[data-testid=cadence-value]")).to_have_value("9")
        page.click("[data-testid=subscribe]")
        expect(page).to_have_url(f"{base}/m/subscriptions")
        card = page.locator("[data-testid=subscription]")
        expect(card).to_have_count(1)
        subscription = Subscription.objects.get()
        assert (subscription.cadence_kind, subscription.cadence_value) == ("every_days", 9)
        first = subscription.next_delivery_date
        expect(card.locator("[data-testid=next-date]")).to_have_text(first.isoformat())

        # when they skip the next delivery
        page.click("[data-testid=skip-next]")
        # then the next date moves one cadence on, and the skipped date is recorded
        skipped_to = first + dt.timedelta(days=9)
        expect(card.locator("[data-testid=next-date]")).to_have_text(skipped_to.isoformat())
        assert SubscriptionDelivery.objects.get().delivery_date == first
        page.screenshot(path=str(SCREENSHOTS / "food-subscriptions.png"))
        assert console_errors == []

    def test_change_the_quantity_and_the_address(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given a household subscribed to one case, with a second saved address
        milk = _household_with_history()
        person = Identifier.objects.get(type="phone").person
        office = address_create(
            person=person,
            name="王小明",
            phone="13800138000",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路 1 号",
        )
        base = live_server.url
        _log_in_by_phone(page, base, PHONE, f"/m/subscriptions/new?sku={milk.pk}")
        page.click("[data-testid=subscribe]")
        expect(page).to_have_url(f"{base}/m/subscriptions")

        # when they open 修改, take two cases and deliver to the office
        card = page.locator("[data-testid=subscription]")
        card.locator("[data-testid=edit]").click()
        card.locator("[data-testid=edit-qty]").fill("2")
        card.locator("[data-testid=edit-address]").select_option(str(office.pk))
        page.screenshot(path=str(SCREENSHOTS / "food-subscription-edit.png"))
        card.locator("[data-testid=edit-save]").click()

        # then the page reloads with the change, and the subscription has it
        expect(card.locator("[data-testid=edit-panel]")).to_be_hidden()
        subscription = Subscription.objects.get()
        expect(page.locator("[data-testid=edit-qty]")).to_have_value("2")
        subscription.refresh_from_db()
        assert subscription.items == [{"sku_id": milk.pk, "quantity": 2}]
        assert subscription.address["city"] == "杭州市"
        assert console_errors == []


class TestSubscribePaidByContract:
    def test_sign_auto_debit_subscribe_get_charged_then_end_it(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given a household on the subscribe page, with no contract yet
        milk = _household_with_history()
        base = live_server.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        subscribe_path = f"/m/subscriptions/new?sku={milk.pk}"
        _log_in_by_phone(page, base, PHONE, subscribe_path)

        # when they choose 自动扣款 and open it at the sandbox's signing page
        page.click("[data-testid=pay-contract]")
        expect(page.locator("[data-testid=subscribe]")).to_be_disabled()
        page.click("[data-testid=contract-open]")
        expect(page).to_have_url(re.compile(r"/m/pay/contracts/CTR"))
        page.wait_for_load_state("load")
        page.screenshot(path=str(SCREENSHOTS / "food-contract-sign.png"))
        page.click("[data-testid=contract-sign]")

        # then they are back on the subscribe page with 自动扣款 on, and subscribe
        expect(page).to_have_url(f"{base}{subscribe_path}")
        expect(page.locator("[data-testid=contract-active]")).to_have_text("已开通沙箱支付自动扣款")
        expect(page.locator("[data-testid=contract-note]")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "food-subscribe-contract.png"), full_page=True)
        page.click("[data-testid=subscribe]")
        expect(page).to_have_url(f"{base}/m/subscriptions")
        card = page.locator("[data-testid=subscription]")
        expect(card.locator("[data-testid=sub-payment]")).to_contain_text("自动扣款（沙箱支付）")
        expect(page.locator("[data-testid=contract-status]")).to_have_text("已签约")
        page.screenshot(path=str(SCREENSHOTS / "food-subscriptions-contract.png"), full_page=True)

        # when the job orders the delivery and the charge effect runs
        subscription = Subscription.objects.get()
        assert subscription.payment_method == "contract"
        with clock.frozen(
            dt.datetime.combine(subscription.next_delivery_date, dt.time(1), tzinfo=dt.UTC)
            - dt.timedelta(days=2)
        ):
            placed = subscriptions_run(today=clock.now().date()).placed
            outbox_relay()
            outbox_relay()
        # then the order is paid without the buyer at the till
        assert Order.objects.get(order_no=placed[0]).status == OrderStatus.PAID

        # when they end the contract
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("[data-testid=contract-terminate]")
        # then it is ended and the subscription falls back to paying by hand
        expect(page.locator("[data-testid=contract-status]")).to_have_text("已解约")
        expect(card.locator("[data-testid=sub-payment]")).to_contain_text("自动扣款已解约")
        assert console_errors == []
