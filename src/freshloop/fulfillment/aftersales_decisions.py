"""Automatic after-sales decisions: a claim (a buyer's case, an excursion, a late parcel, a
recalled lot) meets the rule set; the first matching rule's action runs — or waits for an
operator when a limit or the approval threshold says so — and the decision is stored, audited
and explained to the buyer through the messaging outbox.

One decision per trigger key (`complaint:<case_no>`, `excursion:<shipment_id>`,
`late:<shipment_id>`, `recall:<recall_id>:<shipment_id>`): a replayed event finds the first.
Refunds go through the orders module's own services on its own records — a case is approved
(`aftersales_case_approve`), otherwise a refund request is created and approved — so there is
one after-sales record, never a second case system.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.core.money import allocate, format_fen
from freshloop.fulfillment.aftersales_rules import rule_first_match, rule_windows
from freshloop.fulfillment.errors import DecisionNotFound, DecisionNotPending
from freshloop.fulfillment.locks import aftersales_rule_lock, auto_decision_lock
from freshloop.fulfillment.models import (
    AfterSalesAction,
    AfterSalesRule,
    AfterSalesTrigger,
    AutoDecision,
    DecisionStatus,
    Recall,
    ServiceTask,
    Shipment,
)
from freshloop.membership.models import Membership
from freshloop.membership.services import member_levels
from freshloop.messaging.services import transactional_send
from freshloop.orders.models import AfterSalesCase, AfterSalesStatus, Order, RefundStatus
from freshloop.orders.services import (
    aftersales_case_approve,
    order_refund_request,
    refund_request_approve,
)
from freshloop.promotions.services import coupon_issue

logger = logging.getLogger(__name__)
SYSTEM = Actor.system("fulfillment.aftersales")
REFUND_ACTIONS = frozenset({AfterSalesAction.FULL_REFUND, AfterSalesAction.PARTIAL_REFUND})
SAFE_BANDS = {"chilled": "0–4℃", "frozen": "−18℃ 及以下", "ambient": "常温范围"}
MESSAGE_CHANNEL = "in_app"


@dataclasses.dataclass(frozen=True)
class Claim:
    """What a trigger asks about: which units of which order, and the facts rules read."""

    trigger: str
    key: str
    order: Order
    units: list[dict[str, int]]
    """[{line_id, quantity}]: the units concerned (capped at what is still refundable)."""
    case: AfterSalesCase | None = None
    shipment: Shipment | None = None
    recall: Recall | None = None
    reason: str = ""
    reason_label: str = ""
    has_photo: bool = False
    late_hours: int = 0
    excursion_minutes: int = 0
    peak_celsius: float | None = None
    storage: str = ""
    lot_label: str = ""


def units_value(order: Order, units: list[dict[str, int]]) -> int:
    """What the units cost the buyer after discounts (each unit's share of its line, the next
    unrefunded ones — the same arithmetic the orders module refunds by)."""
    by_id = {line.pk: line for line in order.lines.all()}
    total = 0
    for item in units:
        line = by_id[item["line_id"]]
        shares = allocate(line.total_fen, [1] * line.quantity)
        start = line.refunded_quantity
        total += sum(shares[start : start + item["quantity"]])
    return total


def refundable_units(order: Order, wanted: dict[int, int]) -> list[dict[str, int]]:
    """`wanted` units per order line, each capped at what has not been refunded yet."""
    by_id = {line.pk: line for line in order.lines.all()}
    units = []
    for line_id, quantity in sorted(wanted.items()):
        line = by_id.get(line_id)
        if line is None:
            continue
        left = min(quantity, line.quantity - line.refunded_quantity)
        if left > 0:
            units.append({"line_id": line_id, "quantity": left})
    return units


def _member_level(person_id: int) -> str:
    membership = Membership.objects.filter(person_id=person_id).select_related("level").first()
    if membership is not None:
        return membership.level.code
    levels = member_levels()
    return levels[0].code if levels else ""


def _recent_claims(claim: Claim, now: dt.datetime) -> dict[str, int]:
    """Per window (days) the rules use: the buyer's earlier cases plus automatic decisions
    that were not about a case (excursions, late parcels, recalls)."""
    counts = {}
    person_id = claim.order.person_id
    for days in rule_windows():
        since = now - dt.timedelta(days=days)
        cases = AfterSalesCase.objects.filter(person_id=person_id, created_at__gte=since)
        if claim.case is not None:
            cases = cases.exclude(pk=claim.case.pk)
        others = AutoDecision.objects.filter(
            person_id=person_id,
            case__isnull=True,
            created_at__gte=since,
            status__in=[DecisionStatus.EXECUTED, DecisionStatus.PENDING_APPROVAL],
        )
        counts[str(days)] = cases.count() + others.count()
    return counts


def claim_facts(claim: Claim, now: dt.datetime) -> dict[str, Any]:
    """The inputs snapshot stored with the decision: everything a rule may read."""
    return {
        "trigger": claim.trigger,
        "order_no": claim.order.order_no,
        "case_no": claim.case.case_no if claim.case else "",
        "shipment_no": claim.shipment.shipment_no if claim.shipment else "",
        "units": claim.units,
        "amount_fen": units_value(claim.order, claim.units) if claim.units else 0,
        "reason": claim.reason,
        "has_photo": claim.has_photo,
        "late_hours": claim.late_hours,
        "excursion_minutes": claim.excursion_minutes,
        "peak_celsius": claim.peak_celsius,
        "storage": claim.storage,
        "lot_label": claim.lot_label,
        "member_level": _member_level(claim.order.person_id),
        "recent_claims": _recent_claims(claim, now),
    }


def _cause(claim: Claim) -> str:
    if claim.trigger == AfterSalesTrigger.EXCURSION:
        band = SAFE_BANDS.get(claim.storage, "规定范围")
        return f"因运输途中温度超出 {band} 达 {claim.excursion_minutes} 分钟"
    if claim.trigger == AfterSalesTrigger.LATE_DELIVERY:
        return f"因包裹比承诺时间晚 {claim.late_hours} 小时送达"
    if claim.trigger == AfterSalesTrigger.LOT_RECALLED:
        reason = claim.recall.reason if claim.recall else ""
        return f"因您收到的{claim.lot_label}已被召回（{reason}）"
    return f"您反馈的“{claim.reason_label}”问题"


def _amount_for(rule: AfterSalesRule, worth_fen: int) -> int:
    if rule.action == AfterSalesAction.FULL_REFUND:
        return worth_fen
    if rule.action == AfterSalesAction.PARTIAL_REFUND:
        if rule.refund_percent is not None:
            return worth_fen * rule.refund_percent // 100
        return min(rule.refund_fen or 0, worth_fen)
    return 0


def _shanghai_day_start(now: dt.datetime) -> dt.datetime:
    local = clock.to_shanghai(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _hold_reason(rule: AfterSalesRule, person_id: int, amount: int, now: dt.datetime) -> str:
    """Why the decision must wait for an operator ('' when it may run at once)."""
    if rule.customer_limit_count is not None:
        since = now - dt.timedelta(days=rule.customer_limit_days)
        done = AutoDecision.objects.filter(
            person_id=person_id,
            status=DecisionStatus.EXECUTED,
            decided_by="",
            created_at__gte=since,
        ).count()
        if done >= rule.customer_limit_count:
            return f"该顾客 {rule.customer_limit_days} 天内已自动处理 {done} 次，达到上限"
    if amount and rule.daily_limit_fen is not None:
        today = (
            AutoDecision.objects.filter(
                status=DecisionStatus.EXECUTED,
                decided_by="",
                action__in=REFUND_ACTIONS,
                created_at__gte=_shanghai_day_start(now),
            ).aggregate(total=Sum("amount_fen"))["total"]
            or 0
        )
        if today + amount > rule.daily_limit_fen:
            return f"今日自动退款已达 {format_fen(today)}，超过每日上限"
    if rule.approval_above_fen is not None and amount > rule.approval_above_fen:
        return f"金额 {format_fen(amount)} 超过 {format_fen(rule.approval_above_fen)}，需人工审批"
    return ""


@transaction.atomic
def aftersales_evaluate(*, claim: Claim) -> AutoDecision:
    """Decide a claim by the rule set; idempotent by `claim.key`."""
    existing = AutoDecision.objects.filter(trigger_key=claim.key).first()
    if existing is not None:
        return existing
    now = clock.now()
    facts = claim_facts(claim, now)
    rule = rule_first_match(facts)
    decision = AutoDecision(
        trigger=claim.trigger,
        trigger_key=claim.key,
        rule=rule,
        person_id=claim.order.person_id,
        order=claim.order,
        case=claim.case,
        shipment=claim.shipment,
        recall=claim.recall,
        inputs=facts,
        refund_lines=claim.units,
        created_at=now,
    )
    hold = ""
    if rule is None:
        decision.status = DecisionStatus.MANUAL
        decision.explanation = f"{_cause(claim)}，客服将尽快联系您处理"
    else:
        aftersales_rule_lock(rule.pk)  # limits are counted one decision at a time per rule
        decision.action = rule.action
        decision.amount_fen = _amount_for(rule, facts["amount_fen"])
        hold = _hold_reason(rule, claim.order.person_id, decision.amount_fen, now)
        decision.status = DecisionStatus.PENDING_APPROVAL if hold else DecisionStatus.EXECUTED
        decision.explanation = f"{_cause(claim)}，已提交审核，处理结果将另行通知" if hold else ""
    try:
        with transaction.atomic():
            decision.explanation = decision.explanation or "执行中"
            decision.save()
    except IntegrityError:  # the same trigger decided concurrently: theirs stands
        return AutoDecision.objects.get(trigger_key=claim.key)
    if rule is None:
        _task(decision, f"{_cause(claim)}：没有匹配的自动规则，请人工处理")
    elif not hold:
        _execute(decision, rule, claim, SYSTEM)
    audit_record(
        actor=SYSTEM,
        action="fulfillment.aftersales_decide",
        target=decision,
        after={
            "trigger_key": decision.trigger_key,
            "rule": rule.pk if rule else None,
            "status": decision.status,
            "action": decision.action,
            "amount_fen": decision.amount_fen,
            "hold": hold,
            "explanation": decision.explanation,
        },
    )
    if decision.status != DecisionStatus.MANUAL or claim.trigger != AfterSalesTrigger.COMPLAINT:
        _tell(decision)
    return decision


def _execute(decision: AutoDecision, rule: AfterSalesRule, claim: Claim, actor: Actor) -> None:
    """Run the rule's action; a refusal by the orders or promotions module (an order already
    waiting on another refund, a coupon sold out) hands the claim to customer service."""
    cause = _cause(claim)
    try:
        with transaction.atomic():
            outcome = _act(decision, rule, claim, actor)
    except DomainError as error:
        decision.status = DecisionStatus.FAILED
        decision.explanation = f"{cause}，客服将尽快联系您处理"
        decision.save(update_fields=["status", "explanation"])
        _task(decision, f"自动处理失败（{error.text}），请人工处理：{cause}")
        return
    decision.status = DecisionStatus.EXECUTED
    decision.decided_at = clock.now()
    decision.explanation = f"{cause}，{outcome}"[:300]
    decision.save(update_fields=["status", "decided_at", "explanation", "refund_no", "coupon_id"])


def _act(decision: AutoDecision, rule: AfterSalesRule, claim: Claim, actor: Actor) -> str:
    """Do the action; returns what the buyer is told was done."""
    action = rule.action
    if action in REFUND_ACTIONS:
        if decision.amount_fen <= 0:
            raise DecisionNotPending("没有可退的金额")
        note = f"售后自动规则“{rule.name}”"
        case = claim.case
        whole_case = (
            action == AfterSalesAction.FULL_REFUND
            and case is not None
            and case.status == AfterSalesStatus.SUBMITTED
        )
        if whole_case and case is not None:
            case = aftersales_case_approve(case_id=case.pk, actor=actor, note=note)
            refund = case.refund
            assert refund is not None
        else:
            by_units = action == AfterSalesAction.FULL_REFUND
            refund = order_refund_request(
                order_no=claim.order.order_no,
                reason=f"{note}：{_cause(claim)}"[:200],
                actor=actor,
                lines=claim.units if by_units else (),
                amount_fen=None if by_units else decision.amount_fen,
            )
            refund = refund_request_approve(refund_no=refund.refund_no, actor=actor, note=note)
            if case is not None:
                _task(decision, f"售后工单 {case.case_no} 已自动部分退款，请跟进结案")
        decision.refund_no = refund.refund_no
        decision.amount_fen = refund.amount_fen
        if refund.status == RefundStatus.REQUESTED:
            return f"已同意退款 {format_fen(refund.amount_fen)}，退货寄回后原路退回"
        return f"已为您自动退款 {format_fen(refund.amount_fen)}"
    if action == AfterSalesAction.COUPON:
        template = rule.coupon_template
        assert template is not None
        result = coupon_issue(
            template=template,
            people=[claim.order.person],
            source="manual",
            source_ref=f"aftersales:{decision.pk}",
            actor=actor,
        )
        if not result.issued:
            raise DecisionNotPending(
                "补偿券发放失败：" + ",".join(s.reason for s in result.skipped)
            )
        decision.coupon_id = result.issued[0].pk
        return f"已为您发放补偿券“{template.name}”"
    if action == AfterSalesAction.REPLACEMENT:
        # The orders module has no replacement (zero-price) order yet: customer service
        # ships it by hand from this task.
        _task(decision, f"请为订单 {claim.order.order_no} 补发：{_cause(claim)}")
        return "我们将为您补发商品，客服将尽快联系您确认"
    _task(decision, f"请联系顾客处理：{_cause(claim)}")
    return "客服将尽快联系您处理"


def _task(decision: AutoDecision, title: str) -> ServiceTask:
    return ServiceTask.objects.create(
        decision=decision, order_id=decision.order_id, title=title[:200], created_at=clock.now()
    )


def _tell(decision: AutoDecision) -> None:
    """Explain the decision to the buyer (transactional in-app message, once per status).
    A message that cannot be queued (the buyer erased meanwhile) never undoes the decision."""
    try:
        _send(decision)
    except DomainError:
        logger.warning("aftersales decision %s: the buyer could not be messaged", decision.pk)


def _send(decision: AutoDecision) -> None:
    transactional_send(
        person_id=decision.person_id,
        channel=MESSAGE_CHANNEL,
        payload={
            "title": "售后处理通知",
            "body": decision.explanation,
            "order_no": decision.order.order_no,
        },
        purpose="aftersales_decision",
        source=f"order:{decision.order.order_no}",
        dedupe_key=f"aftersales-decision:{decision.pk}:{decision.status}",
    )


def _claim_of(decision: AutoDecision) -> Claim:
    """The claim back from a stored decision (for an operator's approval)."""
    facts = decision.inputs
    case = decision.case
    return Claim(
        trigger=decision.trigger,
        key=decision.trigger_key,
        order=decision.order,
        units=list(decision.refund_lines),
        case=case,
        shipment=decision.shipment,
        recall=decision.recall,
        reason=str(facts.get("reason", "")),
        reason_label=case.get_reason_display() if case else "",
        has_photo=bool(facts.get("has_photo")),
        late_hours=int(facts.get("late_hours") or 0),
        excursion_minutes=int(facts.get("excursion_minutes") or 0),
        peak_celsius=facts.get("peak_celsius"),
        storage=str(facts.get("storage", "")),
        lot_label=str(facts.get("lot_label", "")),
    )


@transaction.atomic
def auto_decision_approve(*, decision_id: int, actor: Actor) -> AutoDecision:
    """An operator lets a held decision run its rule's action."""
    decision = auto_decision_lock(decision_id)
    if decision is None:
        raise DecisionNotFound(detail={"decision_id": decision_id})
    if decision.status != DecisionStatus.PENDING_APPROVAL or decision.rule is None:
        raise DecisionNotPending(detail={"status": decision.status})
    decision.decided_by = actor.label[:64]
    decision.save(update_fields=["decided_by"])
    _execute(decision, decision.rule, _claim_of(decision), actor)
    audit_record(
        actor=actor,
        action="fulfillment.aftersales_approve",
        target=decision,
        before={"status": DecisionStatus.PENDING_APPROVAL},
        after={"status": decision.status, "refund_no": decision.refund_no},
    )
    _tell(decision)
    return decision


@transaction.atomic
def auto_decision_reject(*, decision_id: int, actor: Actor, note: str) -> AutoDecision:
    """An operator refuses a held decision; the buyer is told why, a case stays with customer
    service."""
    decision = auto_decision_lock(decision_id)
    if decision is None:
        raise DecisionNotFound(detail={"decision_id": decision_id})
    if decision.status != DecisionStatus.PENDING_APPROVAL:
        raise DecisionNotPending(detail={"status": decision.status})
    note = note.strip()
    decision.status = DecisionStatus.REJECTED
    decision.decided_by = actor.label[:64]
    decision.decided_at = clock.now()
    decision.explanation = f"经审核，本次不予自动补偿：{note or '不符合补偿条件'}"[:300]
    decision.save(update_fields=["status", "decided_by", "decided_at", "explanation"])
    audit_record(
        actor=actor,
        action="fulfillment.aftersales_reject",
        target=decision,
        before={"status": DecisionStatus.PENDING_APPROVAL},
        after={"status": decision.status, "note": note},
    )
    _tell(decision)
    return decision
