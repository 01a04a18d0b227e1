"""Back office of the data hub: event sources and their write keys, registered event schemas,
the state of the write-ahead buffer, and acquisition spend (获客花费). Tags and segments are
edited in the console, not here. Every write goes through a service (audited there)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import MoneyError, format_fen, yuan_to_fen
from freshloop.datahub.dashboards.errors import AcquisitionSpendInvalid
from freshloop.datahub.dashboards.services import (
    acquisition_spend_delete,
    acquisition_spend_record,
    acquisition_spend_validate,
    spend_channels,
)
from freshloop.datahub.ingestion.schemas import NAME_PATTERN, field_spec_validate
from freshloop.datahub.ingestion.services import (
    event_definition_save,
    event_source_create,
    event_source_set_active,
)
from freshloop.datahub.models import (
    AcquisitionSpend,
    BufferedEvent,
    EventDefinition,
    EventSource,
    SourceChannel,
)

# What the source list shows, and what the change form shows of an existing source.
_SOURCE_FIELDS = (
    "name",
    "channel",
    "key_prefix",
    "is_active",
    "created_by",
    "created_at",
    "last_used_at",
)


class EventSourceForm(forms.ModelForm):
    channel = forms.ChoiceField(
        label="渠道", choices=[c for c in SourceChannel.choices if c[0] != SourceChannel.SERVER]
    )

    class Meta:
        model = EventSource
        fields = ("name", "channel")


@admin.register(EventSource)
class EventSourceAdmin(ModelAdmin):
    """Adding a source creates its write key and shows it once (only a hash is stored)."""

    list_display = _SOURCE_FIELDS
    list_filter = ("channel", "is_active")
    actions = ("deactivate",)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = EventSourceForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("name", "channel")
        return _SOURCE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return ("name", "channel", "key_prefix", "created_by", "created_at", "last_used_at")

    def save_model(self, request: HttpRequest, obj: EventSource, form: Any, change: bool) -> None:
        actor = Actor.for_user(request.user)
        if change:
            event_source_set_active(source=obj, is_active=obj.is_active, actor=actor)
            return
        try:
            raw, created = event_source_create(actor=actor, name=obj.name, channel=obj.channel)
        except DomainError as error:
            messages.error(request, error.text)
            return
        obj.pk = created.pk
        messages.warning(request, f"写入密钥（只显示这一次，请妥善保存）：{raw}")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="停用所选来源")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[EventSource]) -> None:
        actor = Actor.for_user(request.user)
        for source in queryset:
            event_source_set_active(source=source, is_active=False, actor=actor)


class EventDefinitionForm(forms.ModelForm):
    class Meta:
        model = EventDefinition
        fields = ("name", "description", "fields", "is_active")

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not NAME_PATTERN.match(name):
            raise forms.ValidationError("事件名应为小写字母开头的 snake_case")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        problems = field_spec_validate(cleaned.get("fields", {}))
        if problems:
            raise forms.ValidationError(problems)
        return cleaned


@admin.register(EventDefinition)
class EventDefinitionAdmin(ModelAdmin):
    form = EventDefinitionForm
    list_display = ("name", "description", "is_active", "updated_at")
    search_fields = ("name",)

    def save_model(
        self, request: HttpRequest, obj: EventDefinition, form: Any, change: bool
    ) -> None:
        event_definition_save(definition=obj, actor=Actor.for_user(request.user))


@admin.register(BufferedEvent)
class BufferedEventAdmin(ModelAdmin):
    """Read-only view of the write-ahead buffer: pending rows are events not yet in the store."""

    list_display = ("event_id", "source", "received_at", "flushed_at")
    list_filter = ("source", ("flushed_at", admin.EmptyFieldListFilter))
    search_fields = ("event_id",)
    # The payload holds sealed identifiers only; still, operators have no reason to read it.
    exclude = ("payload",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- acquisition spend (获客花费) -----------------------------------------------------------------
# Operators enter what a channel or campaign cost; the dashboard divides it by the new customers
# it brought (DH-6). Amounts are entered in yuan and stored in fen. Records are not edited — a
# wrong one is deleted and entered again — and both go through `dashboards.services`, which
# validates and audits; the form runs the service's validator first so a mistake comes back on
# the form.

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
