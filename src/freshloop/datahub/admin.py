"""Back office of the data hub: event sources and their write keys, registered event schemas,
and the state of the write-ahead buffer. Acquisition spend lives in `admin_spend` (imported
here so the admin registers it); tags and segments are edited in the console, not here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.datahub import (
    admin_spend,  # noqa: F401  (registers the spend screens)
    event_schemas,
)
from freshloop.datahub.ingestion import event_source_create
from freshloop.datahub.models import BufferedEvent, EventDefinition, EventSource, SourceChannel


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

    list_display = (
        "name",
        "channel",
        "key_prefix",
        "is_active",
        "created_by",
        "created_at",
        "last_used_at",
    )
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
        return (
            "name",
            "channel",
            "key_prefix",
            "is_active",
            "created_by",
            "created_at",
            "last_used_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return ("name", "channel", "key_prefix", "created_by", "created_at", "last_used_at")

    def save_model(self, request: HttpRequest, obj: EventSource, form: Any, change: bool) -> None:
        actor = Actor.for_user(request.user)
        if change:
            audit_record(
                actor=actor,
                action="datahub.source_update",
                target=obj,
                after={"is_active": obj.is_active},
            )
            obj.save(update_fields=["is_active"])
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
            source.is_active = False
            source.save(update_fields=["is_active"])
            audit_record(
                actor=actor,
                action="datahub.source_update",
                target=source,
                after={"is_active": False},
            )


class EventDefinitionForm(forms.ModelForm):
    class Meta:
        model = EventDefinition
        fields = ("name", "description", "fields", "is_active")

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not event_schemas.NAME_PATTERN.match(name):
            raise forms.ValidationError("事件名应为小写字母开头的 snake_case")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        problems = event_schemas.field_spec_validate(cleaned.get("fields", {}))
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
        obj.updated_at = clock.now()
        super().save_model(request, obj, form, change)
        audit_record(
            actor=Actor.for_user(request.user),
            action="datahub.event_definition_save",
            target=obj,
            after={"name": obj.name, "fields": obj.fields, "is_active": obj.is_active},
        )
        event_schemas.definitions_changed()


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
