"""Console pages of fulfillment, mounted at /console/fulfillment/: the supply chain's overview
with charts, the allocation queue, parcels and their timelines. Charts are drawn by ECharts from
the numbers the page embeds; actions post to the same services as the JSON API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from freshloop.catalog.models import Batch
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.fulfillment import dashboard
from freshloop.fulfillment.aftersales_decisions import (
    auto_decision_approve,
    auto_decision_reject,
)
from freshloop.fulfillment.aftersales_rules import (
    aftersales_rule_create,
    aftersales_rule_delete,
    aftersales_rule_update,
)
from freshloop.fulfillment.allocating import allocation_retry
from freshloop.fulfillment.models import (
    AfterSalesAction,
    AfterSalesRule,
    AfterSalesTrigger,
    AutoDecision,
    DecisionStatus,
    Recall,
    Shipment,
    ShipmentStatus,
)
from freshloop.fulfillment.recall import recall_create, recall_report
from freshloop.fulfillment.roles import (
    AFTERSALES_CONSOLE_ROLES,
    FULFILLMENT_READ_ROLES,
    FULFILLMENT_WRITE_ROLES,
    RECALL_ROLES,
)
from freshloop.membership.models import MemberLevel
from freshloop.orders.models import AfterSalesReason, Order
from freshloop.promotions.models import CouponTemplate

fulfillment_access = console_access(*FULFILLMENT_READ_ROLES)
fulfillment_write = console_access(*FULFILLMENT_WRITE_ROLES)
aftersales_access = console_access(*AFTERSALES_CONSOLE_ROLES)
recall_access = console_access(*RECALL_ROLES)


def _refused(request: HttpRequest, error: DomainError, prefix: str = "") -> int:
    messages.error(request, f"{prefix}{error.text}")
    return error.status


def _field_errors(error: DomainError) -> dict[str, str]:
    """A 422's `detail` [{field, message}] as {field: first message}, to show under inputs."""
    found: dict[str, str] = {}
    if isinstance(error.detail, list):
        for item in error.detail:
            if isinstance(item, dict) and "field" in item:
                found.setdefault(str(item["field"]), str(item.get("message", "")))
    return found


@require_GET
@fulfillment_access
def overview(request: HttpRequest) -> HttpResponse:
    weeks = dashboard.on_time_by_week()
    warehouses = dashboard.cost_per_order_by_warehouse()
    delivered = sum(week.delivered for week in weeks)
    on_time = sum(week.on_time for week in weeks)
    orders = sum(row["orders"] for row in warehouses)
    cost = sum(row["cost_fen"] for row in warehouses)
    attention = list(dashboard.shipments_needing_attention()[:10])
    excursion_weeks = dashboard.excursion_rate_by_week()
    cold = sum(week.cold_delivered for week in excursion_weeks)
    bad = sum(week.with_excursion for week in excursion_weeks)
    return render(
        request,
        "fulfillment/overview.html",
        {
            "counts": dashboard.allocation_counts(),
            "on_time_rate": round(on_time / delivered * 100, 1) if delivered else None,
            "delivered": delivered,
            "cost_per_order_fen": round(cost / orders) if orders else None,
            "attention": attention,
            "warehouses": warehouses,
            "excursion_rate": round(bad / cold * 100, 1) if cold else None,
            "cold_delivered": cold,
            "chart": {
                "excursions": [
                    {
                        "week": w.week,
                        "cold": w.cold_delivered,
                        "bad": w.with_excursion,
                        "rate": w.rate,
                    }
                    for w in excursion_weeks
                ],
                "weeks": [
                    {"week": w.week, "delivered": w.delivered, "rate": w.rate} for w in weeks
                ],
                "warehouses": warehouses,
            },
        },
    )


@require_GET
@fulfillment_access
def allocation_queue(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "fulfillment/allocations.html",
        {"allocations": list(dashboard.allocation_queue())},
    )


@require_GET
@fulfillment_access
def shipment_list(request: HttpRequest) -> HttpResponse:
    status = str(request.GET.get("status", ""))[:20]
    if status and status not in ShipmentStatus.values:
        status = ""
    return render(
        request,
        "fulfillment/shipments.html",
        {
            "shipments": list(dashboard.shipment_list(status=status)),
            "status": status,
            "statuses": ShipmentStatus.choices,
        },
    )


@require_GET
@fulfillment_access
def shipment_detail(request: HttpRequest, shipment_no: str) -> HttpResponse:
    shipment = (
        Shipment.objects.select_related("order", "warehouse", "carrier", "allocation")
        .filter(shipment_no=shipment_no[:40])
        .first()
    )
    if shipment is None:
        raise Http404("包裹不存在")
    excursions = list(shipment.excursions.order_by("started_at", "pk"))
    return render(
        request,
        "fulfillment/shipment.html",
        {
            "shipment": shipment,
            "lines": list(shipment.lines.select_related("sku__product", "batch")),
            "events": list(shipment.events.order_by("occurred_at", "pk")),
            "excursions": excursions,
            "parcel_charts": dashboard.parcel_chart(shipment, excursions),
        },
    )


