"""Back-office screens of Food features (SPEC FD-1…FD-6) (one block per feature)."""

from __future__ import annotations

# --- smart subscriptions (FD-1) ---
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from freshloop.core.audit import Actor
from freshloop.food.models import Subscription, SubscriptionDiscount
from freshloop.food.subscriptions import subscription_discount_set


@admin.register(SubscriptionDiscount)
class SubscriptionDiscountAdmin(ModelAdmin):
    """Operators set the subscription price per product (percent off), audited."""

    list_display = ("product", "percent_off", "updated_at")
    fields = ("product", "percent_off")
    autocomplete_fields = ("product",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = subscription_discount_set(
            product_id=obj.product_id,
            percent_off=obj.percent_off,
            actor=Actor.for_user(request.user),
        )
        if saved is not None:
            obj.pk = saved.pk


@admin.register(Subscription)
class SubscriptionAdmin(ModelAdmin):
    """Read-only: a subscription changes only through its owner's actions and the job."""

    list_display = (
        "subscription_no",
        "title",
        "status",
        "next_delivery_date",
        "cadence_kind",
        "cadence_value",
    )
    list_filter = ("status", "cadence_kind")
    search_fields = ("subscription_no",)
    exclude = ("address",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- pantry (FD-2) ---
from django import forms  # noqa: E402
from django.contrib import admin  # noqa: E402
from unfold.admin import ModelAdmin  # noqa: E402

from freshloop.core.admin_base import ReadOnlyAdmin  # noqa: E402
from freshloop.food.models import PantryBarcode, PantryItem, PantryReminderRule  # noqa: E402
from freshloop.food.pantry import ean13_valid  # noqa: E402


class PantryBarcodeForm(forms.ModelForm):
    class Meta:
        model = PantryBarcode
        fields = ["ean", "sku"]

    def clean_ean(self) -> str:
        ean = str(self.cleaned_data["ean"]).strip()
        if not ean13_valid(ean):
            raise forms.ValidationError("条码应为 13 位数字且校验位正确（EAN-13）")
        return ean


@admin.register(PantryBarcode)
class PantryBarcodeAdmin(ModelAdmin):
    form = PantryBarcodeForm
    list_display = ["ean", "sku"]
    search_fields = ["ean", "sku__code", "sku__product__name"]
    autocomplete_fields = ["sku"]


class PantryReminderRuleForm(forms.ModelForm):
    storage = forms.ChoiceField(
        label="储存条件",
        choices=[("ambient", "常温"), ("chilled", "冷藏"), ("frozen", "冷冻")],
    )

    class Meta:
        model = PantryReminderRule
        fields = ["storage", "days_before"]


@admin.register(PantryReminderRule)
class PantryReminderRuleAdmin(ModelAdmin):
    form = PantryReminderRuleForm
    list_display = ["storage", "days_before"]


@admin.register(PantryItem)
class PantryItemAdmin(ReadOnlyAdmin):
    list_display = ["name", "person", "storage", "expires_on", "status", "source", "reminded_at"]
    list_filter = ["status", "source", "storage"]
    search_fields = ["name", "order_no"]


# --- traceability (FD-3) ----------------------------------------------------------------------
from django.contrib import admin  # noqa: E402

from freshloop.core.admin_base import ReadOnlyAdmin  # noqa: E402
from freshloop.food.models import TraceOrigin, TraceVersion  # noqa: E402


@admin.register(TraceOrigin)
class TraceOriginAdmin(ReadOnlyAdmin):
    """Origins are edited in the console (/console/food/trace/); here for lookup."""

    list_display = ("name", "address", "latitude", "longitude")
    search_fields = ("name", "address")


@admin.register(TraceVersion)
class TraceVersionAdmin(ReadOnlyAdmin):
    """Published versions are history: read-only."""

    list_display = ("profile", "number", "published_by", "published_at")
