"""Automated after-sales (FF-3): rules WHEN/IF/THEN with limits and an approval step; every
decision stored, audited and explained to the buyer; one decision per trigger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.models import AuditLog
from freshloop.core.outbox import outbox_relay
from freshloop.fulfillment.aftersales_decisions import auto_decision_approve, auto_decision_reject
from freshloop.fulfillment.aftersales_rules import aftersales_rule_create
from freshloop.fulfillment.errors import AfterSalesRuleInvalid, DecisionNotPending
from freshloop.fulfillment.events import ExcursionDetected, ShipmentStatusChanged
from freshloop.fulfillment.models import AfterSalesRule, AutoDecision, ServiceTask, Shipment
from freshloop.fulfillment.selectors import auto_decisions_for_case
from freshloop.identity.models import Person
from freshloop.membership.models import MemberLevel
from freshloop.messaging.models import MarketingDispatch
from freshloop.orders.models import AfterSalesCase, RefundRequest
from freshloop.orders.services import aftersales_case_open
from freshloop.promotions.models import Coupon
from tests.factories import make_person, make_sku
from tests.fulfillment.factories import event_fields, make_parcel, paid_order
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

SERVICE = Actor(type="user", id="7", label="客服小林")
Committed = Callable[[], AbstractContextManager[Any]]


def rule(**fields: Any) -> AfterSalesRule:
    spec: dict[str, Any] = {
        "name": "冷链超温全额退",
        "trigger": "excursion",
        "action": "full_refund",
    }
    spec.update(fields)
    return aftersales_rule_create(spec=spec, actor=SERVICE)


def parcel(person: Person | None = None, price_fen: int = 2590, units: int = 1) -> Shipment:
    milk = make_sku(price_fen=price_fen, stock=50)
    order = paid_order(person or make_person(), (milk, units))
    return make_parcel(order, (milk, units, None))


def excursion(shipment: Shipment, committed: Committed, minutes: int = 45, number: int = 1) -> None:
    with committed():
        publish(
            ExcursionDetected(
                **event_fields(shipment),
                excursion_id=number,
                storage="chilled",
                minutes=minutes,
                peak_celsius=9.5,
            )
        )
    with committed():
        outbox_relay()  # excursions are decided on the worker


def decision_of(shipment: Shipment) -> AutoDecision:
    return AutoDecision.objects.get(shipment=shipment)


def messages_to(person_id: int) -> list[str]:
    return [
        str(dispatch.outbox_message.payload["body"])
        for dispatch in MarketingDispatch.objects.filter(
            person_id=person_id, purpose="aftersales_decision"
        ).order_by("id")
        if dispatch.outbox_message is not None
    ]


class TestRuleCreate:
    def test_a_rule_is_configured_without_code(self) -> None:
        # given a partial refund rule for spoiled goods with a photo, for small amounts
        created = rule(
            name="变质小额赔付",
            trigger="complaint",
            reasons=["spoiled"],
            requires_photo=True,
            amount_max_fen=5000,
            action="partial_refund",
            refund_percent=50,
        )
        # then it is stored as written
        assert (created.reasons, created.requires_photo, created.refund_percent) == (
            ["spoiled"],
            True,
            50,
        )

    def test_every_wrong_field_is_named(self) -> None:
        # when a rule is written with several mistakes
        with pytest.raises(AfterSalesRuleInvalid) as caught:
            rule(
                name="",
                trigger="excursion",
                reasons=["spoiled"],
                amount_min_fen=500,
                amount_max_fen=100,
                action="partial_refund",
            )
        # then each is reported against its field, in Chinese
        fields = {problem["field"]: problem["message"] for problem in caught.value.detail}
        assert set(fields) == {"name", "reasons", "amount_max_fen", "refund_percent"}
        assert fields["refund_percent"] == "部分退款请填写退款比例或退款金额（二选一）"

    def test_a_coupon_rule_needs_an_existing_template(self) -> None:
        with pytest.raises(AfterSalesRuleInvalid) as caught:
            rule(action="coupon", coupon_template_id=999999)
        assert caught.value.detail == [{"field": "coupon_template_id", "message": "补偿券不存在"}]


class TestExcursion:
    def test_an_excursion_is_refunded_and_explained(self, committed: Committed) -> None:
        # given a full-refund rule for excursions and a delivered chilled parcel of ¥25.90
        rule()
        shipment = parcel()
        # when the parcel's temperature left 0–4 ℃ for 45 minutes
        excursion(shipment, committed)
        # then the units are refunded through the orders module and the buyer is told why
        decision = decision_of(shipment)
        assert decision.status == "executed"
        assert decision.explanation == "因运输途中温度超出 0–4℃ 达 45 分钟，已为您自动退款 ¥25.90"
        refund = RefundRequest.objects.get(refund_no=decision.refund_no)
        assert (refund.amount_fen, refund.order_id) == (2590, shipment.order_id)
        assert refund.status in {"approved", "refunded"}
        assert messages_to(shipment.order.person_id) == [decision.explanation]
        # and the decision keeps what it saw and is audited
        assert decision.inputs["excursion_minutes"] == 45
        assert decision.inputs["amount_fen"] == 2590
        assert AuditLog.objects.filter(action="fulfillment.aftersales_decide").count() == 1

    def test_a_repeated_event_decides_once(self, committed: Committed) -> None:
        # given a parcel already compensated for an excursion
        rule()
        shipment = parcel()
        excursion(shipment, committed)
        # when the event is delivered again, and a second excursion on the parcel follows
        excursion(shipment, committed)
        excursion(shipment, committed, number=2)
        # then there is still one decision and one refund
        assert AutoDecision.objects.filter(shipment=shipment).count() == 1
        assert RefundRequest.objects.filter(order=shipment.order).count() == 1

    def test_a_short_excursion_matches_no_rule_and_goes_to_customer_service(
        self, committed: Committed
    ) -> None:
        # given a rule for excursions of at least 30 minutes
        rule(min_excursion_minutes=30)
        shipment = parcel()
        # when the excursion lasted 10 minutes
        excursion(shipment, committed, minutes=10)
        # then nothing is paid; customer service gets a task and the buyer is told so
        decision = decision_of(shipment)
        assert (decision.status, decision.rule) == ("manual", None)
        assert ServiceTask.objects.filter(decision=decision).count() == 1
        assert not RefundRequest.objects.filter(order=shipment.order).exists()
        assert messages_to(shipment.order.person_id) == [
            "因运输途中温度超出 0–4℃ 达 10 分钟，客服将尽快联系您处理"
        ]

    def test_the_first_rule_by_priority_decides(self, committed: Committed) -> None:
        # given a coupon rule at priority 10 and a refund rule at priority 5
        template = coupon_template("sorry5")
        rule(name="补券", priority=10, action="coupon", coupon_template_id=template.pk)
        rule(name="退半", priority=5, action="partial_refund", refund_percent=50)
        shipment = parcel()
        # when an excursion happens
        excursion(shipment, committed)
        # then the priority-5 rule decided: half the units' value back
        decision = decision_of(shipment)
        assert decision.rule is not None
        assert decision.rule.name == "退半"
        assert decision.amount_fen == 1295


class TestLimits:
    def test_a_customer_over_the_limit_waits_for_approval(self, committed: Committed) -> None:
        # given a rule allowing one automatic decision per customer in 30 days
        rule(customer_limit_count=1, customer_limit_days=30)
        buyer = make_person()
        first, second = parcel(buyer), parcel(buyer)
        other = parcel()
        # when the same customer has two excursions, and another customer one
        excursion(first, committed)
        excursion(second, committed)
        excursion(other, committed)
        # then the customer's second waits for an operator; the other customer is served
        assert decision_of(first).status == "executed"
        held = decision_of(second)
        assert held.status == "pending_approval"
        assert not held.refund_no
        assert held.explanation.endswith("已提交审核，处理结果将另行通知")
        assert decision_of(other).status == "executed"

    def test_the_daily_amount_limit_holds_the_rest_of_the_day(self, committed: Committed) -> None:
        # given at most ¥50 refunded automatically per day
        rule(daily_limit_fen=5000)
        parcels = [parcel(price_fen=2000) for _ in range(3)]
        # when three ¥20 excursions come in on one day
        for shipment in parcels:
            excursion(shipment, committed)
        # then the third would pass ¥50 and waits; the next day it would run again
        assert [decision_of(s).status for s in parcels] == [
            "executed",
            "executed",
            "pending_approval",
        ]
        with clock.frozen(clock.now() + dt.timedelta(days=1)):
            tomorrow = parcel(price_fen=2000)
            excursion(tomorrow, committed)
        assert decision_of(tomorrow).status == "executed"

    def test_above_the_threshold_an_operator_approves(self, committed: Committed) -> None:
        # given approval needed above ¥100 and a ¥150 parcel with an excursion
        rule(approval_above_fen=10000)
        shipment = parcel(price_fen=15000)
        excursion(shipment, committed)
        held = decision_of(shipment)
        assert held.status == "pending_approval"
        # when customer service approves it
        with committed():
            approved = auto_decision_approve(decision_id=held.pk, actor=SERVICE)
        # then the refund runs, the approver is recorded, the buyer told
        assert approved.status == "executed"
        assert approved.decided_by == "客服小林"
        assert RefundRequest.objects.get(refund_no=approved.refund_no).amount_fen == 15000
        assert messages_to(shipment.order.person_id)[-1].endswith("已为您自动退款 ¥150.00")
        # and it cannot be approved twice
        with pytest.raises(DecisionNotPending):
            auto_decision_approve(decision_id=held.pk, actor=SERVICE)

    def test_a_rejected_decision_pays_nothing_and_says_why(self, committed: Committed) -> None:
        rule(approval_above_fen=0)
        shipment = parcel()
        excursion(shipment, committed)
        held = decision_of(shipment)
        with committed():
            rejected = auto_decision_reject(
                decision_id=held.pk, actor=SERVICE, note="温度记录仪故障"
            )
        assert rejected.status == "rejected"
        assert not RefundRequest.objects.filter(order=shipment.order).exists()
        assert (
            messages_to(shipment.order.person_id)[-1] == "经审核，本次不予自动补偿：温度记录仪故障"
        )


class TestLateDelivery:
    def _deliver_late(self, committed: Committed, hours: int) -> Shipment:
        milk = make_sku(price_fen=3000, stock=10)
        order = paid_order(make_person(), (milk, 1))
        promised = dt.date(2026, 12, 1)
        end_of_promise = dt.datetime(2026, 12, 2, tzinfo=clock.SHANGHAI)
        shipment = make_parcel(
            order,
            (milk, 1, None),
            promised_on=promised,
            delivered_at=end_of_promise + dt.timedelta(hours=hours),
        )
        with committed():
            publish(
                ShipmentStatusChanged(
                    **event_fields(shipment),
                    status="delivered",
                    previous_status="out_for_delivery",
                    late=True,
                )
            )
        with committed():
            outbox_relay()
        return shipment

    def test_late_beyond_the_promise_earns_a_coupon(self, committed: Committed) -> None:
        # given a coupon for parcels at least 24 hours late
        template = coupon_template("late10")
        rule(
            name="超时补券",
            trigger="late_delivery",
            min_late_hours=24,
            action="coupon",
            coupon_template_id=template.pk,
        )
        # when a parcel arrives 30 hours after its promised day
        shipment = self._deliver_late(committed, 30)
        # then the buyer gets the coupon and the reason
        decision = decision_of(shipment)
        assert decision.inputs["late_hours"] == 30
        assert decision.status == "executed"
        assert decision.coupon_id is not None
        coupon = Coupon.objects.get(pk=decision.coupon_id)
        assert coupon.person_id == shipment.order.person_id
        assert decision.explanation == "因包裹比承诺时间晚 30 小时送达，已为您发放补偿券“满99减20”"

    def test_a_little_late_is_not_enough(self, committed: Committed) -> None:
        template = coupon_template("late10")
        rule(
            trigger="late_delivery",
            min_late_hours=24,
            action="coupon",
            coupon_template_id=template.pk,
        )
        shipment = self._deliver_late(committed, 5)
        assert decision_of(shipment).status == "manual"
        assert not Coupon.objects.filter(person_id=shipment.order.person_id).exists()


class TestComplaint:
    def _open(self, committed: Committed, reason: str = "damaged") -> AfterSalesCase:
        buyer = make_person()
        milk = make_sku(price_fen=3000, stock=10)
        order = paid_order(buyer, (milk, 2))
        with committed():
            return aftersales_case_open(
                person=buyer,
                order_no=order.order_no,
                kind="refund_only",
                reason=reason,
                description="盒子压扁",
                lines=[{"line_id": order.lines.get().pk, "quantity": 1}],
            )

    def test_a_damaged_case_is_approved_on_the_case_itself(self, committed: Committed) -> None:
        # given a full refund rule for damaged goods up to ¥50
        rule(trigger="complaint", reasons=["damaged"], amount_max_fen=5000)
        # when a buyer opens a case for one damaged ¥30 unit
        case = self._open(committed)
        # then the case itself is approved with its refund: one record, no second case
        case.refresh_from_db()
        assert case.status == "approved"
        assert case.refund is not None
        assert case.refund.amount_fen == 3000
        decisions = auto_decisions_for_case(case_id=case.pk)
        assert [d.explanation for d in decisions] == [
            "您反馈的“商品破损”问题，已为您自动退款 ¥30.00"
        ]

    def test_a_rule_requiring_a_photo_skips_a_case_without_one(self, committed: Committed) -> None:
        rule(trigger="complaint", reasons=["damaged"], requires_photo=True)
        case = self._open(committed)
        case.refresh_from_db()
        assert case.status == "submitted"
        assert auto_decisions_for_case(case_id=case.pk)[0].status == "manual"
        # a complaint with no rule is left to customer service without a message
        assert messages_to(case.person_id) == []

    def test_claim_history_limits_the_rule(self, committed: Committed) -> None:
        # given a rule only for customers with no earlier claim in 30 days
        rule(trigger="complaint", max_recent_claims=0, claims_window_days=30)
        # when a first-time claimant opens a case, it is refunded
        case = self._open(committed)
        case.refresh_from_db()
        assert case.status == "approved"
        assert auto_decisions_for_case(case_id=case.pk)[0].inputs["recent_claims"] == {"30": 0}
        # when the same buyer claims again on another order, the rule no longer matches
        milk = make_sku(price_fen=3000, stock=10)
        order = paid_order(case.person, (milk, 1))
        with committed():
            again = aftersales_case_open(
                person=case.person,
                order_no=order.order_no,
                kind="refund_only",
                reason="damaged",
                description="又压扁了",
                lines=[{"line_id": order.lines.get().pk, "quantity": 1}],
            )
        decision = auto_decisions_for_case(case_id=again.pk)[0]
        assert (decision.status, decision.inputs["recent_claims"]) == ("manual", {"30": 1})

    def test_a_member_level_condition(self, committed: Committed) -> None:
        # given a rule only for the top member level
        levels = list(MemberLevel.objects.order_by("min_lifetime_spend_fen"))
        assert len(levels) >= 2
        rule(trigger="complaint", member_levels=[levels[-1].code])
        # when a new customer (lowest level) opens a case, the rule does not apply
        case = self._open(committed)
        decision = auto_decisions_for_case(case_id=case.pk)[0]
        assert decision.inputs["member_level"] != levels[-1].code
        assert decision.status == "manual"
