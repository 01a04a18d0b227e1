"""Back office for stock: levels per warehouse, adjustments and stock-takes (audited), history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from unfold.admin import ModelAdmin

from freshloop.core.admin_base import OperatorAdmin, ReadOnlyAdmin, ReadOnlyMixin
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.inventory.models import (
    Reservation,
    StockLevel,
    StockMovement,
    StockTake,
    Warehouse,
)
from freshloop.inventory.services import stock_adjust, stock_take

SUPPLY_CHAIN = (Role.SUPPLY_CHAIN,)


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
class StockLevelAdmin(ReadOnlyMixin, OperatorAdmin):
    """Levels change only through receive / adjust / stock-take / orders, never by editing."""

    list_display = ("sku", "warehouse", "on_hand", "reserved", "available_units", "updated_at")
    list_filter = ("warehouse", "sku__product__storage", "sku__product__category")
    search_fields = ("sku__code", "sku__product__name")
    list_select_related = ("sku__product", "warehouse")
    change_form_after_template = "inventory/admin/stock_tools.html"
    tool_views = ("adjust", "count")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The page opens (to show the tools) but no field is editable.
        return obj is None or request.user.has_perm("inventory.view_stocklevel")

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return ["sku", "warehouse", "on_hand", "reserved"]

    @admin.display(description="可售")
    def available_units(self, obj: StockLevel) -> int:
        return obj.available

    def tools_context(self, request: HttpRequest, obj: StockLevel) -> dict[str, Any]:
        return {"stock_obj": obj, "movements": obj.movements.order_by("-id")[:30]}

    def _stock(self, pk: int) -> StockLevel:
        return get_object_or_404(StockLevel.objects.select_related("sku", "warehouse"), pk=pk)

    def adjust_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        stock = self._stock(pk)

        def adjust(actor: Actor) -> str:
            stock_adjust(
                sku=stock.sku,
                warehouse=stock.warehouse,
                delta=int(request.POST.get("delta", "")),
                reason=request.POST.get("reason", ""),
                actor=actor,
            )
            return "库存已调整"

        return self.tool_post(
            request, pk, roles=SUPPLY_CHAIN, write=adjust, invalid_input="请输入整数"
        )

    def count_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        stock = self._stock(pk)

        def count(actor: Actor) -> str:
            stock_take(
                warehouse=stock.warehouse,
                counts={stock.sku_id: int(request.POST.get("counted", ""))},
                actor=actor,
                note=request.POST.get("note", ""),
            )
            return "盘点已记录"

        return self.tool_post(
            request, pk, roles=SUPPLY_CHAIN, write=count, invalid_input="请输入整数"
        )


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
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
class ReservationAdmin(ReadOnlyAdmin):
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
class StockTakeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "warehouse", "actor", "note")
    list_filter = ("warehouse",)
