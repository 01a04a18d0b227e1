"""The presale H5 pages (/m/groupbuy/presales/<no>, /m/groupbuy/presales/me) and the live
room's presale card, composed by web from groupbuy's selectors."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.groupbuy.presale.models import Presale
from freshloop.groupbuy.presale.selectors import purchase_of_person_for_order
from freshloop.groupbuy.presale.services import presale_live_launch, presales_advance
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.services import address_create
from freshloop.web.presale_views import presale_phase, presale_room_offers
from tests.factories import SAVED_ADDRESS, make_person
from tests.groupbuy.presale.helpers import (
    AFTER_BALANCE,
    BALANCE_ENDS,
    BALANCE_STARTS,
    DEPOSIT_ENDS,
    DEPOSIT_STARTS,
    IN_BALANCE,
    IN_DEPOSIT,
    OPERATOR,
    T0,
    balance,
    deposit,
    make_presale,
    paid_deposit,
    pay,
)
from tests.live.helpers import make_session

pytestmark = pytest.mark.django_db


def browser_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def page(client: Client, url: str, *, at: dt.datetime) -> str:
    with clock.frozen(at):
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def buyer_with_address() -> Person:
    person = make_person()
    address_create(person=person, **SAVED_ADDRESS)
    return person


class TestPresalePhase:
    @pytest.mark.parametrize(
        ("moment", "code", "until"),
        [
            (T0, "before_deposit", DEPOSIT_STARTS),
            (DEPOSIT_STARTS, "deposit", DEPOSIT_ENDS),
            (DEPOSIT_ENDS, "between", BALANCE_STARTS),
            (BALANCE_STARTS, "balance", BALANCE_ENDS),
            (BALANCE_ENDS, "over", None),
        ],
    )
    def test_each_window_counts_down_to_its_own_end(
        self, moment: dt.datetime, code: str, until: dt.datetime | None
    ) -> None:
        presale = make_presale()
        phase = presale_phase(presale, moment)
        assert (phase.code, phase.until) == (code, until)

    def test_a_cancelled_presale_is_over_whatever_the_clock(self) -> None:
        presale = make_presale()
        Presale.objects.filter(pk=presale.pk).update(status="cancelled")
        presale.refresh_from_db()
        assert presale_phase(presale, IN_DEPOSIT).code == "over"


class TestPresalePage:
    def test_anyone_sees_the_card_with_windows_in_shanghai_time(self) -> None:
        presale = make_presale()
        html = page(Client(), f"/m/groupbuy/presales/{presale.presale_no}", at=IN_DEPOSIT)
        assert "阳澄湖大闸蟹预售" in html
        assert "定金 ¥10.00 抵 ¥30.00" in html
        assert "¥99.00" in html
        assert "¥129.00" in html
        # 03:00 UTC is 11:00 in Shanghai; the deposit window runs 2 days.
        assert "12月10日 11:00 – 12月12日 10:00" in html
        assert 'data-testid="units-left">10<' in html
        assert "距定金截止" in html
        # The status follows the clock, not the job that moves it (which has not run here).
        assert 'data-testid="presale-status">定金支付中<' in html
        assert 'data-testid="login-to-deposit"' in html
        assert 'data-testid="pay-deposit"' not in html

    def test_before_the_deposit_window_it_counts_down_to_its_start(self) -> None:
        presale = make_presale()
        html = page(Client(), f"/m/groupbuy/presales/{presale.presale_no}", at=T0)
        assert "距定金开始" in html
        assert 'data-phase="before_deposit"' in html
        assert 'data-testid="login-to-deposit"' not in html

    def test_a_signed_in_buyer_chooses_an_address_and_pays_the_deposit(self) -> None:
        presale = make_presale()
        buyer = buyer_with_address()
        html = page(browser_for(buyer), f"/m/groupbuy/presales/{presale.presale_no}", at=IN_DEPOSIT)
        assert 'data-testid="presale-address"' in html
        assert SAVED_ADDRESS["detail"] in html
        assert 'data-testid="pay-deposit"' in html
        assert f"/api/v1/groupbuy/presales/{presale.presale_no}/deposit" in html
        # Per-person limit 2: the buyer may take one or two.
        assert 'data-testid="presale-qty"' in html

    def test_an_unpaid_deposit_links_to_its_order(self) -> None:
        presale = make_presale()
        buyer = buyer_with_address()
        purchase = deposit(presale, buyer)
        html = page(browser_for(buyer), f"/m/groupbuy/presales/{presale.presale_no}", at=IN_DEPOSIT)
        assert f"/m/orders/{purchase.deposit_order_no}?pay=1" in html
        assert "待付定金" in html

    def test_in_the_balance_window_the_buyer_sees_the_arithmetic_and_pays(self) -> None:
        presale = make_presale()
        buyer = buyer_with_address()
        purchase = paid_deposit(presale, buyer, quantity=2)
        html = page(browser_for(buyer), f"/m/groupbuy/presales/{presale.presale_no}", at=IN_BALANCE)
        assert "距尾款截止" in html
        # Two units: price ¥198, deposit ¥20 worth ¥60, balance ¥138.
        assert "¥198.00" in html
        assert "已付定金 ¥20.00" in html
        assert "−¥60.00" in html
        assert "付尾款 ¥138.00" in html
        assert f"balance('{purchase.purchase_no}')" in html
        assert 'data-testid="pay-deposit"' not in html

    def test_after_the_deposit_a_buyer_waits_for_the_balance_window(self) -> None:
        presale = make_presale()
        buyer = buyer_with_address()
        paid_deposit(presale, buyer)
        html = page(browser_for(buyer), f"/m/groupbuy/presales/{presale.presale_no}", at=IN_DEPOSIT)
        assert "开始付尾款，届时提醒您" in html
        assert 'data-testid="pay-balance"' not in html

    def test_another_buyers_purchase_is_not_shown(self) -> None:
        presale = make_presale()
        paid_deposit(presale, make_person())
        html = page(
            browser_for(make_person()), f"/m/groupbuy/presales/{presale.presale_no}", at=IN_BALANCE
        )
        assert 'data-testid="my-purchase"' not in html
        assert 'data-testid="pay-balance"' not in html

    def test_an_unknown_presale_is_a_404_page(self) -> None:
        response = Client().get("/m/groupbuy/presales/PS_nope")
        assert response.status_code == 404
        assert "预售活动不存在" in response.content.decode()


class TestOrderPageLinksTheTwoOrders:
    def test_a_paid_deposit_says_when_the_balance_opens(self) -> None:
        presale = make_presale()
        buyer = buyer_with_address()
        purchase = paid_deposit(presale, buyer)
        html = page(browser_for(buyer), f"/m/orders/{purchase.deposit_order_no}", at=IN_DEPOSIT)
        assert 'data-testid="order-presale"' in html
        assert presale.name in html
        assert f"/m/groupbuy/presales/{presale.presale_no}" in html
        assert "尾款 12月" in html  # the balance window's start, in Shanghai time
        assert 'data-testid="presale-other-order"' not in html

    def test_deposit_and_balance_orders_link_to_each_other(self) -> None:
        # given a buyer who paid the deposit and placed the balance order
        presale = make_presale()
        buyer = buyer_with_address()
        purchase = paid_deposit(presale, buyer)
        balance_order = balance(purchase)
        client = browser_for(buyer)

        # when they open either order, the other one is linked
        on_deposit = page(client, f"/m/orders/{purchase.deposit_order_no}", at=IN_BALANCE)
        on_balance = page(client, f"/m/orders/{balance_order.order_no}", at=IN_BALANCE)
        assert f'href="/m/orders/{balance_order.order_no}"' in on_deposit
        assert "尾款订单" in on_deposit
        assert f'href="/m/orders/{purchase.deposit_order_no}"' in on_balance
        assert "定金订单" in on_balance

    def test_another_buyer_or_an_unrelated_order_finds_no_purchase(self) -> None:
        presale = make_presale()
        buyer = buyer_with_address()
        purchase = paid_deposit(presale, buyer)
        other = make_person()
        assert (
            purchase_of_person_for_order(person=other, order_no=purchase.deposit_order_no) is None
        )
        assert purchase_of_person_for_order(person=buyer, order_no="O_NOPE") is None


class TestMyPresales:
    def test_anonymous_goes_to_login(self) -> None:
        response = Client().get("/m/groupbuy/presales/me")
        assert response.status_code == 302
        assert response["Location"].startswith("/m/login")

    def test_balance_due_and_by_when(self) -> None:
        presale = make_presale()
        buyer = make_person()
        paid_deposit(presale, buyer)
        html = page(browser_for(buyer), "/m/groupbuy/presales/me", at=IN_BALANCE)
        assert "已付定金 ¥10.00（抵 ¥30.00）" in html
        assert "尾款 ¥69.00，12月13日 10:00 – 12月15日 10:00 支付" in html
        assert ">付尾款 ›<" in html

    def test_paid_and_forfeited_purchases(self) -> None:
        presale = make_presale()
        buyer = make_person()
        kept = paid_deposit(presale, buyer)
        pay(balance(kept).order_no, at=IN_BALANCE)
        forfeited_presale = make_presale(name="不付尾款的预售")
        paid_deposit(forfeited_presale, buyer)
        with clock.frozen(AFTER_BALANCE):
            presales_advance(now=AFTER_BALANCE)
        html = page(browser_for(buyer), "/m/groupbuy/presales/me", at=AFTER_BALANCE)
        assert "已付尾款 ¥69.00" in html
        assert "尾款期内未付尾款，定金不退" in html
        assert html.count('data-testid="my-presale"') == 2

    def test_a_refundable_deposit_is_shown_going_back(self) -> None:
        presale = make_presale(deposit_refundable=True)
        buyer = make_person()
        paid_deposit(presale, buyer)
        with clock.frozen(AFTER_BALANCE):
            presales_advance(now=AFTER_BALANCE)
        html = page(browser_for(buyer), "/m/groupbuy/presales/me", at=AFTER_BALANCE)
        assert "定金 ¥10.00 原路退回" in html
        assert ">定金已退 ›<" in html

    def test_an_unpaid_deposit_that_lapsed_is_cancelled(self) -> None:
        presale = make_presale()
        buyer = make_person()
        deposit(presale, buyer)
        with clock.frozen(AFTER_BALANCE):
            presales_advance(now=AFTER_BALANCE)
        html = page(browser_for(buyer), "/m/groupbuy/presales/me", at=AFTER_BALANCE)
        assert "定金未支付，已取消" in html

    def test_a_buyer_sees_only_their_own(self) -> None:
        presale = make_presale()
        paid_deposit(presale, make_person())
        html = page(browser_for(make_person()), "/m/groupbuy/presales/me", at=IN_DEPOSIT)
        assert 'data-testid="no-presales"' in html


class TestLiveRoomPresaleCard:
    def test_a_launched_presale_is_an_offer_in_the_rooms_state(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            session = make_session()
            presale_live_launch(
                presale_no=presale.presale_no, session_code=session.code, actor=OPERATOR
            )
        with clock.frozen(IN_DEPOSIT):
            state = Client().get(f"/api/v1/live/{session.code}").json()
        [offer] = state["offers"]
        assert offer["href"] == f"/m/groupbuy/presales/{presale.presale_no}"
        assert offer["action_label"] == "付定金"
        assert offer["note"] == "定金 ¥10.00 抵 ¥30.00 · 剩 10 件"
        assert (offer["price_fen"], offer["list_price_fen"]) == (9900, 12900)

    def test_the_card_says_what_the_button_does_in_each_window(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            presale_live_launch(presale_no=presale.presale_no, session_code="L_x", actor=OPERATOR)
        labels = []
        for moment in (T0, IN_DEPOSIT, IN_BALANCE):
            with clock.frozen(moment):
                labels.append(presale_room_offers("L_x")[0]["action_label"])
        assert labels == ["即将开始", "付定金", "付尾款"]

    def test_a_room_without_presales_has_no_offers(self) -> None:
        make_presale()
        session = make_session()
        assert Client().get(f"/api/v1/live/{session.code}").json()["offers"] == []
