from __future__ import annotations

from django.contrib import admin

from freshloop.core.admin_base import ReadOnlyAdmin
from freshloop.messaging.models import SmsDelivery, WecomSandboxMessage


@admin.register(SmsDelivery)
class SmsDeliveryAdmin(ReadOnlyAdmin):
    # Written by the relay and the providers' receipts; the phone number stays on the outbox
    # row (encrypted) and is not shown here.
    list_display = (
        "message",
        "provider",
        "purpose",
        "status",
        "error_code",
        "submitted_at",
        "delivered_at",
    )
    list_filter = ("provider", "status", "purpose")
    search_fields = ("provider_message_id",)


@admin.register(WecomSandboxMessage)
class WecomSandboxMessageAdmin(ReadOnlyAdmin):
    # What the WeCom sandbox "sent"; written only by SandboxWecomClient.
    list_display = ("created_at", "kind", "staff_userid", "external_userid", "chat_id", "text")
    list_filter = ("kind",)
    search_fields = ("external_userid", "chat_id", "wecom_id", "staff_userid")
