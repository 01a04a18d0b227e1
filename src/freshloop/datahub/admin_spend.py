"""Back office for acquisition spend (获客花费): operators enter what a channel or campaign
cost, the dashboard divides it by the new customers it brought (DH-6).

Amounts are entered in yuan and stored in fen. Records are not edited — a wrong one is deleted
and entered again — and both go through `datahub.spend`, which validates and audits; the form
runs the service's validator first so a mistake comes back on the form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from freshloop.core.audit import Actor
from freshloop.core.money import MoneyError, format_fen, yuan_to_fen
from freshloop.datahub.models import AcquisitionSpend
from freshloop.datahub.spend import (
    AcquisitionSpendInvalid,
    acquisition_spend_delete,
    acquisition_spend_record,
    acquisition_spend_validate,
    spend_channels,
)

_FORM_FIELDS = {"channel", "campaign", "starts_on", "ends_on", "amount_fen"}


class AcquisitionSpendForm(forms.ModelForm):
    channel = forms.ChoiceField(label="渠道", choices=spend_channels)
    amount_yuan = forms.DecimalField(
        label="花费(元)", min_value=Decimal("0.01"), max_digits=14, decimal_places=2
    )

    class Meta:
        model = AcquisitionSpend
        fields = ("channel", "campaign", "starts_on", "ends_on", "note")
        help_texts = {
            "campaign": "可留空；单场直播的投放请填该场次编码，看板会把它与该场带来的新客对应",
            "ends_on": "包含当天；跨统计周期的花费按天数分摊",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            cleaned["amount_fen"] = yuan_to_fen(cleaned["amount_yuan"])
            acquisition_spend_validate(
                channel=cleaned["channel"],
                campaign=cleaned.get("campaign") or "",
                starts_on=cleaned["starts_on"],
                ends_on=cleaned["ends_on"],
                amount_fen=cleaned["amount_fen"],
            )
        except MoneyError:
            self.add_error("amount_yuan", "金额格式不正确")
        except AcquisitionSpendInvalid as error:
            field = error.detail.get("field") if isinstance(error.detail, dict) else None
            if field == "amount_fen":
                field = "amount_yuan"
            self.add_error(field if field in _FORM_FIELDS | {"amount_yuan"} else None, error.text)
        return cleaned


@admin.register(AcquisitionSpend)
class AcquisitionSpendAdmin(ModelAdmin):
    form = AcquisitionSpendForm
    list_display = (
        "channel",
        "campaign",
        "starts_on",
        "ends_on",
        "amount",
        "created_by",
        "created_at",
    )
    list_filter = ("channel",)
    search_fields = ("campaign", "note")
    date_hierarchy = "starts_on"

    @admin.display(description="花费", ordering="amount_fen")
    def amount(self, obj: AcquisitionSpend) -> str:
        return format_fen(obj.amount_fen)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("channel", "campaign", "starts_on", "ends_on", "amount_yuan", "note")
        return (
            "channel",
            "campaign",
            "starts_on",
            "ends_on",
            "amount",
            "note",
            "created_by",
            "created_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Spend records are not edited: delete the wrong one and enter it again (both audited).
        return False

    def save_model(
        self, request: HttpRequest, obj: AcquisitionSpend, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        saved = acquisition_spend_record(
            channel=data["channel"],
            campaign=data.get("campaign") or "",
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            amount_fen=data["amount_fen"],
            note=data.get("note") or "",
            actor=Actor.for_user(request.user),
        )
        obj.pk = saved.pk
        obj.amount_fen, obj.created_by, obj.created_at = (
            saved.amount_fen,
            saved.created_by,
            saved.created_at,
        )

    def delete_model(self, request: HttpRequest, obj: AcquisitionSpend) -> None:
        acquisition_spend_delete(spend=obj, actor=Actor.for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AcquisitionSpend]) -> None:
        actor = Actor.for_user(request.user)
        for spend in queryset.order_by("pk"):
            acquisition_spend_delete(spend=spend, actor=actor)
