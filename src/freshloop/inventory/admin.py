"""Back office for stock: levels per warehouse, adjustments and stock-takes (audited), history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from unfold.admin import ModelAdmin

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role, require_role
from freshloop.inventory.models import (
    Reservation,
    StockLevel,
    StockMovement,
    StockTake,
    Warehouse,
)
from freshloop.inventory.services import stock_adjust, stock_take


class _ReadOnly(ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Warehouse)
class WarehouseAdmin(ModelAdmin):
    list_display = (
        "name",
        "code",
        "province",
        "city",
        "supports_ambient",
        "supports_chilled",
        "supports_frozen",
        "is_active",
    )
    list_filter = ("province", "supports_chilled", "supports_frozen")
    search_fields = ("name", "code", "city")


@admin.register(StockLevel)
class StockLevelAdmin(_ReadOnly):
    """Levels change only through receive / adjust / stock-take / orders, never by editing."""

    list_display = ("sku", "warehouse", "on_hand", "reserved", "available_units", "updated_at")
    list_filter = ("warehouse", "sku__product__storage", "sku__product__category")
    search_fields = ("sku__code", "sku__product__name")
    list_select_related = ("sku__product", "warehouse")
    change_form_after_template = "inventory/admin/stock_tools.html"

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The page opens (to show the tools) but no field is editable.
        return obj is None or request.user.has_perm("inventory.view_stocklevel")

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return ["sku", "warehouse", "on_hand", "reserved"]

    @admin.display(description="可售")
    def available_units(self, obj: StockLevel) -> int:
        return obj.available

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="inventory_stocklevel_adjust",
            ),
            path(
                "<int:pk>/count/",
                self.admin_site.admin_view(self.count_view),
                name="inventory_stocklevel_count",
            ),
        ]
        return custom + super().get_urls()

    def _back(self, pk: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:inventory_stocklevel_change", args=[pk]))

    def _run(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        stock = get_object_or_404(StockLevel.objects.select_related("sku", "warehouse"), pk=pk)
        if request.method != "POST":
            return self._back(pk)
        try:
            require_role(request.user, Role.SUPPLY_CHAIN)
            actor = Actor.for_user(request.user)
            if action == "adjust":
                stock_adjust(
                    sku=stock.sku,
                    warehouse=stock.warehouse,
                    delta=int(request.POST.get("delta", "")),
                    reason=request.POST.get("reason", ""),
                    actor=actor,
                )
                self.message_user(request, "库存已调整", messages.SUCCESS)
            else:
                stock_take(
                    warehouse=stock.warehouse,
                    counts={stock.sku_id: int(request.POST.get("counted", ""))},
                    actor=actor,
                    note=request.POST.get("note", ""),
                )
                self.message_user(request, "盘点已记录", messages.SUCCESS)
        except ValueError:
            self.message_user(request, "请输入整数", messages.ERROR)
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
        return self._back(pk)

    def adjust_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._run(request, pk, "adjust")

    def count_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._run(request, pk, "count")

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if object_id:
            stock = get_object_or_404(StockLevel, pk=object_id)
            extra_context["stock_obj"] = stock
            extra_context["movements"] = stock.movements.order_by("-id")[:30]
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(StockMovement)
class StockMovementAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "stock",
        "kind",
        "on_hand_delta",
        "reserved_delta",
        "ref",
        "actor",
        "note",
    )
    list_filter = ("kind", "stock__warehouse")
    search_fields = ("ref", "stock__sku__code", "note")


@admin.register(Reservation)
class ReservationAdmin(_ReadOnly):
    list_display = (
        "order_ref",
        "stock",
        "quantity",
        "status",
        "expires_at",
        "created_at",
        "closed_at",
    )
    list_filter = ("status", "stock__warehouse")
    search_fields = ("order_ref",)


@admin.register(StockTake)
class StockTakeAdmin(_ReadOnly):
    list_display = ("created_at", "warehouse", "actor", "note")
    list_filter = ("warehouse",)
