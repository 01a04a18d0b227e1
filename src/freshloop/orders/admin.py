"""Back office for orders and refunds: the timeline, the explained price, fulfilment steps and
refund decisions — every step through the order services (state machine, audit, events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from unfold.admin import ModelAdmin, TabularInline

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.core.permissions import Role, require_role
from freshloop.orders.models import Order, OrderEvent, OrderLine, OrderStatus, RefundRequest
from freshloop.orders.services import (
    order_allocate,
    order_complete,
    order_deliver,
    order_ship,
    refund_request_approve,
    refund_request_reject,
)
from freshloop.orders.state import allowed_next


class _NoWrites:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class OrderLineInline(_NoWrites, TabularInline):
    model = OrderLine
    extra = 0
    fields = (
        "product_name",
        "spec",
        "unit_price_fen",
        "quantity",
        "discount_fen",
        "total_fen",
        "refunded_quantity",
    )
    readonly_fields = fields


class OrderEventInline(_NoWrites, TabularInline):
    model = OrderEvent
    extra = 0
    fields = ("created_at", "from_label", "to_label", "note", "actor")
    readonly_fields = fields
    verbose_name_plural = "订单时间线"

    @admin.display(description="原状态")
    def from_label(self, obj: OrderEvent) -> str:
        return OrderStatus(obj.from_status).label if obj.from_status else "-"

    @admin.display(description="新状态")
    def to_label(self, obj: OrderEvent) -> str:
        return OrderStatus(obj.to_status).label


@admin.register(Order)
class OrderAdmin(_NoWrites, ModelAdmin):
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
    # Shown as readable sections below the form (price rows, masked address) or internal.
    exclude = (
        "address",
        "idempotency_key",
        "request_fingerprint",
        "status_before_refund",
        "price_explanation",
        "coupon_ids",
    )

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Orders change only through their services (the step buttons below), never by editing.
        return False

    @admin.display(description="应付", ordering="total_fen")
    def total(self, obj: Order) -> str:
        return format_fen(obj.total_fen)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/step/",
                self.admin_site.admin_view(self.step_view),
                name="orders_order_step",
            ),
            *super().get_urls(),
        ]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if object_id:
            order = get_object_or_404(Order, pk=object_id)
            extra_context["order_obj"] = order
            extra_context["next_steps"] = sorted(
                allowed_next(order)
                & {
                    OrderStatus.ALLOCATED,
                    OrderStatus.SHIPPED,
                    OrderStatus.DELIVERED,
                    OrderStatus.COMPLETED,
                }
            )
            extra_context["price_rows"] = [
                {**row, "yuan": format_fen(row["amount_fen"])} for row in order.price_explanation
            ]
            address = order.address or {}
            extra_context["address_masked"] = (
                f"{address.get('province', '')}{address.get('city', '')}{address.get('district', '')} "
                f"{address.get('name', '')[:1]}** {str(address.get('phone', ''))[:3]}****{str(address.get('phone', ''))[-4:]}"
            )
        return super().changeform_view(request, object_id, form_url, extra_context)

    def step_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        back = HttpResponseRedirect(reverse("admin:orders_order_change", args=[pk]))
        if request.method != "POST":
            return back
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
        try:
            require_role(request.user, Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE)
            if step is None:
                raise DomainError("未知的操作")
            done = step(Actor.for_user(request.user))
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
            return back
        self.message_user(request, f"订单已更新为「{done.get_status_display()}」", messages.SUCCESS)
        return back


@admin.register(RefundRequest)
class RefundRequestAdmin(_NoWrites, ModelAdmin):
    list_display = ("refund_no", "order", "amount", "reason", "status", "created_at", "decided_by")
    list_filter = ("status",)
    search_fields = ("refund_no", "order__order_no")
    list_select_related = ("order",)
    actions = ["approve", "reject"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="退款金额", ordering="amount_fen")
    def amount(self, obj: RefundRequest) -> str:
        return format_fen(obj.amount_fen)

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
        count = 0
        for refund in queryset.order_by("pk"):
            try:
                decide(refund, actor)
                count += 1
            except DomainError as error:
                self.message_user(request, f"{refund.refund_no}：{error.text}", messages.ERROR)
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
