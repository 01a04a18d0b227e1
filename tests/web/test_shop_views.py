"""The H5 shop pages render what the buyer may see, in Chinese, and only their own data."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from freshloop.catalog.models import Product
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.inventory.services import stock_receive
from freshloop.orders.services import aftersales_case_open
from tests.factories import give_coupon, make_person, make_sku, make_warehouse
from tests.orders.helpers import buy, coupon_template, pay

pytestmark = pytest.mark.django_db


def browser_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


class TestShopHome:
    def test_lists_products_with_storage_and_sold_out(self) -> None:
        make_sku(name="牧场鲜牛奶", stock=5)
        make_sku(name="冷冻水饺", storage="frozen")
        page = Client().get("/m/").content.decode()
        assert "牧场鲜牛奶" in page
        assert "冷藏" in page
        assert "已售罄" in page  # the dumplings have no stock
        assert 'data-testid="tabbar"' in page


class TestProductPage:
    def test_shows_food_attributes_and_the_lot_that_would_ship(self) -> None:
        sku = make_sku(name="牧场鲜牛奶")
        lot = batch_register(
            sku=sku,
            batch_no="L1",
            produced_on=dt.date(2026, 11, 20),
            origin_detail="锡林郭勒 3 号牧场",
        )
        stock_receive(
            sku=sku, warehouse=make_warehouse(), quantity=5, actor=Actor.system("t"), batch=lot
        )
        page = Client().get(f"/m/products/{sku.product_id}").content.decode()
        assert "2026-11-20 生产" in page
        assert "2026-11-27 到期" in page
        assert "锡林郭勒 3 号牧场" in page

    def test_unknown_product_is_a_chinese_404(self) -> None:
        response = Client().get("/m/products/999999")
        assert response.status_code == 404
        assert "商品不存在或已下架" in response.content.decode()


def slow_cold_carrier() -> None:
    """A cold carrier two days slower than the transit table (3 days inside 上海, not 1)."""
    from freshloop.fulfillment.services import RateSpec, carrier_configure

    carrier_configure(
        code="slow-cold",
        name="慢速冷运",
        chilled=True,
        rates=[RateSpec(first_fee_fen=1500)],
        days_offset=2,
    )


class TestConsumerPages:
    @pytest.mark.parametrize(
        "path", ["/m/cart", "/m/checkout", "/m/orders", "/m/aftersales", "/m/coupons", "/m/points"]
    )
    def test_anonymous_buyers_are_sent_to_login_and_back(self, path: str) -> None:
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/m/login?next={path}"

    def test_my_orders_coupons_and_points(self) -> None:
        person = make_person()
        give_coupon(person, coupon_template())
        order = pay(buy(person, (make_sku(price_fen=6000, stock=5, name="牧场鲜牛奶"), 2)))
        browser = browser_for(person)
        assert order.order_no in browser.get("/m/orders").content.decode()
        detail = browser.get(f"/m/orders/{order.order_no}").content.decode()
        assert "已支付" in detail
        assert "支付成功（沙箱支付）" in detail
        assert "sandbox" not in detail
        assert "支付方式" in detail
        assert 'data-testid="delivery-estimate"' in detail
        assert "送达" in detail
        assert "满99减20" in browser.get("/m/coupons").content.decode()
        points = browser.get("/m/points").content.decode()
        assert "120" in points  # ¥120 paid → 120 points
        assert "普通会员" in points

    def test_an_allocated_order_shows_the_allocations_promise(self) -> None:
        # given a paid order the solver allocated with a promise of 12月9日
        from tests.fulfillment.factories import make_parcel_order

        parcels = make_parcel_order(promised_on=dt.date(2026, 12, 9))
        # when the buyer opens it
        page = browser_for(parcels.order.person).get(f"/m/orders/{parcels.order.order_no}")
        # then the promise replaces the table's estimate
        assert "承诺 12月9日（周三）前送达" in page.content.decode()

    def test_the_unpaid_order_shows_the_date_allocation_later_promises(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a cold carrier two days slower than the transit table's 1 day inside 上海,
        # and milk in 上海's cold warehouse (10:00 in Shanghai, before the 16:00 cut-off)
        from freshloop.fulfillment.services import allocations_run

        slow_cold_carrier()
        person = make_person()
        with clock.frozen(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)):
            milk = make_sku(stock=5, warehouse=make_warehouse(), name="牧场鲜牛奶")
            order = buy(person, (milk, 1))
            browser = browser_for(person)
            # when the buyer opens the unpaid order
            page = browser.get(f"/m/orders/{order.order_no}").content.decode()
            # then the date is allocation's (3 days), not the table's (12月2日)
            assert "付款后预计 12月4日（周五）送达" in page
            # when paid, the batch not run yet: the same date, no longer "after payment"
            with django_capture_on_commit_callbacks(execute=True):
                pay(order)
            page = browser.get(f"/m/orders/{order.order_no}").content.decode()
            assert "预计 12月4日（周五）送达" in page
            assert "付款后" not in page
            # and once allocated, the promise is that same date
            allocations_run()
            page = browser.get(f"/m/orders/{order.order_no}").content.decode()
            assert "承诺 12月4日（周五）前送达" in page

    def test_without_carriers_the_page_keeps_the_transit_tables_estimate(self) -> None:
        # given no carrier configured (allocation could not place the order)
        person = make_person()
        with clock.frozen(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)):
            order = buy(person, (make_sku(stock=5, warehouse=make_warehouse()), 1))
            # when the buyer opens it, then the table's 1 day inside 上海 holds
            page = browser_for(person).get(f"/m/orders/{order.order_no}").content.decode()
        assert "付款后预计 12月2日（周三）送达" in page

    def test_the_delivery_date_costs_a_handful_of_queries(
        self, django_assert_max_num_queries: Any
    ) -> None:
        # given a configured carrier (3 days inside 上海, the table says 1), an unpaid order
        # and a paid one waiting for the batch
        from freshloop.web.shop_views import _delivery

        slow_cold_carrier()
        milk = make_sku(stock=5, warehouse=make_warehouse())
        unpaid, waiting = buy(make_person(), (milk, 1)), pay(buy(make_person(), (milk, 1)))
        for order in (unpaid, waiting):
            # then the table's estimate, the allocation lookup and the preview stay within ten
            with django_assert_max_num_queries(10):
                delivery = _delivery(order)
            assert delivery is not None
            assert delivery.transit_days == 3  # the preview's, not the table's

    def test_after_sales_is_offered_on_a_paid_order_until_a_case_waits(self) -> None:
        # given a buyer with an unpaid and a paid order
        person = make_person()
        sku = make_sku(price_fen=3000, stock=5, name="牧场鲜牛奶")
        unpaid, paid = buy(person, (sku, 1)), pay(buy(person, (sku, 2)))
        browser = browser_for(person)
        # then only the paid one offers 申请售后, with its units still open to a claim
        assert "申请售后" not in browser.get(f"/m/orders/{unpaid.order_no}").content.decode()
        page = browser.get(f"/m/orders/{paid.order_no}").content.decode()
        assert 'data-testid="aftersales-open"' in page
        assert '"left": 2' in page
        # when a case is opened, the page shows it 待处理 and offers no second one
        aftersales_case_open(
            person=person,
            order_no=paid.order_no,
            kind="return_refund",
            reason="cold_chain",
            description="到货时已经不凉了",
            lines=[{"line_id": paid.lines.get().pk, "quantity": 2}],
        )
        page = browser.get(f"/m/orders/{paid.order_no}").content.decode()
        assert 'data-testid="aftersales-open"' not in page
        assert "退货退款 · 冷链温度不达标" in page
        assert "待处理" in page
        assert "到货时已经不凉了" in page

    def test_my_aftersales_lists_only_my_cases_with_a_waiting_badge(self) -> None:
        # given two buyers, each with a case on a paid order
        sku = make_sku(price_fen=3000, stock=9, name="牧场鲜牛奶")
        me, other = make_person(), make_person()
        mine = pay(buy(me, (sku, 2)))
        theirs = pay(buy(other, (sku, 1)))
        for person, order, text in ((me, mine, "瓶盖漏了"), (other, theirs, "别人的问题")):
            aftersales_case_open(
                person=person,
                order_no=order.order_no,
                kind="refund_only",
                reason="damaged",
                description=text,
                lines=[{"line_id": order.lines.get().pk, "quantity": 1}],
            )
        browser = browser_for(me)
        # when I open 我的售后
        page = browser.get("/m/aftersales").content.decode()
        # then my case is there, waiting, with the way back to its order; theirs is not
        assert "瓶盖漏了" in page
        assert "待处理" in page
        assert f'href="/m/orders/{mine.order_no}"' in page
        assert "别人的问题" not in page
        assert theirs.order_no not in page
        # and 我的 shows one case waiting
        assert 'data-testid="my-aftersales-open">1<' in browser.get("/m/me").content.decode()

    def test_my_aftersales_empty_state_says_where_to_start(self) -> None:
        page = browser_for(make_person()).get("/m/aftersales").content.decode()
        assert 'data-testid="aftersales-empty"' in page
        assert "申请售后" in page

    def test_someone_elses_order_is_not_found(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        response = browser_for(make_person()).get(f"/m/orders/{order.order_no}")
        assert response.status_code == 404


class TestLoginNext:
    def test_login_page_only_follows_h5_paths(self) -> None:
        assert '"/m/cart"' in Client().get("/m/login?next=/m/cart").content.decode()
        page = Client().get("/m/login?next=https://evil.example/").content.decode()
        assert "evil.example" not in page
        assert '"/m/me"' in page


class TestSharedFragments:
    """With the page cache on (as in production), an edit in the catalog shows at once; stock
    changes show within the fragment's lifetime."""

    @pytest.fixture(autouse=True)
    def _page_cache(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, page_cache_seconds=60)
        cache.clear()

    def test_a_renamed_product_shows_at_once(self, django_capture_on_commit_callbacks: Any) -> None:
        sku = make_sku(name="牧场鲜牛奶", stock=5)
        assert "牧场鲜牛奶" in Client().get("/m/").content.decode()
        assert "牧场鲜牛奶" in Client().get(f"/m/products/{sku.product_id}").content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            product = Product.objects.get(pk=sku.product_id)
            product.name = "有机鲜牛奶"
            product.save()
        assert "有机鲜牛奶" in Client().get("/m/").content.decode()
        assert "有机鲜牛奶" in Client().get(f"/m/products/{sku.product_id}").content.decode()

    def test_the_cached_grid_is_served_without_queries(
        self, django_assert_num_queries: Any
    ) -> None:
        make_sku(name="牧场鲜牛奶", stock=5)
        Client().get("/m/")
        with django_assert_num_queries(0):
            page = Client().get("/m/").content.decode()
        assert "牧场鲜牛奶" in page

    def test_an_unknown_product_is_still_a_404(self) -> None:
        for _ in range(2):
            assert Client().get("/m/products/999999").status_code == 404
