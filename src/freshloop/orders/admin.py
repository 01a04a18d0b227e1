"""Back office for orders and refunds: the timeline, the explained price, fulfilment steps and
refund decisions — every step through the order services (state machine, audit, events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from freshloop.core.admin_base import OperatorAdmin, ReadOnlyInline, ReadOnlyMixin, fen_column
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.core.permissions import Role, require_role
from freshloop.orders.models import (
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    RefundRequest,
    ShippingRule,
)
from freshloop.orders.services import (
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


@admin.register(RefundRequest)
class RefundRequestAdmin(ReadOnlyMixin, OperatorAdmin):
    list_display = ("refund_no", "order", "amount", "reason", "status", "created_at", "decided_by")
    list_filter = ("status",)
    search_fields = ("refund_no", "order__order_no")
    list_select_related = ("order",)
    actions = ["approve", "reject"]
    amount = fen_column("amount_fen", "退款金额")

    def _decide(
        self,
        request: HttpRequest,
        queryset: Any,
        decide: Callable[[RefundRequest, Actor], Any],
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
            queryset.order_by("pk"),
            lambda refund: decide(refund, actor),
            refused=lambda refund, error: f"{refund.refund_no}：{error.text}",
        )
        if count:
            self.message_user(request, f"{count} 笔退款{done}", messages.SUCCESS)

    @admin.action(description="同意退款（原路退回）")
    def approve(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(
            request,
            queryset,
            lambda refund, actor: refund_request_approve(refund_no=refund.refund_no, actor=actor),
            "已同意",
        )

    @admin.action(description="拒绝退款")
    def reject(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(
            request,
            queryset,
            lambda refund, actor: refund_request_reject(
                refund_no=refund.refund_no, actor=actor, note="客服审核未通过"
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
