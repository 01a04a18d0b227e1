from __future__ import annotations

from django.contrib import admin

from freshloop.core.admin_base import ReadOnlyAdmin
from freshloop.messaging.models import (
    MarketingConsent,
    MarketingDispatch,
    SmsDelivery,
    WecomSandboxMessage,
)


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


@admin.register(MarketingDispatch)
class MarketingDispatchAdmin(ReadOnlyAdmin):
    # Written only by the policy (`marketing_send`, the release job); held content is sealed
    # and not shown. Consent changes go through the services, which audit them.
    list_display = (
        "person",
        "channel",
        "message_class",
        "purpose",
        "source",
        "status",
        "reason",
        "scheduled_for",
        "created_at",
    )
    list_filter = ("channel", "message_class", "status", "reason_code")
    search_fields = ("source", "purpose", "dedupe_key")
    exclude = ("held_payload", "held_destination")


@admin.register(MarketingConsent)
class MarketingConsentAdmin(ReadOnlyAdmin):
    list_display = ("person", "channel", "opted_out", "source", "changed_at")
    list_filter = ("channel", "opted_out", "source")