@require_POST
@fulfillment_write
def allocation_retry_view(request: HttpRequest, order_no: str) -> HttpResponse:
    order = Order.objects.filter(order_no=order_no[:40]).first()
    if order is None:
        raise Http404("订单不存在")
    try:
        allocation_retry(order_id=order.pk, actor=Actor.for_user(request.user))
    except DomainError as error:
        _refused(request, error, "重试失败：")
    else:
        messages.success(request, f"订单 {order.order_no} 已重新分仓")
    return HttpResponseRedirect("/console/fulfillment/allocations/")


# --- cold chain -------------------------------------------------------------------------------


@require_GET
@fulfillment_access
def excursion_list(request: HttpRequest) -> HttpResponse:
    return render(request, "fulfillment/excursions.html", {"rows": dashboard.excursion_list()})


# --- after-sales rules and decisions -----------------------------------------------------------

_RULE_INTS = (
    "priority",
    "min_late_hours",
    "min_excursion_minutes",
    "amount_min_fen",
    "amount_max_fen",
    "max_recent_claims",
    "claims_window_days",
    "refund_percent",
    "refund_fen",
    "approval_above_fen",
    "customer_limit_count",
    "customer_limit_days",
    "daily_limit_fen",
)


_RULE_DEFAULTED = frozenset(
    {
        "priority",
        "min_late_hours",
        "min_excursion_minutes",
        "claims_window_days",
        "customer_limit_days",
    }
)


def _int_or_text(raw: str) -> Any:
    """A number typed in a form; text that is no integer goes to the service as it is so the
    service names the field ("…必须是整数")."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def _rule_spec(post: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": str(post.get("name", "")),
        "trigger": str(post.get("trigger", "")),
        "action": str(post.get("action", "")),
        "reasons": [str(value) for value in post.getlist("reasons")],
        "member_levels": [str(value) for value in post.getlist("member_levels")],
        "requires_photo": post.get("requires_photo") == "on",
        "is_active": post.get("is_active") == "on",
        "coupon_template_id": _int_or_text(str(post.get("coupon_template_id", ""))),
    }
    for name in _RULE_INTS:
        value = _int_or_text(str(post.get(name, "")))
        if value is not None or name not in _RULE_DEFAULTED:
            spec[name] = value  # an empty defaulted number keeps the service's default
    return spec


def _rule_form(rule: AfterSalesRule | None) -> dict[str, Any]:
    if rule is None:
        return {"is_active": True, "priority": 100, "reasons": [], "member_levels": []}
    form: dict[str, Any] = {
        "name": rule.name,
        "trigger": rule.trigger,
        "action": rule.action,
        "reasons": list(rule.reasons),
        "member_levels": list(rule.member_levels),
        "requires_photo": rule.requires_photo,
        "is_active": rule.is_active,
        "coupon_template_id": rule.coupon_template_id,
    }
    for name in _RULE_INTS:
        form[name] = getattr(rule, name)
    return form


def rule_conditions_text(rule: AfterSalesRule) -> str:
    """A rule's IF part as operators read it: 原因 变质/异味；需照片；金额 ≤ ¥30.00 …"""
    reasons = dict(AfterSalesReason.choices)
    parts = []
    if rule.reasons:
        parts.append("原因 " + "、".join(str(reasons.get(code, code)) for code in rule.reasons))
    if rule.requires_photo:
        parts.append("需照片")
    if rule.min_late_hours:
        parts.append(f"超时 ≥ {rule.min_late_hours} 小时")
    if rule.min_excursion_minutes:
        parts.append(f"超温 ≥ {rule.min_excursion_minutes} 分钟")
    if rule.amount_min_fen is not None:
        parts.append(f"金额 ≥ {format_fen(rule.amount_min_fen)}")
    if rule.amount_max_fen is not None:
        parts.append(f"金额 ≤ {format_fen(rule.amount_max_fen)}")
    if rule.member_levels:
        parts.append("会员 " + "、".join(str(level) for level in rule.member_levels))
    if rule.max_recent_claims is not None:
        parts.append(f"近 {rule.claims_window_days} 天售后 ≤ {rule.max_recent_claims} 次")
    return "；".join(parts) or "任何情况"


