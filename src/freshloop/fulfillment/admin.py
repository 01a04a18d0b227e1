from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from freshloop.core.admin_base import ReadOnlyAdmin, fen_column
from freshloop.core.audit import Actor
from freshloop.fulfillment.carrier_rates import (
    CREDENTIAL_SECRETS,
    carrier_credential_problems,
    carrier_credential_set,
)
from freshloop.fulfillment.models import (
    AfterSalesRule,
    Allocation,
    AutoDecision,
    Carrier,
    CarrierCredential,
    CarrierRate,
    CarrierSpeed,
    Excursion,
    ImportRun,
    Recall,
    ServiceTask,
    Shipment,
    SkuWeight,
    TelemetryDevice,
    WebhookEndpoint,
)


@admin.register(Carrier)
class CarrierAdmin(ModelAdmin):
    list_display = ["code", "name", "supports_chilled", "supports_frozen", "is_active"]


@admin.register(Allocation)
class AllocationAdmin(ModelAdmin):
    list_display = ["order", "status", "cost_fen", "promised_on", "decided_at"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in Allocation._meta.fields]


@admin.register(Shipment)
class ShipmentAdmin(ModelAdmin):
    list_display = ["shipment_no", "order", "warehouse", "carrier", "storage", "status"]
    list_filter = ["status", "storage"]
    readonly_fields = [field.name for field in Shipment._meta.fields]


# --- automated after-sales, recalls, integration: read-only here (written through the API,
# whose services validate and audit) ----------------------------------------------------------


@admin.register(AfterSalesRule)
class AfterSalesRuleAdmin(ReadOnlyAdmin):
    list_display = ["name", "priority", "trigger", "action", "is_active", "approval_above_fen"]
    list_filter = ["trigger", "action", "is_active"]


@admin.register(AutoDecision)
class AutoDecisionAdmin(ReadOnlyAdmin):
    amount = fen_column("amount_fen", "金额")
    list_display = ["created_at", "trigger", "order", "status", "action", "amount", "explanation"]
    list_filter = ["status", "trigger", "action"]
    search_fields = ["trigger_key", "refund_no"]


@admin.register(ServiceTask)
class ServiceTaskAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "title", "status"]
    list_filter = ["status"]


@admin.register(Recall)
class RecallAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "batch", "reason", "created_by", "processed"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "url", "is_active", "created_at"]
    exclude = ["secret"]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "source", "dry_run", "applied", "rows", "actor"]
    list_filter = ["kind", "applied", "dry_run"]


# --- shipments & tracking, telemetry ---


@admin.register(TelemetryDevice)
class TelemetryDeviceAdmin(ModelAdmin):
    list_display = ["code", "name", "shipment", "is_active", "last_seen_at"]
    list_filter = ["is_active"]
    search_fields = ["code"]
    # The key hash is useless to read and must not be edited by hand.
    exclude = ["key_hash"]
    readonly_fields = ["key_prefix", "created_at", "last_seen_at"]


@admin.register(Excursion)
class ExcursionAdmin(ModelAdmin):
    list_display = ["shipment", "storage", "started_at", "minutes", "peak_celsius", "announced"]
    list_filter = ["storage"]
    readonly_fields = [field.name for field in Excursion._meta.fields]


# --- allocation (issue 16, FF-1): rate tables, speeds, unit weights ----------------------------


@admin.register(CarrierRate)
class CarrierRateAdmin(ModelAdmin):
    list_display = [
        "carrier",
        "zone",
        "destination",
        "first_weight_g",
        "first_fee_fen",
        "extra_per_kg_fen",
        "cold_surcharge_fen",
    ]
    list_filter = ["carrier", "zone"]


@admin.register(CarrierSpeed)
class CarrierSpeedAdmin(ModelAdmin):
    list_display = ["carrier", "speed_factor", "days_offset"]


@admin.register(SkuWeight)
class SkuWeightAdmin(ModelAdmin):
    list_display = ["sku", "weight_g"]
    raw_id_fields = ["sku"]


class CarrierCredentialForm(forms.ModelForm):
    """The secrets are write-only: never shown back (not even masked), and left blank they
    keep what is stored — so a page view or a screenshot leaks nothing, and rotating one
    secret does not mean typing the others again."""

    class Meta:
        model = CarrierCredential
        fields = [
            "carrier",
            "webhook_secret",
            "kuaidi100_company",
            "kuaidi100_salt",
            "kuaidi100_key",
        ]
        widgets = {
            name: forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            for name in CREDENTIAL_SECRETS
        }
        help_texts = {
            "webhook_secret": "通用推送的 HMAC-SHA256 密钥（16–128 位）。留空则保持不变",
            "kuaidi100_company": "快递100 的公司编码，如 shunfeng、jd",
            "kuaidi100_salt": "订阅推送时设置的 salt。留空则保持不变",
            "kuaidi100_key": "快递100 授权 key。留空则保持不变",
        }

    clear_secrets = forms.MultipleChoiceField(
        label="清除密钥",
        required=False,
        choices=[
            ("webhook_secret", "推送签名密钥"),
            ("kuaidi100_salt", "快递100签名盐"),
            ("kuaidi100_key", "快递100授权码"),
        ],
        widget=forms.CheckboxSelectMultiple,
        help_text="勾选的密钥将被清空（该承运商的对应推送将不再被接受）",
    )

    def changes(self) -> dict[str, str]:
        """What to write: typed secrets, the company code, and the secrets ticked to clear."""
        data = self.cleaned_data
        changes = {name: data[name] for name in CREDENTIAL_SECRETS if data.get(name)}
        changes["kuaidi100_company"] = data.get("kuaidi100_company") or ""
        for name in data.get("clear_secrets") or []:
            changes[name] = ""
        return changes

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field, message in carrier_credential_problems(self.changes()):
            self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(CarrierCredential)
class CarrierCredentialAdmin(ModelAdmin):
    form = CarrierCredentialForm
    list_display = ["carrier", "kuaidi100_company", "webhook_secret_set", "kuaidi100_key_set"]

    @admin.display(description="推送签名密钥", boolean=True)
    def webhook_secret_set(self, credential: CarrierCredential) -> bool:
        return bool(credential.webhook_secret)

    @admin.display(description="快递100已配置", boolean=True)
    def kuaidi100_key_set(self, credential: CarrierCredential) -> bool:
        return bool(credential.kuaidi100_key and credential.kuaidi100_salt)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["carrier"] if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: CarrierCredential, form: Any, change: bool
    ) -> None:
        # Through the service (the form checked the same rules): audited by field name, never
        # by value. `obj` itself is not saved: the form put blanks in the secrets left empty.
        saved = carrier_credential_set(
            carrier=obj.carrier, changes=form.changes(), actor=Actor.for_user(request.user)
        )
        obj.pk = saved.pk
