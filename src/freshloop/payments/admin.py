"""Back office for payments: what was paid, every callback received, and refunds. Read-only:
money moves only through provider callbacks and the orders module's refund approval."""

from __future__ import annotations

from django.contrib import admin

from freshloop.core.admin_base import ReadOnlyAdmin, ReadOnlyInline
from freshloop.payments.models import (
    Payment,
    PaymentContract,
    PaymentNotificationLog,
    Refund,
    WechatPlatformCertificate,
)


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("refund_no", "origin", "amount_fen", "status", "provider_refund_id", "refunded_at")
    verbose_name_plural = "退款"


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "payment_no",
        "order",
        "provider",
        "client_kind",
        "amount_fen",
        "status",
        "refunded_fen",
        "created_at",
        "paid_at",
        "last_queried_at",
    )
    list_filter = ("provider", "status", "client_kind")
    search_fields = ("payment_no", "order__order_no", "transaction_id")
    date_hierarchy = "created_at"
    exclude = ("prompt",)  # JSAPI signatures are of no use to an operator
    inlines = [RefundInline]


@admin.register(PaymentNotificationLog)
class PaymentNotificationLogAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "provider",
        "kind",
        "verified",
        "outcome",
        "out_trade_no",
        "transaction_id",
        "detail",
    )
    list_filter = ("provider", "kind", "verified", "outcome")
    search_fields = ("out_trade_no", "transaction_id", "body_sha256")
    date_hierarchy = "received_at"


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = (
        "refund_no",
        "payment",
        "origin",
        "amount_fen",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "refunded_at",
    )
    list_filter = ("status", "origin")
    search_fields = ("refund_no", "payment__payment_no", "payment__order__order_no")
    date_hierarchy = "created_at"


@admin.register(WechatPlatformCertificate)
class WechatPlatformCertificateAdmin(ReadOnlyAdmin):
    """Fetched by the certificate download API; trusted by serial until they expire."""

    list_display = ("serial_no", "effective_at", "expires_at", "fetched_at")
    search_fields = ("serial_no",)


@admin.register(PaymentContract)
class PaymentContractAdmin(ReadOnlyAdmin):
    """Contracts (委托代扣 / 周期扣款) change only through the customer and the provider's
    verified callbacks; operators look them up when a customer asks about a charge."""

    list_display = (
        "contract_no",
        "person",
        "provider",
        "status",
        "provider_contract_id",
        "signed_at",
        "terminated_at",
        "termination_detail",
    )
    list_filter = ("provider", "status")
    search_fields = ("contract_no", "provider_contract_id", "person__one_id")
    date_hierarchy = "created_at"
    exclude = ("prompt",)
