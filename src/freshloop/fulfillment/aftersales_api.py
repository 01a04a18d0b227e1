"""Console API of automated after-sales and recalls (customer service, supply chain)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Path, Router, Schema, Status
from pydantic import Field

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.permissions import Role
from freshloop.core.schemas import MAX_ID, InputSchema
from freshloop.fulfillment import aftersales_decisions, aftersales_rules, recall
from freshloop.fulfillment.errors import (
    AfterSalesRuleInvalid,
    AfterSalesRuleNotFound,
    DecisionNotFound,
    DecisionNotPending,
    RecallExists,
    RecallInvalid,
    RecallNotFound,
)
from freshloop.fulfillment.models import AfterSalesRule, AutoDecision, DecisionStatus

AFTERSALES_ROLES = (Role.CUSTOMER_SERVICE,)
RECALL_ROLES = (Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE)

router = Router(tags=["履约：自动售后与召回"])

RuleId = Path(..., title="规则编号", ge=1, le=MAX_ID)
DecisionId = Path(..., title="决策编号", ge=1, le=MAX_ID)
RecallId = Path(..., title="召回编号", ge=1, le=MAX_ID)


class AfterSalesRuleIn(InputSchema):
    name: str = Field(..., title="规则名称", max_length=64)
    priority: int = Field(100, title="优先级（越小越先匹配）", ge=0, le=100_000)
    is_active: bool = Field(True, title="是否启用")
    trigger: str = Field(
        ..., title="触发条件（顾客售后、温度超标、超时送达、批次召回）", max_length=16
    )
    reasons: list[str] = Field(default_factory=list, title="售后原因（空 = 任意）", max_length=10)
    requires_photo: bool = Field(False, title="需要照片")
    min_late_hours: int = Field(0, title="超时至少（小时）", ge=0, le=720)
    min_excursion_minutes: int = Field(0, title="超温至少（分钟）", ge=0, le=10080)
    amount_min_fen: int | None = Field(None, title="金额下限（分）", ge=0, le=100_000_000)
    amount_max_fen: int | None = Field(None, title="金额上限（分）", ge=0, le=100_000_000)
    member_levels: list[str] = Field(default_factory=list, title="会员等级代码", max_length=20)
    max_recent_claims: int | None = Field(None, title="近期售后次数上限", ge=0, le=1000)
    claims_window_days: int = Field(30, title="售后次数统计天数", ge=1, le=366)
    action: str = Field(
        ..., title="处理动作（全额退款、部分退款、补发、补偿券、转客服）", max_length=16
    )
    refund_percent: int | None = Field(None, title="退款比例（%）", ge=1, le=100)
    refund_fen: int | None = Field(None, title="退款金额（分）", ge=1, le=100_000_000)
    coupon_template_id: int | None = Field(None, title="补偿券模板编号", ge=1, le=MAX_ID)
    approval_above_fen: int | None = Field(
        None, title="超过此金额需审批（分）", ge=0, le=100_000_000
    )
    customer_limit_count: int | None = Field(
        None, title="每位顾客自动处理上限（次）", ge=1, le=1000
    )
    customer_limit_days: int = Field(30, title="顾客上限周期（天）", ge=1, le=366)
    daily_limit_fen: int | None = Field(
        None, title="每日自动退款上限（分）", ge=1, le=1_000_000_000
    )


class AfterSalesRuleOut(Schema):
    id: int
    name: str
    priority: int
    is_active: bool
    trigger: str
    reasons: list[str]
    requires_photo: bool
    min_late_hours: int
    min_excursion_minutes: int
    amount_min_fen: int | None
    amount_max_fen: int | None
    member_levels: list[str]
    max_recent_claims: int | None
    claims_window_days: int
    action: str
    refund_percent: int | None
    refund_fen: int | None
    coupon_template_id: int | None
    approval_above_fen: int | None
    customer_limit_count: int | None
    customer_limit_days: int
    daily_limit_fen: int | None


class AfterSalesRuleListOut(Schema):
    items: list[AfterSalesRuleOut]


class AutoDecisionOut(Schema):
    id: int
    trigger: str
    trigger_key: str
    rule_id: int | None
    order_no: str
    case_no: str
    shipment_no: str
    action: str
    amount_fen: int
    status: str
    status_label: str
    explanation: str
    refund_no: str
    inputs: dict[str, object]
    decided_by: str
    created_at: dt.datetime


class AutoDecisionListOut(Schema):
    items: list[AutoDecisionOut]


class AutoDecisionRejectIn(InputSchema):
    note: str = Field(..., title="驳回说明（顾客可见）", min_length=1, max_length=200)


class RecallCreateIn(InputSchema):
    batch_id: int = Field(..., title="批次编号", ge=1, le=MAX_ID)
    reason: str = Field(..., title="召回原因", min_length=1, max_length=200)


class RecallReportOut(Schema):
    id: int
    batch_id: int
    reason: str
    processed: bool
    parcels: int
    customers: int
    units: int
    refunds: int
    refunded_fen: int
    pending_approval: int
    handed_to_service: int
    blocked_units: int
    blocked_stock: list[dict[str, object]]


def _rule_out(rule: AfterSalesRule) -> AfterSalesRuleOut:
    return AfterSalesRuleOut(
        **{name: getattr(rule, name) for name in AfterSalesRuleOut.model_fields if name != "id"},
        id=rule.pk,
    )


def _decision_out(decision: AutoDecision) -> AutoDecisionOut:
    return AutoDecisionOut(
        id=decision.pk,
        trigger=decision.trigger,
        trigger_key=decision.trigger_key,
        rule_id=decision.rule_id,
        order_no=decision.order.order_no,
        case_no=decision.case.case_no if decision.case else "",
        shipment_no=decision.shipment.shipment_no if decision.shipment else "",
        action=decision.action,
        amount_fen=decision.amount_fen,
        status=decision.status,
        status_label=decision.get_status_display(),
        explanation=decision.explanation,
        refund_no=decision.refund_no,
        inputs=decision.inputs,
        decided_by=decision.decided_by,
        created_at=decision.created_at,
    )


@router.get(
    "/aftersales/rules",
    auth=OperatorAuth(*AFTERSALES_ROLES),
    response=AfterSalesRuleListOut,
    summary="售后自动规则（按优先级）",
)
def rules_list(request: HttpRequest) -> AfterSalesRuleListOut:
    return AfterSalesRuleListOut(items=[_rule_out(rule) for rule in AfterSalesRule.objects.all()])


@router.post(
    "/aftersales/rules",
    auth=OperatorAuth(*AFTERSALES_ROLES),
    response={201: AfterSalesRuleOut},
    summary="新建售后自动规则",
)
@raises(AfterSalesRuleInvalid)
def rules_create(request: HttpRequest, body: AfterSalesRuleIn) -> Status[AfterSalesRuleOut]:
    rule = aftersales_rules.aftersales_rule_create(
        spec=body.model_dump(), actor=request_actor(request)
    )
    return Status(201, _rule_out(rule))


@router.put(
    "/aftersales/rules/{rule_id}",
    auth=OperatorAuth(*AFTERSALES_ROLES),
    response=AfterSalesRuleOut,
    summary="修改售后自动规则（整条替换）",
)
@raises(AfterSalesRuleInvalid, AfterSalesRuleNotFound)
def rules_update(
    request: HttpRequest, body: AfterSalesRuleIn, rule_id: int = RuleId
) -> AfterSalesRuleOut:
    rule = aftersales_rules.aftersales_rule_update(
        rule_id=rule_id, spec=body.model_dump(), actor=request_actor(request)
    )
    return _rule_out(rule)


@router.delete(
    "/aftersales/rules/{rule_id}",
    auth=OperatorAuth(*AFTERSALES_ROLES),
    response={204: None},
    summary="删除售后自动规则",
)
@raises(AfterSalesRuleNotFound)
def rules_delete(request: HttpRequest, rule_id: int = RuleId) -> Status[None]:
    aftersales_rules.aftersales_rule_delete(rule_id=rule_id, actor=request_actor(request))
    return Status(204, None)


@router.get(
    "/aftersales/decisions",
    auth=OperatorAuth(*AFTERSALES_ROLES),
    response=AutoDecisionListOut,
    summary="售后自动决策（新的在前，可按状态、订单筛选）",
)
def decisions_list(
    request: HttpRequest, status: str = "", order_no: str = "", limit: int = 50
) -> AutoDecisionListOut:
    decisions = AutoDecision.objects.select_related("order", "case", "shipment")
    if status in DecisionStatus.values:
        decisions = decisions.filter(status=status)
    if order_no:
        decisions = decisions.filter(order__order_no=order_no[:40])
    chosen = decisions.order_by("-id")[: max(1, min(limit, 200))]
    return AutoDecisionListOut(items=[_decision_out(decision) for decision in chosen])


@router.post(
    "/aftersales/decisions/{decision_id}/approve",
    auth=OperatorAuth(*AFTERSALES_ROLES),
    response=AutoDecisionOut,
    summary="审批通过：执行规则动作",
)
@raises(DecisionNotFound, DecisionNotPending)
def decisions_approve(request: HttpRequest, decision_id: int = DecisionId) -> AutoDecisionOut:
    decision = aftersales_decisions.auto_decision_approve(
        decision_id=decision_id, actor=request_actor(request)
    )
    return _decision_out(decision)


@router.post(
    "/aftersales/decisions/{decision_id}/reject",
    auth=OperatorAuth(*AFTERSALES_ROLES),
    response=AutoDecisionOut,
    summary="审批驳回（说明发给顾客）",
)
@raises(DecisionNotFound, DecisionNotPending)
def decisions_reject(
    request: HttpRequest, body: AutoDecisionRejectIn, decision_id: int = DecisionId
) -> AutoDecisionOut:
    decision = aftersales_decisions.auto_decision_reject(
        decision_id=decision_id, actor=request_actor(request), note=body.note
    )
    return _decision_out(decision)


def _report_out(report: recall.RecallReport) -> RecallReportOut:
    item = report.recall
    return RecallReportOut(
        id=item.pk,
        batch_id=item.batch_id,
        reason=item.reason,
        processed=item.processed,
        parcels=report.parcels,
        customers=report.customers,
        units=report.units,
        refunds=report.refunds,
        refunded_fen=report.refunded_fen,
        pending_approval=report.pending_approval,
        handed_to_service=report.handed_to_service,
        blocked_units=report.blocked_units,
        blocked_stock=item.blocked_stock,
    )


@router.post(
    "/recalls",
    auth=OperatorAuth(*RECALL_ROLES),
    response={201: RecallReportOut},
    summary="召回批次：找到收到该批次的顾客并按售后规则处理",
)
@raises(RecallInvalid, RecallExists, RecallNotFound)
def recalls_create(request: HttpRequest, body: RecallCreateIn) -> Status[RecallReportOut]:
    created = recall.recall_create(
        batch_id=body.batch_id, reason=body.reason, actor=request_actor(request)
    )
    return Status(201, _report_out(recall.recall_report(recall_id=created.pk)))


@router.get(
    "/recalls/{recall_id}",
    auth=OperatorAuth(*RECALL_ROLES),
    response=RecallReportOut,
    summary="召回报告：触达顾客、退款笔数与金额",
)
@raises(RecallNotFound)
def recalls_report(request: HttpRequest, recall_id: int = RecallId) -> RecallReportOut:
    return _report_out(recall.recall_report(recall_id=recall_id))


# --- the buyer's view: why they were refunded, compensated or asked to wait ------------------

from freshloop.identity.auth import ConsumerAuth, request_person  # noqa: E402
from freshloop.orders.errors import OrderNotFound  # noqa: E402
from freshloop.orders.selectors import order_get_for_person  # noqa: E402


class BuyerDecisionOut(Schema):
    trigger: str
    trigger_label: str
    status: str
    status_label: str
    explanation: str
    amount_fen: int
    case_no: str
    shipment_no: str
    created_at: dt.datetime


class BuyerDecisionListOut(Schema):
    items: list[BuyerDecisionOut]


@router.get(
    "/orders/{order_no}/aftersales-decisions",
    auth=ConsumerAuth(),
    response=BuyerDecisionListOut,
    summary="我的订单的自动售后处理（说明与状态）",
)
@raises(OrderNotFound)
def buyer_decisions(request: HttpRequest, order_no: str) -> BuyerDecisionListOut:
    order = order_get_for_person(person=request_person(request), order_no=order_no[:40])
    decisions = (
        AutoDecision.objects.filter(order=order).select_related("case", "shipment").order_by("id")
    )
    return BuyerDecisionListOut(
        items=[
            BuyerDecisionOut(
                trigger=decision.trigger,
                trigger_label=decision.get_trigger_display(),
                status=decision.status,
                status_label=decision.get_status_display(),
                explanation=decision.explanation,
                amount_fen=decision.amount_fen,
                case_no=decision.case.case_no if decision.case else "",
                shipment_no=decision.shipment.shipment_no if decision.shipment else "",
                created_at=decision.created_at,
            )
            for decision in decisions
        ]
    )
