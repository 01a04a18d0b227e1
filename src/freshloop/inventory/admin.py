from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from freshloop.inventory.models import Warehouse


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