def _rules_page(
    request: HttpRequest,
    *,
    form: dict[str, Any],
    editing: AfterSalesRule | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "fulfillment/rules.html",
        {
            "rules": [
                (rule, rule_conditions_text(rule))
                for rule in AfterSalesRule.objects.select_related("coupon_template").order_by(
                    "priority", "pk"
                )
            ],
            "form": form,
            "editing": editing,
            "errors": errors or {},
            "triggers": AfterSalesTrigger.choices,
            "actions": AfterSalesAction.choices,
            "reasons": AfterSalesReason.choices,
            "levels": list(MemberLevel.objects.order_by("min_lifetime_spend_fen", "pk")),
            "coupons": list(CouponTemplate.objects.order_by("pk")),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@aftersales_access
def rule_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        editing = None
        if request.GET.get("edit", "").isdigit():
            editing = AfterSalesRule.objects.filter(pk=int(request.GET["edit"])).first()
        return _rules_page(request, form=_rule_form(editing), editing=editing)
    spec = _rule_spec(request.POST)
    rule_id = str(request.POST.get("rule_id", ""))
    editing = AfterSalesRule.objects.filter(pk=int(rule_id)).first() if rule_id.isdigit() else None
    try:
        if editing is not None:
            rule = aftersales_rule_update(
                rule_id=editing.pk, spec=spec, actor=Actor.for_user(request.user)
            )
            messages.success(request, f"已保存规则「{rule.name}」")
        else:
            rule = aftersales_rule_create(spec=spec, actor=Actor.for_user(request.user))
            messages.success(request, f"已创建规则「{rule.name}」")
    except DomainError as error:
        status = _refused(request, error)
        form = {**spec, "coupon_template_id": spec.get("coupon_template_id")}
        for name in _RULE_INTS:
            form[name] = request.POST.get(name, "")
        return _rules_page(
            request, form=form, editing=editing, errors=_field_errors(error), status=status
        )
    return HttpResponseRedirect("/console/fulfillment/rules/")


@require_POST
@aftersales_access
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    try:
        aftersales_rule_delete(rule_id=rule_id, actor=Actor.for_user(request.user))
    except DomainError as error:
        _refused(request, error, "删除失败：")
    else:
        messages.success(request, "规则已删除，已做出的决策保留")
    return HttpResponseRedirect("/console/fulfillment/rules/")


@require_GET
@aftersales_access
def decision_list(request: HttpRequest) -> HttpResponse:
    status = str(request.GET.get("status", ""))[:20]
    if status and status not in DecisionStatus.values:
        status = ""
    found = AutoDecision.objects.select_related("rule", "order", "person", "shipment")
    if status:
        found = found.filter(status=status)
    return render(
        request,
        "fulfillment/decisions.html",
        {
            "decisions": list(found.order_by("-created_at", "-pk")[:200]),
            "status": status,
            "statuses": DecisionStatus.choices,
            "waiting": AutoDecision.objects.filter(status=DecisionStatus.PENDING_APPROVAL).count(),
        },
    )


@require_POST
@aftersales_access
def decision_decide(request: HttpRequest, decision_id: int, verdict: str) -> HttpResponse:
    if verdict not in ("approve", "reject"):
        raise Http404("没有这个操作")
    back = "/console/fulfillment/decisions/"
    if request.POST.get("status"):
        back += f"?status={str(request.POST['status'])[:20]}"
    actor = Actor.for_user(request.user)
    try:
        if verdict == "approve":
            decision = auto_decision_approve(decision_id=decision_id, actor=actor)
            messages.success(request, f"已批准决策 #{decision.pk}：{decision.get_status_display()}")
        else:
            note = str(request.POST.get("note", "")).strip()[:200]
            decision = auto_decision_reject(decision_id=decision_id, actor=actor, note=note)
            messages.success(request, f"已驳回决策 #{decision.pk}")
    except DomainError as error:
        _refused(request, error, "操作失败：")
    return HttpResponseRedirect(back)


# --- recalls ----------------------------------------------------------------------------------


def _recalls_page(
    request: HttpRequest, *, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> HttpResponse:
    recalls = list(Recall.objects.select_related("batch__sku__product").order_by("-pk")[:100])
    return render(
        request,
        "fulfillment/recalls.html",
        {
            "reports": [recall_report(recall_id=recall.pk) for recall in recalls],
            "form": form,
            "errors": errors,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@recall_access
def recall_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _recalls_page(request, form={}, errors={})
    form = {
        name: str(request.POST.get(name, "")).strip()[:200]
        for name in ("batch_no", "sku_code", "reason")
    }
    lots = Batch.objects.select_related("sku").filter(batch_no=form["batch_no"])
    if form["sku_code"]:
        lots = lots.filter(sku__code=form["sku_code"])
    found = list(lots[:2])
    errors: dict[str, str] = {}
    if not form["batch_no"]:
        errors["batch_no"] = "请填写批次号"
    elif not found:
        errors["batch_no"] = "没有这个批次" + ("（或不属于该 SKU）" if form["sku_code"] else "")
    elif len(found) > 1:
        errors["sku_code"] = "多个商品有这个批次号，请填写 SKU 编码"
    if errors:
        messages.error(request, next(iter(errors.values())))
        return _recalls_page(request, form=form, errors=errors, status=422)
    try:
        recall_create(
            batch_id=found[0].pk, reason=form["reason"], actor=Actor.for_user(request.user)
        )
    except DomainError as error:
        status = _refused(request, error, "召回失败：")
        return _recalls_page(request, form=form, errors=_field_errors(error), status=status)
    messages.success(
        request, f"已召回批次 {found[0].batch_no}（{found[0].sku.code}），正在通知收到该批次的顾客"
    )
    return HttpResponseRedirect("/console/fulfillment/recalls/")
