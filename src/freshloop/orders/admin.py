"""Back office for orders and refunds: the timeline, the explained price, fulfilment steps and
refund decisions — every step through the order services (state machine, audit, events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.html import format_html, format_html_join
from unfold.forms import ActionForm
from unfold.widgets import UnfoldAdminTextInputWidget

from freshloop.core.admin_base import OperatorAdmin, ReadOnlyInline, ReadOnlyMixin, fen_column
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.core.permissions import Role, require_role
from freshloop.orders.models import (
    AfterSalesCase,
    AfterSalesPhoto,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    RefundRequest,
    ShippingRule,
)
from freshloop.orders.services import (
    aftersales_case_approve,
    aftersales_case_reject,
    order_allocate,
    order_complete,
    order_deliver,
    order_ship,
    refund_request_approve,
    refund_request_reject,
)
from freshloop.orders.shipping import shipping_rule_save
from freshloop.orders.state import allowed_next

# The steps an operator takes from the order page; the rest follow payment and refunds.
OPERATOR_STEPS = frozenset(
    {OrderStatus.ALLOCATED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = (
        "product_name",
        "spec",
        "unit_price_fen",
        "quantity",
        "discount_fen",
        "total_fen",
        "refunded_quantity",
    )


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("created_at", "from_label", "to_label", "note", "actor")
    verbose_name_plural = "订单时间线"

    @admin.display(description="原状态")
    def from_label(self, obj: OrderEvent) -> str:
        return OrderStatus(obj.from_status).label if obj.from_status else "-"

    @admin.display(description="新状态")
    def to_label(self, obj: OrderEvent) -> str:
        return OrderStatus(obj.to_status).label


@admin.register(Order)
class OrderAdmin(ReadOnlyMixin, OperatorAdmin):
    """Orders change only through their services (the step buttons below), never by editing."""

    list_display = (
        "order_no",
        "person",
        "channel",
        "source_ref",
        "status",
        "total",
        "created_at",
        "paid_at",
    )
    list_filter = ("status", "channel", "payment_provider")
    search_fields = ("order_no", "person__one_id", "source_ref", "transaction_id")
    list_select_related = ("person",)
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, OrderEventInline]
    change_form_after_template = "orders/admin/order_tools.html"
    tool_views = ("step",)
    # Shown as readable sections below the form (price rows, masked address) or internal.
    exclude = (
        "address",
        "idempotency_key",
        "request_fingerprint",
        "status_before_refund",
        "price_explanation",
        "coupon_ids",
    )
    total = fen_column("total_fen", "应付")

    def tools_context(self, request: HttpRequest, obj: Order) -> dict[str, Any]:
        address = obj.address or {}
        phone = str(address.get("phone", ""))
        return {
            "order_obj": obj,
            "next_steps": sorted(allowed_next(obj) & OPERATOR_STEPS),
            "price_rows": [
                {**row, "yuan": format_fen(row["amount_fen"])} for row in obj.price_explanation
            ],
            "address_masked": (
                f"{address.get('province', '')}{address.get('city', '')}{address.get('district', '')} "
                f"{address.get('name', '')[:1]}** {phone[:3]}****{phone[-4:]}"
            ),
        }

    def step_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        steps: dict[str, Callable[[Actor], Order]] = {
            OrderStatus.ALLOCATED: lambda actor: order_allocate(
                order_no=order.order_no, actor=actor
            ),
            OrderStatus.SHIPPED: lambda actor: order_ship(
                order_no=order.order_no,
                carrier=request.POST.get("carrier", ""),
                tracking_no=request.POST.get("tracking_no", ""),
                actor=actor,
            ),
            OrderStatus.DELIVERED: lambda actor: order_deliver(
                order_no=order.order_no, actor=actor
            ),
            OrderStatus.COMPLETED: lambda actor: order_complete(
                order_no=order.order_no, actor=actor
            ),
        }
        step = steps.get(request.POST.get("to", ""))

        def take_step(actor: Actor) -> str:
            if step is None:
                raise DomainError("未知的操作")
            return f"订单已更新为「{step(actor).get_status_display()}」"

        return self.tool_post(
            request, pk, roles=(Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE), write=take_step
        )


class CustomerServiceDecisions(ReadOnlyMixin, OperatorAdmin):
    """List actions by which customer service decides requests (refunds, after-sales cases):
    one role check, each row through its service, the refusals and the count reported."""

    def decide_each(
        self,
        request: HttpRequest,
        rows: Any,
        decide: Callable[[Any, Actor], Any],
        *,
        name: Callable[[Any], str],
        done: str,
    ) -> None:
        try:
            require_role(request.user, Role.CUSTOMER_SERVICE)
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
            return
        actor = Actor.for_user(request.user)
        count = self.write_each(
            request,
            rows,
            lambda row: decide(row, actor),
            refused=lambda row, error: f"{name(row)}：{error.text}",
        )
        if count:
            self.message_user(request, f"{count} {done}", messages.SUCCESS)


@admin.register(RefundRequest)
class RefundRequestAdmin(CustomerServiceDecisions):
    list_display = ("refund_no", "order", "amount", "reason", "status", "created_at", "decided_by")
    list_filter = ("status",)
    search_fields = ("refund_no", "order__order_no")
    list_select_related = ("order",)
    actions = ["approve", "reject"]
    amount = fen_column("amount_fen", "退款金额")

    @admin.action(description="同意退款（原路退回）")
    def approve(self, request: HttpRequest, queryset: Any) -> None:
        self.decide_each(
            request,
            queryset.order_by("pk"),
            lambda refund, actor: refund_request_approve(refund_no=refund.refund_no, actor=actor),
            name=lambda refund: refund.refund_no,
            done="笔退款已同意",
        )

    @admin.action(description="拒绝退款")
    def reject(self, request: HttpRequest, queryset: Any) -> None:
        self.decide_each(
            request,
            queryset.order_by("pk"),
            lambda refund, actor: refund_request_reject(
                refund_no=refund.refund_no, actor=actor, note="客服审核未通过"
            ),
            name=lambda refund: refund.refund_no,
            done="笔退款已拒绝",
        )


class AfterSalesActionForm(ActionForm):
    """The list's action bar with a note beside it: 拒绝 needs one, 同意 may carry one."""

    note = forms.CharField(
        label="处理意见",
        required=False,
        max_length=200,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "处理意见（拒绝时必填）"}),
    )


