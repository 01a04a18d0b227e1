"""A shopper who taps "pay" again after an error buys once.

The worst moment for a purchase: the server placed the order, and the answer never reached the
phone (the connection dropped, a proxy answered 503). The page shows an error, the shopper taps
again — and must get the order they already have, not a second one. Every page that places
orders keeps one Idempotency-Key per purchase intent and resends it on retry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from freshloop.identity.models import Identifier
from freshloop.live.host.services import product_pin
from freshloop.orders.models import Order
from tests.e2e.conftest import PHONE_CONTEXT, AsgiServer
from tests.e2e.test_live_loop import _viewer_room
from tests.e2e.test_shop_flow import _log_in_by_phone
from tests.factories import make_sku
from tests.live.helpers import HOST_ACTOR, make_session

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS_URL = re.compile(r"/api/v1/shop/orders$")
UNAVAILABLE = (
    '{"code": "database_unavailable", "message": "系统繁忙（数据库暂时无法连接），请稍后再试", '
    '"detail": {"retry_after": 5}}'
)


class FirstAnswerLost:
    """Routes order POSTs: the first reaches the server (the order is placed) but its answer
    is replaced by `lose`; the rest pass. Records the Idempotency-Key each one carried."""

    def __init__(self, lose: Callable[[Route], None]) -> None:
        self.lose = lose
        self.keys: list[str | None] = []

    def __call__(self, route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        self.keys.append(route.request.headers.get("idempotency-key"))
        if len(self.keys) == 1:
            route.fetch()  # the server commits the order...
            self.lose(route)  # ...and the phone never hears of it
        else:
            route.continue_()


def _connection_reset(route: Route) -> None:
    route.abort("connectionreset")


def _service_unavailable(route: Route) -> None:
    route.fulfill(
        status=503,
        headers={"Retry-After": "5", "Content-Type": "application/json"},
        body=UNAVAILABLE,
    )


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(**PHONE_CONTEXT)
    page = context.new_page()
    yield page
    context.close()


def _fill_address(scope: Any, phone_number: str) -> None:
    for field, value in [
        ("name", "王小明"),
        ("phone", phone_number),
        ("detail", "张江路 1 号"),
    ]:
        scope.locator(f"input[name={field}]").fill(value)
    scope.locator("select[name=province]").select_option("上海市")
    scope.locator("select[name=city]").select_option("上海市")


class TestLiveRoomRetry:
    def test_tapping_pay_again_after_a_dropped_answer_places_one_order(
        self, browser: Browser, asgi_server: AsgiServer
    ) -> None:
        # given a live session with the milk pinned, and a viewer in the room
        milk = make_sku(price_fen=2990, stock=50, name="牧场鲜牛奶")
        session = make_session(skus=[milk])
        product_pin(session=session, sku_id=milk.pk, actor=HOST_ACTOR)
        errors: list[str] = []
        viewer = _viewer_room(browser, asgi_server.url, session.code, errors)
        orders = FirstAnswerLost(_connection_reset)
        viewer.route(ORDERS_URL, orders)

        # when they tap pay, the order is placed but the connection drops before the answer
        viewer.click("[data-testid=pinned-buy]")
        _fill_address(viewer.locator("[data-testid=checkout-sheet]"), "13900139001")
        expect(viewer.locator("[data-testid=room-price]")).to_contain_text("¥29.90")
        viewer.click("[data-testid=room-pay]")
        expect(viewer.locator("[data-testid=room-pay]")).to_be_enabled()
        assert len(orders.keys) == 1
        # and they tap pay again
        viewer.click("[data-testid=room-pay]")

        # then the cashier opens for the one order the first tap placed
        expect(viewer.locator("[data-testid=cashier]")).to_be_visible()
        assert len(orders.keys) == 2
        assert orders.keys[0]
        assert orders.keys[0] == orders.keys[1]
        assert Order.objects.filter(source_ref=session.code).count() == 1
        assert [e for e in errors if "pageerror" in e] == []


class TestCheckoutRetry:
    def test_submitting_again_after_a_503_places_one_order(
        self, phone: Page, live_server: Any
    ) -> None:
        # given a shopper at the checkout of one carton of milk
        milk = make_sku(price_fen=5990, stock=20, name="牧场鲜牛奶")
        base = live_server.url
        _log_in_by_phone(phone, base, "13900139000", f"/m/products/{milk.product_id}")
        phone.click("[data-testid=buy-now]")
        expect(phone).to_have_url(re.compile(r"/m/checkout"))
        _fill_address(phone, "13900139000")
        expect(phone.locator("[data-testid=total]")).not_to_have_text("¥0.00")
        orders = FirstAnswerLost(_service_unavailable)
        phone.route(ORDERS_URL, orders)

        # when the order is placed but the answer the phone gets is a 503
        phone.click("[data-testid=submit-order]")
        expect(phone.locator("[data-testid=error]")).to_contain_text("稍后再试")
        # and the shopper submits again
        phone.click("[data-testid=submit-order]")

        # then they reach the one order the first submit placed
        expect(phone).to_have_url(re.compile(r"/m/orders/O_"))
        assert orders.keys[0]
        assert orders.keys == [orders.keys[0]] * 2
        person = Identifier.objects.get(type="phone").person
        assert Order.objects.filter(person=person).count() == 1
