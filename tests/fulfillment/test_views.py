"""The supply chain's console at /console/fulfillment/: pages render for supply chain (403
for a marketer), forms post through the same services as the API, refusals are shown with
the API's status and every wrong field under its input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.outbox import outbox_relay
from freshloop.core.permissions import Role
from freshloop.fulfillment.aftersales_rules import aftersales_rule_create
from freshloop.fulfillment.allocating import allocation_open
from freshloop.fulfillment.events import ExcursionDetected
from freshloop.fulfillment.models import (
    AfterSalesRule,
    Allocation,
    AllocationStatus,
    AutoDecision,
    Excursion,
    Recall,
    ShipmentStatus,
)
from freshloop.fulfillment.telemetry import ReadingInput, device_create, readings_ingest
from freshloop.fulfillment.views import rule_conditions_text
from tests.factories import make_person, make_sku, make_staff_user
from tests.fulfillment.factories import (
    event_fields,
    make_batch,
    make_parcel,
    make_parcel_order,
    paid_order,
)

pytestmark = pytest.mark.django_db

Committed = Callable[[], AbstractContextManager[Any]]
SERVICE = Actor(type="user", id="7", label="客服小林")
PAGES = [
    "/console/fulfillment/",
    "/console/fulfillment/allocations/",
    "/console/fulfillment/shipments/",
    "/console/fulfillment/excursions/",
    "/console/fulfillment/rules/",
    "/console/fulfillment/decisions/",
    "/console/fulfillment/recalls/",
    "/console/fulfillment/near-expiry/",
]


def operator(role: Role, name: str = "supply") -> Client:
    client = Client()
    client.force_login(make_staff_user(name, role))
    return client


@pytest.fixture
def supply() -> Client:
    return operator(Role.SUPPLY_CHAIN)


def said(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def excursion_on(shipment_id: int, minutes: int = 45) -> Excursion:
    start = clock.now() - dt.timedelta(hours=2)
    return Excursion.objects.create(
        shipment_id=shipment_id,
        storage="chilled",
        started_at=start,
        ended_at=start + dt.timedelta(minutes=minutes),
        peak_celsius=9.5,
        minutes=minutes,
        detected_at=clock.now(),
    )


class TestPages:
    @pytest.mark.parametrize("path", PAGES)
    def test_render_for_supply_chain(self, supply: Client, path: str) -> None:
        response = supply.get(path)
        assert response.status_code == 200
        assert "温度异常" in response.content.decode()  # the nav is on every page

    @pytest.mark.parametrize("path", PAGES)
    def test_a_marketer_is_refused(self, path: str) -> None:
        assert operator(Role.MARKETER, "mk").get(path).status_code == 403


class TestAllocationRetry:
    def test_a_failed_allocation_goes_back_to_the_queue(self, supply: Client) -> None:
        # given an order whose allocation failed
        milk = make_sku(stock=5)
        order = paid_order(make_person(), (milk, 1))
        allocation_open(order_id=order.pk)
        Allocation.objects.filter(order=order).update(
            status=AllocationStatus.FAILED, error="没有冷链仓有货"
        )
        page = supply.get("/console/fulfillment/allocations/").content.decode()
        assert 'data-testid="allocation-retry"' in page
        assert f"/admin/orders/order/{order.pk}/change/" in page
        # when
        response = supply.post(f"/console/fulfillment/allocations/{order.order_no}/retry")
        # then
        assert response.status_code == 302
        assert Allocation.objects.get(order=order).status == AllocationStatus.PENDING
        assert said(response) == [f"订单 {order.order_no} 已重新分仓"]

    def test_retrying_an_allocation_that_did_not_fail_is_refused_with_a_message(
        self, supply: Client
    ) -> None:
        order = make_parcel_order().order
        response = supply.post(f"/console/fulfillment/allocations/{order.order_no}/retry")
        assert response.status_code == 302
        assert said(response)[0].startswith("重试失败：")

    def test_customer_service_may_read_the_queue_but_not_retry(self) -> None:
        service = operator(Role.CUSTOMER_SERVICE, "cs")
        assert service.get("/console/fulfillment/allocations/").status_code == 200
        assert service.post("/console/fulfillment/allocations/O1/retry").status_code == 403


class TestExcursions:
    def test_the_list_links_the_parcel_and_says_whether_a_decision_followed(
        self, supply: Client, committed: Committed
    ) -> None:
        # given a full-refund rule, and an excursion the rule set decided on
        aftersales_rule_create(
            spec={"name": "超温全额退", "trigger": "excursion", "action": "full_refund"},
            actor=SERVICE,
        )
        milk = make_sku(price_fen=2590, stock=5)
        shipment = make_parcel(paid_order(make_person(), (milk, 1)), (milk, 1, None))
        excursion_on(shipment.pk)
        with committed():
            publish(
                ExcursionDetected(
                    **event_fields(shipment),
                    excursion_id=1,
                    storage="chilled",
                    minutes=45,
                    peak_celsius=9.5,
                )
            )
        with committed():
            outbox_relay()
        # when
        page = supply.get("/console/fulfillment/excursions/").content.decode()
        # then
        assert f"/console/fulfillment/shipments/{shipment.shipment_no}" in page
        assert "已自动处理 · 全额退款" in page
        assert "9.5°C" in page

    def test_the_parcel_page_draws_the_temperature_with_the_shared_script(
        self, supply: Client
    ) -> None:
        # given a chilled parcel whose logger sent readings, 30 minutes of them too warm
        shipment = make_parcel_order(storage="chilled").shipment
        device, _ = device_create(code="LOG-V1", actor=SERVICE, shipment_id=shipment.pk)
        start = clock.now() - dt.timedelta(hours=3)
        readings_ingest(
            device=device,
            readings=[
                ReadingInput(
                    reading_id=f"r{minute}",
                    recorded_at=start + dt.timedelta(minutes=minute),
                    celsius=9.0 if 30 <= minute < 60 else 3.0,
                )
                for minute in range(0, 120, 5)
            ],
        )
        excursion_on(shipment.pk, minutes=30)
        # when
        response = supply.get(f"/console/fulfillment/shipments/{shipment.shipment_no}")
        # then
        html = response.content.decode()
        assert "fulfillment/temperature_chart.js" in html
        assert f'data-chart="{shipment.shipment_no}"' in html
        chart = response.context["parcel_charts"][shipment.shipment_no]
        assert (chart["low"], chart["high"]) == (0, 4)
        assert len(chart["points"]) == 24
        assert 'data-testid="shipment-excursions"' in html

    def test_the_order_page_uses_the_same_script(self) -> None:
        from pathlib import Path

        order_page = Path("src/freshloop/web/templates/web/h5/shop/order.html").read_text()
        assert "fulfillment/temperature_chart.js" in order_page
        assert "echarts.init" not in order_page  # one copy of the chart code


class TestOverview:
    def test_excursion_rate_is_a_kpi_and_a_chart(self, supply: Client) -> None:
        # given two delivered chilled parcels this week, one with an excursion
        bad = make_parcel_order(storage="chilled").shipment
        good = make_parcel_order(storage="chilled").shipment
        for shipment in (bad, good):
            shipment.status = ShipmentStatus.DELIVERED
            shipment.delivered_at = clock.now()
            shipment.save(update_fields=["status", "delivered_at"])
        excursion_on(bad.pk)
        # when
        response = supply.get("/console/fulfillment/")
        # then
        assert response.context["excursion_rate"] == 50.0
        assert response.context["chart"]["excursions"][-1]["rate"] == 0.5
        assert 'data-testid="excursion-chart"' in response.content.decode()


RULE = {"name": "超温全额退", "trigger": "excursion", "action": "full_refund", "is_active": "on"}


class TestRules:
    def test_a_rule_is_created_through_the_service(self, supply: Client) -> None:
        response = supply.post(
            "/console/fulfillment/rules/",
            {**RULE, "min_excursion_minutes": "30", "approval_above_fen": "5000"},
        )
        assert response.status_code == 302
        rule = AfterSalesRule.objects.get()
        assert (rule.trigger, rule.min_excursion_minutes, rule.approval_above_fen) == (
            "excursion",
            30,
            5000,
        )
        assert rule.is_active
        assert rule.priority == 100

    def test_every_wrong_field_is_shown_under_its_input(self, supply: Client) -> None:
        # when: no name, a word for a number, a partial refund with neither share nor amount
        response = supply.post(
            "/console/fulfillment/rules/",
            {"name": "", "trigger": "excursion", "action": "partial_refund", "priority": "abc"},
        )
        # then
        assert response.status_code == 422
        html = response.content.decode()
        assert 'data-testid="error-name"' in html
        assert "请填写规则名称" in html
        assert 'data-testid="error-priority"' in html
        assert "优先级必须是整数" in html
        assert 'data-testid="error-refund_percent"' in html
        assert 'value="abc"' in html  # what was typed stays
        assert AfterSalesRule.objects.count() == 0

    def test_edit_and_delete(self, supply: Client) -> None:
        rule = aftersales_rule_create(
            spec={k: v for k, v in RULE.items() if k != "is_active"}, actor=SERVICE
        )
        form = supply.get(f"/console/fulfillment/rules/?edit={rule.pk}").content.decode()
        assert f'name="rule_id" value="{rule.pk}"' in form
        supply.post(
            "/console/fulfillment/rules/",
            {**RULE, "rule_id": str(rule.pk), "name": "超温 30 分钟退", "priority": "5"},
        )
        rule.refresh_from_db()
        assert (rule.name, rule.priority) == ("超温 30 分钟退", 5)
        response = supply.post(f"/console/fulfillment/rules/{rule.pk}/delete")
        assert response.status_code == 302
        assert not AfterSalesRule.objects.exists()


class TestDecisions:
    def held_decision(self, committed: Committed) -> AutoDecision:
        aftersales_rule_create(
            spec={
                "name": "超温全额退",
                "trigger": "excursion",
                "action": "full_refund",
                "approval_above_fen": 1000,
            },
            actor=SERVICE,
        )
        milk = make_sku(price_fen=2590, stock=5)
        shipment = make_parcel(paid_order(make_person(), (milk, 1)), (milk, 1, None))
        with committed():
            publish(
                ExcursionDetected(
                    **event_fields(shipment),
                    excursion_id=1,
                    storage="chilled",
                    minutes=45,
                    peak_celsius=8.0,
                )
            )
        with committed():
            outbox_relay()
        return AutoDecision.objects.get(shipment=shipment)

    def test_a_held_decision_is_listed_filtered_and_approved(
        self, supply: Client, committed: Committed
    ) -> None:
        decision = self.held_decision(committed)
        assert decision.status == "pending_approval"
        page = supply.get("/console/fulfillment/decisions/?status=pending_approval")
        html = page.content.decode()
        assert 'data-testid="decision-approve"' in html
        assert decision.explanation in html
        assert (
            supply.get("/console/fulfillment/decisions/?status=executed").context["decisions"] == []
        )
        with committed():
            response = supply.post(f"/console/fulfillment/decisions/{decision.pk}/approve")
        assert response.status_code == 302
        decision.refresh_from_db()
        assert decision.status == "executed"

    def test_reject_and_a_second_verdict_is_a_message(
        self, supply: Client, committed: Committed
    ) -> None:
        decision = self.held_decision(committed)
        supply.post(f"/console/fulfillment/decisions/{decision.pk}/reject", {"note": "重复申请"})
        decision.refresh_from_db()
        assert decision.status == "rejected"
        again = supply.post(f"/console/fulfillment/decisions/{decision.pk}/approve")
        assert said(again)[-1].startswith("操作失败：")


class TestRecalls:
    def test_a_recall_is_created_by_batch_number_and_reported(
        self, supply: Client, committed: Committed
    ) -> None:
        # given a customer who received lot Y-1
        yogurt = make_sku(stock=10)
        lot = make_batch(yogurt, "Y-1")
        make_parcel(paid_order(make_person(), (yogurt, 1)), (yogurt, 1, lot))
        # when
        with committed():
            response = supply.post(
                "/console/fulfillment/recalls/", {"batch_no": "Y-1", "reason": "检出李斯特菌"}
            )
        # then
        assert response.status_code == 302
        assert Recall.objects.get().batch_id == lot.pk
        with committed():
            outbox_relay()
        page = supply.get("/console/fulfillment/recalls/")
        [report] = page.context["reports"]
        assert report.customers == 1
        assert "检出李斯特菌" in page.content.decode()

    def test_errors_are_shown_under_their_inputs(self, supply: Client) -> None:
        yogurt, cheese = make_sku(), make_sku()
        make_batch(yogurt, "DUP")
        make_batch(cheese, "DUP")
        missing = supply.post("/console/fulfillment/recalls/", {"batch_no": "NOPE", "reason": "x"})
        assert missing.status_code == 422
        assert 'data-testid="error-batch_no"' in missing.content.decode()
        twice = supply.post("/console/fulfillment/recalls/", {"batch_no": "DUP", "reason": "x"})
        assert 'data-testid="error-sku_code"' in twice.content.decode()
        no_reason = supply.post(
            "/console/fulfillment/recalls/",
            {"batch_no": "DUP", "sku_code": yogurt.code, "reason": " "},
        )
        assert no_reason.status_code == 422
        assert 'data-testid="error-reason"' in no_reason.content.decode()
        assert not Recall.objects.exists()


class TestRuleConditionsText:
    def test_reasons_by_their_labels_and_no_dangling_separator(self) -> None:
        # given a complaint rule on spoiled goods with a photo, up to ¥30
        rule = aftersales_rule_create(
            spec={
                "name": "变质有图自动退款",
                "trigger": "complaint",
                "action": "full_refund",
                "reasons": ["spoiled"],
                "requires_photo": True,
                "amount_max_fen": 3000,
            },
            actor=Actor.system("tests"),
        )
        # then its conditions read as the operator would say them
        assert rule_conditions_text(rule) == "原因 变质/异味；需照片；金额 ≤ ¥30.00"

    def test_a_rule_without_conditions_applies_always(self) -> None:
        rule = aftersales_rule_create(
            spec={"name": "超温全额退", "trigger": "excursion", "action": "full_refund"},
            actor=Actor.system("tests"),
        )
        assert rule_conditions_text(rule) == "任何情况"
