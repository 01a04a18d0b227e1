from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from freshloop.core.admin_base import NoAddOrDeleteMixin, ReadOnlyAdmin
from freshloop.core.models import ApiKey, AuditLog, OutboxMessage, WorkerHeartbeat


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action", "actor_type", "target_type")
    search_fields = ("actor_label", "target_id", "request_id")
    date_hierarchy = "created_at"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    # `destination` is PII and stays out of the list; the payload never holds clear PII.
    list_display = ("id", "channel", "status", "attempts", "created_at", "sent_at", "last_error")
    list_filter = ("channel", "status")
    exclude = ("destination",)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("worker", "seen_at", "hostname")


@admin.register(ApiKey)
class ApiKeyAdmin(NoAddOrDeleteMixin, ModelAdmin):
    """Keys are created with `manage.py api_key_create` (the raw key is shown once there);
    here they are listed and can be switched off."""

    list_display = (
        "name",
        "prefix",
        "scopes",
        "is_active",
        "created_by",
        "created_at",
        "last_used_at",
    )
    list_filter = ("is_active",)
    fields = ("name", "prefix", "scopes", "is_active", "created_by", "created_at", "last_used_at")
    readonly_fields = ("name", "prefix", "scopes", "created_by", "created_at", "last_used_at")