class AfterSalesPhotoInline(ReadOnlyInline):
    model = AfterSalesPhoto
    fields = ("preview", "width", "height")
    readonly_fields = ("preview", "width", "height")
    verbose_name_plural = "照片"

    @admin.display(description="照片")
    def preview(self, photo: AfterSalesPhoto) -> str:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="售后照片" '
            'style="max-width:160px;max-height:160px;border-radius:6px"></a>',
            photo.url,
            photo.thumb_url,
        )


@admin.register(AfterSalesCase)
class AfterSalesCaseAdmin(CustomerServiceDecisions):
    """售后工单: read the case (units, description, photos), then 同意 (a refund request for those
    units follows, reviewed under 退款申请) or 拒绝 with a note — both through the services."""

    list_display = ("case_no", "order", "kind", "reason", "units", "status", "created_at")
    list_filter = ("status", "reason", "kind")
    search_fields = ("case_no", "order__order_no")
    list_select_related = ("order",)
    ordering = ("status", "created_at")
    fields = (
        "case_no",
        "order",
        "kind",
        "reason",
        "description",
        "units",
        "status",
        "refund",
        "decision_note",
        "decided_by",
        "created_at",
        "decided_at",
    )
    readonly_fields = fields
    inlines = [AfterSalesPhotoInline]
    actions = ["approve", "reject"]
    action_form = AfterSalesActionForm

    @admin.display(description="售后商品")
    def units(self, case: AfterSalesCase) -> str:
        by_id = {line.pk: line for line in case.order.lines.all()}
        return format_html_join(
            "、",
            "{} × {}",
            (
                (
                    f"{by_id[item['line_id']].product_name} {by_id[item['line_id']].spec}"
                    if item["line_id"] in by_id
                    else f"商品 {item['line_id']}",
                    item["quantity"],
                )
                for item in case.lines
            ),
        )

    def _decide(
        self,
        request: HttpRequest,
        queryset: Any,
        decide: Callable[[AfterSalesCase, Actor, str], Any],
        done: str,
    ) -> None:
        note = str(request.POST.get("note", "")).strip()[:200]
        self.decide_each(
            request,
            queryset.order_by("created_at", "pk"),
            lambda case, actor: decide(case, actor, note),
            name=lambda case: case.case_no,
            done=f"个售后工单{done}",
        )

    @admin.action(description="同意售后（仅退款直接退款，退货退款待收货后退款）")
    def approve(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(
            request,
            queryset,
            lambda case, actor, note: aftersales_case_approve(
                case_id=case.pk, actor=actor, note=note
            ),
            "已同意，退款申请已生成",
        )

    @admin.action(description="拒绝售后（请在处理意见中写明原因）")
    def reject(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(
            request,
            queryset,
            lambda case, actor, note: aftersales_case_reject(
                case_id=case.pk, actor=actor, note=note
            ),
            "已拒绝",
        )


class ShippingRuleForm(forms.ModelForm):
    """Provinces typed as text (新疆 西藏, or 新疆、西藏), stored as a list."""

    provinces_text = forms.CharField(
        label="适用省份",
        required=False,
        help_text="省份简称，用空格、逗号或顿号分隔，如「新疆 西藏 青海」；留空表示全国默认",
    )

    class Meta:
        model = ShippingRule
        fields = (
            "name",
            "base_fee_fen",
            "cold_chain_surcharge_fen",
            "free_shipping_from_fen",
            "is_active",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["provinces_text"].initial = " ".join(self.instance.provinces)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = str(cleaned.get("provinces_text") or "")
        for separator in ",，、;；":
            text = text.replace(separator, " ")
        self.instance.provinces = [part for part in text.split() if part]
        return cleaned


@admin.register(ShippingRule)
class ShippingRuleAdmin(OperatorAdmin):
    form = ShippingRuleForm
    list_display = ("name", "province_list", "base_fee", "cold_surcharge", "free_from", "is_active")
    list_filter = ("is_active",)
    base_fee = fen_column("base_fee_fen", "基础运费")
    cold_surcharge = fen_column("cold_chain_surcharge_fen", "冷链附加费")
    free_from = fen_column("free_shipping_from_fen", "包邮门槛")

    @admin.display(description="适用省份")
    def province_list(self, obj: ShippingRule) -> str:
        return "、".join(obj.provinces) if obj.provinces else "全国默认"

    def save_model(self, request: HttpRequest, obj: ShippingRule, form: Any, change: bool) -> None:
        shipping_rule_save(actor=Actor.for_user(request.user), rule=obj)
