"""A presale launched in a live room (GB-4): a buyer opens its card from the room's product
sheet, pays a ¥10 deposit worth ¥30, and when the balance window opens pays the ¥69 balance
and sees it on 我的预售; a second buyer who never pays the balance sees the deposit forfeited
after the closing job.

The presale's windows are set relative to now. The balance part runs with the clock frozen
inside the balance window (`clock.frozen` is process-global, and the server runs in this
process, so the server and the test see the same moment); the closing job is told its moment
(`presales_advance(now=…)`)."""

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
from freshloop.groupbuy.presale.models import PresalePurchase, PurchaseStatus
from freshloop.groupbuy.presale.services import (
    presale_create,
    presale_live_launch,
    presales_advance,
)
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import address_create
from tests.e2e.conftest import PHONE_CONTEXT, AsgiServer
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import SAVED_ADDRESS, make_person
from tests.groupbuy.presale.helpers import OPERATOR, make_presale_sku, terms
from tests.live.helpers import make_session

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
ANNA_PHONE, BO_PHONE = "13900139011", "13900139012"


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


def _presale_in_a_live_room() -> tuple[Any, str]:
    """A presale whose deposit window is open now and whose balance window opens in 30 min,
    launched as a card in a live session."""
    now = clock.now()
    balance_starts = now + dt.timedelta(minutes=30)
    first_day = clock.to_shanghai(balance_starts).date()
    presale = presale_create(
        terms=terms(
            make_presale_sku(),
            deposit_starts_at=now - dt.timedelta(minutes=1),
            deposit_ends_at=balance_starts,
            balance_starts_at=balance_starts,
            balance_ends_at=balance_starts + dt.timedelta(hours=2),
            delivery_from=first_day + dt.timedelta(days=1),
            delivery_to=first_day + dt.timedelta(days=3),
        ),
        actor=OPERATOR,
    )
    session = make_session()
    presale_live_launch(presale_no=presale.presale_no, session_code=session.code, actor=OPERATOR)
    return presale, session.code


def _pay_at_the_cashier(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/m/orders/.+\?pay=1"))
    page.click("[data-testid=pay-confirm]")
    # the cashier settles on the order's plain address (a later goto would race it)
    expect(page).to_have_url(re.compile(r"/m/orders/[^?]+$"))
    expect(page.locator("[data-testid=order-status]")).to_have_text("已支付")


class TestPresaleFromALiveRoom:
    def test_deposit_balance_and_a_forfeited_deposit(
        self, phones: Any, asgi_server: AsgiServer
    ) -> None:
        # given a presale (¥99, deposit ¥10 worth ¥30) launched in a live room, two buyers
        presale, code = _presale_in_a_live_room()
        for phone in (ANNA_PHONE, BO_PHONE):
            address_create(person=make_person(phone=phone), **SAVED_ADDRESS)
        base = asgi_server.url
        presale_path = f"/m/groupbuy/presales/{presale.presale_no}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

        # when Anna, in the room, opens the product sheet: the presale's card is there
        anna = phones()
        _log_in_by_phone(anna, base, ANNA_PHONE, f"/m/live/{code}")
        anna.click("[data-testid=open-products]")
        offer = anna.locator("[data-testid=room-offer]")
        expect(offer).to_contain_text("阳澄湖大闸蟹预售")
        expect(offer).to_contain_text("定金 ¥10.00 抵 ¥30.00")
        expect(offer.locator("[data-testid=room-offer-go]")).to_have_text("付定金")
        anna.screenshot(path=str(SCREENSHOTS / "groupbuy-presale-live-card.png"))

        # and follows it to the presale page and pays the deposit at the cashier
        offer.locator("[data-testid=room-offer-go]").click()
        expect(anna).to_have_url(f"{base}{presale_path}")
        expect(anna.locator("[data-testid=deposit-worth]")).to_have_text("定金 ¥10.00 抵 ¥30.00")
        expect(anna.locator("[data-testid=countdown]")).to_contain_text("距定金截止")
        anna.screenshot(path=str(SCREENSHOTS / "groupbuy-presale.png"), full_page=True)
        anna.click("[data-testid=pay-deposit]")
        _pay_at_the_cashier(anna)

        # and Bo pays a deposit from the presale page itself
        bo = phones()
        _log_in_by_phone(bo, base, BO_PHONE, presale_path)
        expect(bo.locator("[data-testid=units-left]")).to_have_text("9")
        bo.click("[data-testid=pay-deposit]")
        _pay_at_the_cashier(bo)
        bo.goto(f"{base}{presale_path}")
        expect(bo.locator("[data-testid=purchase-status]")).to_have_text("已付定金")
        expect(bo.locator("[data-testid=my-purchase]")).to_contain_text("开始付尾款")

        # when the balance window opens, Anna sees 付尾款 with the 定金膨胀 arithmetic
        with clock.frozen(presale.balance_starts_at + dt.timedelta(minutes=5)):
            anna.goto(f"{base}{presale_path}")
            expect(anna.locator("[data-testid=countdown]")).to_contain_text("距尾款截止")
            mine = anna.locator("[data-testid=my-purchase]")
            expect(mine).to_contain_text("预售价¥99.00")
            expect(mine).to_contain_text("已付定金 ¥10.00，膨胀抵扣−¥30.00")
            expect(mine.locator("[data-testid=balance-due]")).to_contain_text("¥69.00")
            anna.screenshot(path=str(SCREENSHOTS / "groupbuy-presale-balance.png"), full_page=True)

            # and pays it
            anna.click("[data-testid=pay-balance]")
            _pay_at_the_cashier(anna)
            anna.goto(f"{base}/m/groupbuy/presales/me")
            expect(anna.locator("[data-testid=my-presale]")).to_contain_text("已付尾款 ¥69.00")
            expect(anna.locator("[data-testid=my-presale-status]")).to_contain_text("已付尾款")
            anna.screenshot(path=str(SCREENSHOTS / "groupbuy-presale-mine.png"))

        # when the balance window is over and the closing job runs
        after = presale.balance_ends_at + dt.timedelta(minutes=1)
        with clock.frozen(after):
            presales_advance(now=after)

            # then Bo, who never paid the balance, sees the deposit forfeited
            bo.goto(f"{base}/m/groupbuy/presales/me")
            expect(bo.locator("[data-testid=my-presale-status]")).to_contain_text("定金不退")
            expect(bo.locator("[data-testid=my-presale]")).to_contain_text(
                "尾款期内未付尾款，定金不退"
            )
            bo.screenshot(path=str(SCREENSHOTS / "groupbuy-presale-forfeited.png"))

        anna_purchase, bo_purchase = PresalePurchase.objects.order_by("pk")
        assert (anna_purchase.status, bo_purchase.status) == (
            PurchaseStatus.BALANCE_PAID,
            PurchaseStatus.FORFEITED,
        )
        balance_order = Order.objects.get(order_no=anna_purchase.balance_order_no)
        assert balance_order.paid_fen == balance_order.total_fen > 0
        # The forfeited deposit stays paid: the money is kept.
        assert Order.objects.get(order_no=bo_purchase.deposit_order_no).status == OrderStatus.PAID
