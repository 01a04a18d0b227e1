from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline

from freshloop.catalog.models import Category, Product, Sku
from freshloop.core.money import format_fen


class SkuInline(TabularInline):
    model = Sku
    extra = 0
    fields = ("code", "spec", "price_fen", "is_active")


@admin.register(Category)
class CategoryAdmin(ModelAdmin):
    list_display = ("name", "code", "parent", "sort_order")
    search_fields = ("name", "code")


@admin.register(Product)
class ProductAdmin(ModelAdmin):
    list_display = ("name", "code", "category", "storage", "shelf_life_days", "origin", "is_active")
    list_filter = ("category", "storage", "is_active")
    search_fields = ("name", "code", "origin")
    inlines = [SkuInline]
    readonly_fields = ("created_at",)


@admin.register(Sku)
class SkuAdmin(ModelAdmin):
    list_display = ("code", "product", "spec", "price", "is_active")
    list_filter = ("product__category", "product__storage", "is_active")
    search_fields = ("code", "product__name", "spec")

    @admin.display(description="售价", ordering="price_fen")
    def price(self, obj: Sku) -> str:
        return format_fen(obj.price_fen)
