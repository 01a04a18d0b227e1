"""Each role lands on its own working home in the console (issue #14, role homes)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.inventory.services import stock_receive
from freshloop.live.room.services import live_session_create
from freshloop.orders.services import (
    aftersales_case_open,
    aftersales_case_reject,
    order_refund_request,
)
from freshloop.scrm.services import journey_create
from tests.factories import make_order, make_person, make_sku, make_staff_user, make_warehouse
from tests.orders.helpers import pay

OPS = Actor.system("tests")
NOW = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def _login(client: Client, username: str, *roles: Role, superuser: bool = False) -> None:
    make_staff_user(username, *roles, superuser=superuser)
    client.login(username=username, password="pass-1234")


@pytest.mark.django_db
class TestLanding:
    def test_a_host_lands_on_today_and_the_next_sessions_of_their_own(self, client: Client) -> None:
        # given a host with a session tonight and one next week, and another host's session
        host = make_staff_user("host", Role.LIVE_HOST)
        other = make_staff_user("other", Role.LIVE_HOST)
        sku = make_sku(stock=5)
        tonight = live_session_create(
            title="今晚鲜奶专场",
            host=host,
            scheduled_at=NOW + dt.timedelta(hours=10),
            sku_ids=[sku.pk],
            actor=OPS,
        )
        live_session_create(
            title="下周牧场直播",
            host=host,
            scheduled_at=NOW + dt.timedelta(days=5),
            sku_ids=[sku.pk],
            actor=OPS,
        )
        live_session_create(
            title="别人的直播",
            host=other,
            scheduled_at=NOW + dt.timedelta(hours=3),
            sku_ids=[sku.pk],
            actor=OPS,
        )
        client.login(username="host", password="pass-1234")
        # when they open the console
        with clock.frozen(NOW):
            page = client.get("/console/").content.decode()
        # then their home lists tonight's session with its console, next week's, not the other's
        assert "主播工作台" in page
        assert "今晚鲜奶专场" in page
        assert f"/console/live/{tonight.code}" in page
        assert "下周牧场直播" in page
        assert "别人的直播" not in page

    def test_customer_service_sees_the_refund_queue_oldest_first(self, client: Client) -> None:
        # given two paid orders whose buyers asked for their money back, one after the other
        sku = make_sku(stock=10, price_fen=2000)
        refunds = []
        for minutes in (0, 5):
            order = pay(make_order(make_person(), (sku, 1)))
            with clock.frozen(NOW + dt.timedelta(minutes=minutes)):
                refunds.append(
                    order_refund_request(
                        order_no=order.order_no,
                        reason=f"牛奶破损{minutes}",
                        actor=OPS,
                        amount_fen=1000,
                    )
                )
        _login(client, "cs", Role.CUSTOMER_SERVICE)
        # when customer service opens the console
        page = client.get("/console/").content.decode()
        # then both wait in the queue, the older first, with the customer search beside them
        assert "客服工作台" in page
        assert 'action="/console/data/people/"' in page
        assert page.index(refunds[0].order.order_no) < page.index(refunds[1].order.order_no)
        assert f"/admin/orders/refundrequest/{refunds[0].pk}/change/" in page

    def test_customer_service_sees_open_aftersales_cases_oldest_first(self, client: Client) -> None:
        # given three buyers who reported damaged milk, one after the other; the last was
        # already rejected
        sku = make_sku(stock=10, price_fen=2000)
        cases = []
        for minutes in (0, 5, 10):
            buyer = make_person()
            order = pay(make_order(buyer, (sku, 1)))
            with clock.frozen(NOW + dt.timedelta(minutes=minutes)):
                cases.append(
                    aftersales_case_open(
                        person=buyer,
                        order_no=order.order_no,
                        kind="refund_only",
                        reason="damaged",
                        description="",
                        lines=[{"line_id": order.lines.get().pk, "quantity": 1}],
                    )
                )
        aftersales_case_reject(case_id=cases[2].pk, actor=OPS, note="照片看不出问题")
        _login(client, "cs", Role.CUSTOMER_SERVICE)
        # when customer service opens the console
        page = client.get("/console/").content.decode()
        # then the 售后工单 card lists the two open cases, the older first, with links
        card = page[page.index('data-testid="aftersales-queue"') :]
        assert card.index(cases[0].order.order_no) < card.index(cases[1].order.order_no)
        assert f"/admin/orders/aftersalescase/{cases[0].pk}/change/" in card
        assert "商品破损" in card
        assert cases[2].order.order_no not in card

    def test_supply_chain_sees_stock_by_warehouse_and_the_lots_about_to_expire(
        self, client: Client
    ) -> None:
        # given milk in two warehouses, one lot expiring in 3 days and one already expired
        shanghai, beijing = (
            make_warehouse("sh", province="上海"),
            make_warehouse("bj", province="北京"),
        )
        milk = make_sku(name="鲜牛奶")
        today = clock.to_shanghai(NOW).date()
        soon = batch_register(
            sku=milk,
            batch_no="B-SOON",
            produced_on=today - dt.timedelta(days=4),
            expires_on=today + dt.timedelta(days=3),
        )
        gone = batch_register(
            sku=milk,
            batch_no="B-GONE",
            produced_on=today - dt.timedelta(days=9),
            expires_on=today - dt.timedelta(days=1),
        )
        later = batch_register(
            sku=milk,
            batch_no="B-LATER",
            produced_on=today,
            expires_on=today + dt.timedelta(days=30),
        )
        stock_receive(sku=milk, warehouse=shanghai, quantity=40, actor=OPS, batch=soon)
        stock_receive(sku=milk, warehouse=shanghai, quantity=2, actor=OPS, batch=gone)
        stock_receive(sku=milk, warehouse=beijing, quantity=60, actor=OPS, batch=later)
        _login(client, "scm", Role.SUPPLY_CHAIN)
        # when supply chain opens the console
        with clock.frozen(NOW):
            page = client.get("/console/").content.decode()
        # then both warehouses show their totals; the two near lots are listed, expired first
        assert "上海仓" in page
        assert "北京仓" in page
        assert page.index("B-GONE") < page.index("B-SOON")
        assert "已过期，勿发货" in page
        assert "还剩 3 天" in page
        assert "B-LATER" not in page

    def test_a_marketer_lands_on_the_dashboard(self, client: Client) -> None:
        _login(client, "mk", Role.MARKETER)
        response = client.get("/console/")
        assert (response.status_code, response["Location"]) == (302, "/console/data/")

    def test_a_group_leader_is_told_what_is_coming(self, client: Client) -> None:
        _login(client, "leader", Role.GROUP_LEADER)
        page = client.get("/console/").content.decode()
        assert "团长工作台即将开放" in page

    def test_a_community_manager_sees_segments(self, client: Client) -> None:
        _login(client, "cm", Role.COMMUNITY_MANAGER)
        page = client.get("/console/").content.decode()
        assert "社群运营工作台" in page
        assert "/console/data/segments/new" in page

    def test_a_community_manager_sees_the_journeys(self, client: Client) -> None:
        _login(client, "cm", Role.COMMUNITY_MANAGER)
        assert "还没有客户旅程" in client.get("/console/").content.decode()
        journey = journey_create(
            name="直播加购挽回",
            trigger="live_cart_abandoned",
            steps=[{"type": "tag", "tag": "加购未付"}],
            actor=Actor.system("tests"),
        )
        page = client.get("/console/").content.decode()
        assert f"/console/scrm/journeys/{journey.pk}" in page
        assert "直播加购挽回" in page
        assert "草稿" in page


@pytest.mark.django_db
class TestSeveralHomes:
    def test_someone_with_two_roles_gets_the_overview_and_both_homes(self, client: Client) -> None:
        _login(client, "both", Role.LIVE_HOST, Role.CUSTOMER_SERVICE)
        page = client.get("/console/").content.decode()
        assert "社区团购与团长" in page  # the overview of areas
        assert "/console/home/live_host/" in page
        assert "/console/home/customer_service/" in page
        assert "/console/home/supply_chain/" not in page
        assert client.get("/console/home/customer_service/").status_code == 200

    def test_an_admin_may_open_every_home(self, client: Client) -> None:
        _login(client, "root", superuser=True)
        for role in ("live_host", "customer_service", "supply_chain", "community_manager"):
            assert client.get(f"/console/home/{role}/").status_code == 200

    @pytest.mark.parametrize("role", ["supply_chain", "admin", "no_such_role"])
    def test_another_roles_home_is_refused(self, client: Client, role: str) -> None:
        _login(client, "host", Role.LIVE_HOST)
        assert client.get(f"/console/home/{role}/").status_code == 403
