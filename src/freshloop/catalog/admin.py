"""Back office for the catalog: products with their SKUs, images and production lots."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline

from freshloop.catalog.models import Batch, Category, Product, ProductImage, Sku
from freshloop.core.admin_base import fen_column


class SkuInline(TabularInline):
    model = Sku
    extra = 0
    fields = ("code", "spec", "price_fen", "is_active")


class ProductImageInline(TabularInline):
    model = ProductImage
    extra = 0
    fields = ("url", "caption", "sort_order")


@admin.register(Category)
class CategoryAdmin(ModelAdmin):
    list_display = ("name", "code", "parent", "sort_order")
    search_fields = ("name", "code")


@admin.register(Product)
class ProductAdmin(ModelAdmin):
    list_display = (
        "name",
        "code",
        "category",
        "storage",
        "shelf_life_days",
        "origin",
        "sold_in_live",
        "sold_in_shop",
        "sold_in_groupbuy",
        "is_active",
    )
    list_filter = ("category", "storage", "is_active", "sold_in_live", "sold_in_groupbuy")
    search_fields = ("name", "code", "origin")
    inlines = [SkuInline, ProductImageInline]
    readonly_fields = ("created_at",)
    fieldsets = (
        (None, {"fields": ("code", "name", "category", "description", "image_url", "is_active")}),
        (
            "食品属性",
            {"fields": ("storage", "shelf_life_days", "origin", "certifications", "allergens")},
        ),
        ("销售渠道", {"fields": ("sold_in_live", "sold_in_shop", "sold_in_groupbuy")}),
        ("记录", {"fields": ("created_at",)}),
    )


@admin.register(Sku)
class SkuAdmin(ModelAdmin):
    list_display = ("code", "product", "spec", "price", "is_active")
    list_filter = ("product__category", "product__storage", "is_active")
    search_fields = ("code", "product__name", "spec")
    price = fen_column("price_fen", "售价")


@admin.register(Batch)
class BatchAdmin(ModelAdmin):
    list_display = ("batch_no", "sku", "produced_on", "expires_on", "origin_detail")
    list_filter = ("sku__product__category", "expires_on")
    search_fields = ("batch_no", "sku__code", "sku__product__name")
    readonly_fields = ("created_at",)
    date_hierarchy = "expires_on"
