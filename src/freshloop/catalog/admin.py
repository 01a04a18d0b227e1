"""Back office for the catalog: products with their SKUs, images and production lots."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline

from freshloop.catalog.models import Batch, Category, Product, ProductImage, Sku
from freshloop.catalog.services import (
    product_image_add,
    product_image_delete,
    product_image_update,
)
from freshloop.core.admin_base import fen_column
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.images import image_check


class SkuInline(TabularInline):
    model = Sku
    extra = 0
    fields = ("code", "spec", "price_fen", "is_active")


class ProductImageForm(forms.ModelForm):
    """A new row takes a file; the file is checked here (a clear message on the form) and stored
    by `product_image_add` in `ProductAdmin.save_formset`, never by the form itself."""

    upload = forms.FileField(
        label="图片文件",
        required=False,
        help_text="JPEG、PNG 或 WebP，不超过 10 MB、边长不超过 6000 像素；在已有的图片行选择新文件即替换该图片",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    class Meta:
        model = ProductImage
        fields = ("sku", "alt", "sort_order")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("upload")
        if self.instance.pk is None and upload is None and self.has_changed():
            raise forms.ValidationError("请选择要上传的图片")
        if upload is not None:
            try:
                image_check(upload)
            except DomainError as error:
                self.add_error("upload", error.text)
        sku = data.get("sku")
        product_id = self.instance.product_id
        if sku is not None and sku.product_id != product_id:
            self.add_error("sku", "SKU 不属于这个商品" if product_id else "请先保存商品再选择 SKU")
        return data


class ProductImageInline(TabularInline):
    model = ProductImage
    form = ProductImageForm
    extra = 0
    fields = ("preview", "upload", "sku", "alt", "sort_order")
    readonly_fields = ("preview",)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "sku":
            # Only this product's SKUs (none while the product is being added).
            object_id = (
                request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            )
            kwargs["queryset"] = Sku.objects.filter(product_id=object_id or 0)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="预览")
    def preview(self, obj: ProductImage) -> str:
        if not obj.pk:
            return "—"
        return format_html(
            '<img src="{}" alt="{}" style="height:64px;border-radius:6px">',
            obj.webp_400.url,
            obj.alt,
        )


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

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not ProductImage:
            super().save_formset(request, form, formset, change)
            return
        # Pictures are written by the catalog services (checks, variants, audit), not by the form.
        actor = Actor.for_user(request.user)
        product = form.instance
        # The admin's change message reads these (normally filled by formset.save()).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for image_form in formset.forms:
            if not hasattr(image_form, "cleaned_data") or not image_form.cleaned_data:
                continue
            data = image_form.cleaned_data
            image = image_form.instance
            if image.pk is not None and data.get("DELETE"):
                product_image_delete(image=image, actor=actor)
                formset.deleted_objects.append(image)
            elif image.pk is not None and data.get("upload") is not None:
                # A new file on an existing row replaces that picture, in its place.
                added = product_image_add(
                    product=product,
                    file=data["upload"],
                    actor=actor,
                    sku=data.get("sku"),
                    alt=data.get("alt") or "",
                    sort_order=data.get("sort_order") or 0,
                )
                product_image_delete(image=image, actor=actor)
                formset.new_objects.append(added)
                formset.deleted_objects.append(image)
            elif image.pk is None and data.get("upload") is not None and not data.get("DELETE"):
                added = product_image_add(
                    product=product,
                    file=data["upload"],
                    actor=actor,
                    sku=data.get("sku"),
                    alt=data.get("alt") or "",
                    sort_order=data.get("sort_order"),
                )
                formset.new_objects.append(added)
            elif image.pk is not None and image_form.has_changed():
                product_image_update(
                    image=image,
                    actor=actor,
                    alt=data.get("alt") or "",
                    sort_order=data.get("sort_order") or 0,
                    sku=data.get("sku"),
                )
                formset.changed_objects.append((image, image_form.changed_data))


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
