"""The order page's estimated delivery date (issue #14: a simple transit table for now)."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.orders.selectors import order_delivery_estimate
from freshloop.orders.services import order_cancel
from tests.factories import MARKETER, make_order, make_person, make_sku, make_warehouse
from tests.orders.helpers import pay

# 2026-12-07 is a Monday; 01:00 UTC is 09:00 in Shanghai, 09:00 UTC is 17:00
MONDAY_MORNING = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)
MONDAY_EVENING = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
class TestDeliveryEstimate:
    def test_paid_before_the_cutoff_leaves_today_and_arrives_after_the_transit_days(self) -> None:
        # given milk in Shanghai bought for an address in Zhejiang (same region: 2 days)
        sku = make_sku(stock=10, warehouse=make_warehouse("sh", province="上海"))
        order = make_order(make_person(), (sku, 1))  # tests.factories.ADDRESS is in 上海
        order.province = "浙江"
        order.save(update_fields=["province"])
        # when it is paid on Monday morning
        with clock.frozen(MONDAY_MORNING):
            paid = pay(order)
        estimate = order_delivery_estimate(order=paid)
        # then it is due on Wednesday
        assert estimate is not None
        assert (estimate.on, estimate.transit_days) == (dt.date(2026, 12, 9), 2)
        assert estimate.label == "预计 12月9日（周三）送达"

    def test_paid_after_the_cutoff_leaves_tomorrow(self) -> None:
        sku = make_sku(stock=10, warehouse=make_warehouse("sh", province="上海"))
        with clock.frozen(MONDAY_EVENING):
            paid = pay(make_order(make_person(), (sku, 1)))
        estimate = order_delivery_estimate(order=paid)
        assert estimate is not None
        assert estimate.on == dt.date(2026, 12, 9)  # leaves Tuesday, same province: 1 day

    def test_an_unpaid_order_says_the_date_holds_if_paid_now(self) -> None:
        sku = make_sku(stock=10, warehouse=make_warehouse("bj", province="北京"))
        order = make_order(make_person(), (sku, 1))  # to 上海: another region, 3 days
        estimate = order_delivery_estimate(order=order, now=MONDAY_MORNING)
        assert estimate is not None
        assert estimate.label == "付款后预计 12月10日（周四）送达"

    def test_a_cancelled_order_has_no_estimate(self) -> None:
        sku = make_sku(stock=10)
        order = make_order(make_person(), (sku, 1))
        cancelled = order_cancel(order_no=order.order_no, reason="不要了", actor=MARKETER)
        assert order_delivery_estimate(order=cancelled) is None
