"""Back office for campaigns: flash prices per SKU and 满减 tiers, saved with their prices
through `campaign_create` / `campaign_update` after the service's own validators ran on the form."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from unfold.admin import TabularInline

from freshloop.core.admin_base import OperatorAdmin, domain_error_text, fen_budget_column
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.promotions.models import Campaign, CampaignKind, CampaignPrice, Channel
from freshloop.promotions.services import (
    CampaignSpec,
    campaign_create,
    campaign_tiers_validate,
    campaign_update,
    campaign_validate,
)


class CampaignForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        label="渠道", choices=Channel.choices, widget=forms.CheckboxSelectMultiple
    )
    tiers = forms.CharField(
        label="满减阶梯(JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='满减活动填写，单位分，门槛从低到高：[{"threshold_fen": 9900, "off_fen": 2000}, '
        '{"threshold_fen": 19900, "off_fen": 5000}]',
    )

    class Meta:
        model = Campaign
        fields = (
            "code",
            "name",
            "kind",
            "starts_at",
            "ends_at",
            "channels",
            "tiers",
            "products",
            "categories",
            "budget_fen",
            "is_active",
            "priority",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["tiers"] = json.dumps(self.instance.tiers or [], ensure_ascii=False)

    def clean_tiers(self) -> list[dict[str, int]]:
        raw = (self.cleaned_data.get("tiers") or "").strip()
        if not raw:
            return []
        try:
            value = json.loads(raw)
        except ValueError as error:
            raise ValidationError("满减阶梯不是有效的 JSON") from error
        try:
            return campaign_tiers_validate(value)
        except DomainError as error:
            raise ValidationError(error.text) from error

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if kind == CampaignKind.TIERED and not cleaned.get("tiers") and "tiers" not in self.errors:
            self.add_error("tiers", "满减活动至少需要一档")
        if kind == CampaignKind.FLASH_PRICE and (
            cleaned.get("tiers") or cleaned.get("products") or cleaned.get("categories")
        ):
            raise ValidationError("限时特价活动按 SKU 设活动价，不设满减阶梯或限定范围")
        if self.instance.pk:
            current = Campaign.objects.get(pk=self.instance.pk)
            if cleaned.get("code") not in (None, current.code):
                self.add_error("code", "编码创建后不能修改")
            budget = cleaned.get("budget_fen")
            if budget is not None and budget < current.spent_fen:
                self.add_error("budget_fen", "预算不能少于已用预算")
        return cleaned


class CampaignPriceFormSet(BaseInlineFormSet):
    """Runs the service's campaign validator with the parent form's fields and these prices."""

    def prices(self) -> dict[int, int]:
        result: dict[int, int] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("DELETE") or not data.get("sku"):
                continue
            result[data["sku"].pk] = data.get("price_fen") or 0
        return result

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        campaign: Campaign = self.instance
        if not campaign.kind or not campaign.starts_at or not campaign.ends_at:
            return  # the parent form reports its own errors
        skus = [
            form.cleaned_data["sku"].pk
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("sku")
        ]
        if len(skus) != len(set(skus)):
            raise ValidationError("同一 SKU 只能设置一个活动价")
        spec = CampaignSpec(
            code=campaign.code or "x",
            name=campaign.name or "x",
            kind=campaign.kind,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            channels=list(campaign.channels or ["shop"]),
            tiers=list(campaign.tiers or []),
            prices=self.prices(),
            budget_fen=campaign.budget_fen,
            priority=campaign.priority or 0,
        )
        try:
            campaign_validate(spec)
        except DomainError as error:
            raise ValidationError(domain_error_text(error)) from error


class CampaignPriceInline(TabularInline):
    model = CampaignPrice
    formset = CampaignPriceFormSet
    extra = 1
    fields = ("sku", "price_fen")
    autocomplete_fields = ("sku",)
    verbose_name_plural = "限时特价（SKU 活动价，单位分）"


@admin.register(Campaign)
class CampaignAdmin(OperatorAdmin):
    form = CampaignForm
    list_display = (
        "name",
        "code",
        "kind",
        "starts_at",
        "ends_at",
        "channel_list",
        "budget",
        "is_active",
        "priority",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")
    filter_horizontal = ("products", "categories")
    readonly_fields = ("spent_fen", "created_at", "updated_at")
    inlines = [CampaignPriceInline]

    @admin.display(description="渠道")
    def channel_list(self, obj: Campaign) -> str:
        labels = dict(Channel.choices)
        return "、".join(str(labels.get(c, c)) for c in obj.channels)

    budget = fen_budget_column("spent_fen", "budget_fen")

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        pass  # saved with its prices in save_related, through the service

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        prices: dict[int, int] = {}
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if isinstance(formset, CampaignPriceFormSet):
                prices.update(formset.prices())
        data = form.cleaned_data
        spec = CampaignSpec(
            code=data["code"],
            name=data["name"],
            kind=data["kind"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            channels=list(data["channels"]),
            tiers=data.get("tiers") or [],
            prices=prices,
            product_ids=[p.pk for p in data.get("products") or []],
            category_ids=[c.pk for c in data.get("categories") or []],
            budget_fen=data.get("budget_fen"),
            is_active=bool(data.get("is_active")),
            priority=data.get("priority") or 0,
        )
        actor = Actor.for_user(request.user)
        if change:
            saved = campaign_update(actor=actor, campaign=form.instance, spec=spec)
        else:
            saved = campaign_create(actor=actor, spec=spec)
        form.instance.pk = saved.pk
