from __future__ import annotations

from django.contrib import admin

from freshloop.core.admin_base import ReadOnlyAdmin
from freshloop.messaging.models import SmsDelivery


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
