"""Back office: orders with the explained price and fulfilment steps, refund decisions, stock tools."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.inventory.models import StockLevel
from freshloop.orders.models import Order, OrderStatus, RefundRequest, RefundStatus
from freshloop.orders.services import order_refund_request
from tests.factories import make_person, make_sku, make_staff_user
from tests.orders.helpers import MARKETER, buy, pay

pytestmark = pytest.mark.django_db


def staff_client(*roles: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(f"u{len(roles)}{'-'.join(roles)}", *roles))
    return client


class TestOrderAdmin:
    def test_order_page_shows_the_price_rows_and_a_masked_address(
        self, admin_client: Client
    ) -> None:
        order = pay(buy(make_person(), (make_sku(price_fen=3000, stock=5), 1)))
        page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
        assert "商品金额" in page
        assert "张江路" not in page  # the street address stays out of the back office list
        assert "138****8000" in page
        assert "确认分仓" in page
        # the provider by its Chinese name, in the form and on the timeline
        assert "沙箱支付" in page
        assert "支付成功（沙箱支付）" in page
        assert "（sandbox）" not in page

    def test_supply_chain_walks_the_order_to_shipped(self) -> None:
        milk = make_sku(stock=5)
        order = pay(buy(make_person(), (milk, 2)))
        client = staff_client(Role.SUPPLY_CHAIN)
        step = f"/admin/orders/order/{order.pk}/step/"
        assert client.post(step, {"to": "allocated"}).status_code == 302
        client.post(step, {"to": "shipped", "carrier": "顺丰冷运", "tracking_no": "SF1"})
        assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED
        assert StockLevel.objects.get(sku=milk).on_hand == 3

    def test_a_step_the_state_machine_refuses_is_a_message(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        client = staff_client(Role.SUPPLY_CHAIN)
        response = client.post(
            f"/admin/orders/order/{order.pk}/step/",
            {"to": "shipped", "carrier": "x", "tracking_no": "1"},
            follow=True,
        )
        assert "不能变为" in response.content.decode()
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_PAYMENT

    def test_marketers_cannot_ship(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        client = staff_client(Role.MARKETER)
        client.post(f"/admin/orders/order/{order.pk}/step/", {"to": "allocated"})
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


class TestRefundRequestAdmin:
    def test_approve_action_refunds_through_the_sandbox(self, admin_client: Client) -> None:
        order = pay(buy(make_person(), (make_sku(price_fen=3000, stock=5), 1)))
        refund = order_refund_request(
            order_no=order.order_no, reason="坏了", actor=MARKETER, amount_fen=3000
        )
        response = admin_client.post(
            "/admin/orders/refundrequest/",
            {"action": "approve", "_selected_action": [refund.pk]},
        )
        assert response.status_code == 302
        assert RefundRequest.objects.get(pk=refund.pk).status in {
            RefundStatus.APPROVED,
            RefundStatus.REFUNDED,
        }
        assert AuditLog.objects.filter(action="orders.refund_approve").count() == 1


class TestStockLevelAdmin:
    def test_adjust_and_count_through_the_page(self) -> None:
        sku = make_sku(stock=10)
        stock = StockLevel.objects.get(sku=sku)
        client = staff_client(Role.SUPPLY_CHAIN)
        page = client.get(f"/admin/inventory/stocklevel/{stock.pk}/change/").content.decode()
        assert "库存调整" in page
        client.post(
            f"/admin/inventory/stocklevel/{stock.pk}/adjust/", {"delta": "-2", "reason": "破损"}
        )
        assert StockLevel.objects.get(pk=stock.pk).on_hand == 8
        client.post(f"/admin/inventory/stocklevel/{stock.pk}/count/", {"counted": "7"})
        assert StockLevel.objects.get(pk=stock.pk).on_hand == 7
        response = client.post(
            f"/admin/inventory/stocklevel/{stock.pk}/adjust/",
            {"delta": "abc", "reason": "x"},
            follow=True,
        )
        assert "请输入整数" in response.content.decode()

    def test_every_commerce_list_page_renders(self, admin_client: Client) -> None:
        pay(buy(make_person(), (make_sku(stock=5), 1)))
        for url in [
            "/admin/orders/order/",
            "/admin/orders/refundrequest/",
            "/admin/inventory/stocklevel/",
            "/admin/inventory/stockmovement/",
            "/admin/inventory/reservation/",
            "/admin/inventory/stocktake/",
            "/admin/catalog/batch/",
            "/admin/catalog/product/",
        ]:
            assert admin_client.get(url).status_code == 200, url
