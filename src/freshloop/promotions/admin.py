"""Back office for marketers: coupon templates (with redeem codes and "发放给指定用户"),
issued coupons (read-only), and campaigns (flash prices per SKU, 满减 tiers).

Every write goes through promotions.services; the forms run the services' own validators
first so a mistake comes back as a form error, not a failed request.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from unfold.admin import ModelAdmin, TabularInline

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.promotions.models import (
    Campaign,
    CampaignKind,
    CampaignPrice,
    Channel,
    Coupon,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    RedeemCode,
)
from freshloop.promotions.pricing import coupon_label, zhe_label
from freshloop.promotions.selectors import coupon_offer, people_resolve
from freshloop.promotions.services import (
    CampaignSpec,
    CouponTemplateSpec,
    campaign_create,
    campaign_tiers_validate,
    campaign_update,
    campaign_validate,
    coupon_issue,
    coupon_template_create,
    coupon_template_update,
    coupon_template_update_check,
    coupon_template_validate,
    coupon_void,
    redeem_code_create,
    redeem_code_update,
)

MAX_ISSUE_ENTRIES = 5000


def _error_text(error: DomainError) -> str:
    detail = error.detail if isinstance(error.detail, dict) else {}
    field = detail.get("field")
    return f"{error.text}（{field}）" if field else error.text


class ServiceSaveAdmin(ModelAdmin):
    """Saves go through services, which may still refuse after the form validated (a code taken
    a moment ago by someone else, a limit reached meanwhile): show that refusal on the form
    instead of a server error. The admin's transaction has rolled everything back by then."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, _error_text(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# --- coupon templates -----------------------------------------------------------------------


class CouponTemplateForm(forms.ModelForm):
    class Meta:
        model = CouponTemplate
        fields = (
            "code",
            "name",
            "description",
            "kind",
            "amount_off_fen",
            "percent_off_bp",
            "cap_fen",
            "threshold_fen",
            "live_only",
            "live_session_id",
            "new_customer_only",
            "valid_from",
            "valid_until",
            "valid_days",
            "per_user_limit",
            "total_limit",
            "budget_fen",
            "products",
            "categories",
            "is_active",
            "stackable_with_campaigns",
        )

    def spec(self) -> CouponTemplateSpec:
        data = self.cleaned_data
        return CouponTemplateSpec(
            code=data["code"],
            name=data["name"],
            description=data.get("description") or "",
            kind=data["kind"],
            amount_off_fen=data.get("amount_off_fen") or 0,
            percent_off_bp=data.get("percent_off_bp") or 0,
            cap_fen=data.get("cap_fen"),
            threshold_fen=data.get("threshold_fen") or 0,
            live_only=bool(data.get("live_only")),
            live_session_id=data.get("live_session_id") or "",
            new_customer_only=bool(data.get("new_customer_only")),
            valid_from=data.get("valid_from"),
            valid_until=data.get("valid_until"),
            valid_days=data.get("valid_days"),
            per_user_limit=data.get("per_user_limit") or 0,
            total_limit=data.get("total_limit"),
            budget_fen=data.get("budget_fen"),
            product_ids=[p.pk for p in data.get("products") or []],
            category_ids=[c.pk for c in data.get("categories") or []],
            is_active=bool(data.get("is_active")),
            stackable_with_campaigns=bool(data.get("stackable_with_campaigns")),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            try:
                spec = self.spec()
                coupon_template_validate(spec)
                if self.instance.pk:
                    current = CouponTemplate.objects.get(pk=self.instance.pk)
                    coupon_template_update_check(template=current, spec=spec)
            except DomainError as error:
                raise ValidationError(_error_text(error)) from error
        return cleaned


class RedeemCodeInline(TabularInline):
    model = RedeemCode
    extra = 0
    fields = ("code", "max_claims", "claimed_count", "valid_until", "is_active", "created_at")
    readonly_fields = ("claimed_count", "created_at")
    can_delete = False
    verbose_name_plural = "兑换码（用户输入即可领券）"


class IssueForm(forms.Form):
    entries = forms.CharField(label="用户（OneID 或手机号）", widget=forms.Textarea)
    note = forms.CharField(label="备注（发放批次）", max_length=64, required=False)

    def entry_list(self) -> list[str]:
        return [e for e in re.split(r"[\s,，;；]+", self.cleaned_data["entries"]) if e]

    def clean_entries(self) -> str:
        value = str(self.cleaned_data["entries"])
        count = len([e for e in re.split(r"[\s,，;；]+", value) if e])
        if count == 0:
            raise ValidationError("请至少填写一个用户")
        if count > MAX_ISSUE_ENTRIES:
            raise ValidationError(f"单次最多发放 {MAX_ISSUE_ENTRIES} 人，请分批或使用人群发放")
        return value


@admin.register(CouponTemplate)
class CouponTemplateAdmin(ServiceSaveAdmin):
    form = CouponTemplateForm
    list_display = (
        "name",
        "code",
        "kind",
        "face_value",
        "validity",
        "issued",
        "budget",
        "live_only",
        "new_customer_only",
        "is_active",
    )
    list_filter = ("kind", "is_active", "live_only", "new_customer_only")
    search_fields = ("name", "code", "redeem_codes__code")
    filter_horizontal = ("products", "categories")
    readonly_fields = ("issued_count", "spent_fen", "created_at", "updated_at")
    inlines = [RedeemCodeInline]
    actions = ["issue_to_people"]
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "kind", "is_active")}),
        (
            "面额（单位：分；折扣单位：万分之一）",
            {"fields": ("amount_off_fen", "percent_off_bp", "cap_fen", "threshold_fen")},
        ),
        (
            "使用范围",
            {
                "fields": (
                    "live_only",
                    "live_session_id",
                    "new_customer_only",
                    "stackable_with_campaigns",
                    "products",
                    "categories",
                )
            },
        ),
        ("有效期", {"fields": ("valid_from", "valid_until", "valid_days")}),
        (
            "数量与预算",
            {
                "fields": (
                    "per_user_limit",
                    "total_limit",
                    "issued_count",
                    "budget_fen",
                    "spent_fen",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    @admin.display(description="面额")
    def face_value(self, obj: CouponTemplate) -> str:
        return coupon_label_for_template(obj)

    @admin.display(description="有效期")
    def validity(self, obj: CouponTemplate) -> str:
        parts = []
        if obj.valid_until:
            parts.append(f"至 {obj.valid_until:%Y-%m-%d %H:%M}")
        if obj.valid_days:
            parts.append(f"领取后 {obj.valid_days} 天")
        return "，".join(parts)

    @admin.display(description="已发放/总量")
    def issued(self, obj: CouponTemplate) -> str:
        return f"{obj.issued_count} / {obj.total_limit if obj.total_limit else '不限'}"

    @admin.display(description="已用/预算")
    def budget(self, obj: CouponTemplate) -> str:
        limit = format_fen(obj.budget_fen) if obj.budget_fen is not None else "不限"
        return f"{format_fen(obj.spent_fen)} / {limit}"

    def save_model(
        self, request: HttpRequest, obj: CouponTemplate, form: Any, change: bool
    ) -> None:
        actor = Actor.for_user(request.user)
        spec = form.spec()
        if change:
            saved = coupon_template_update(actor=actor, template=obj, spec=spec)
        else:
            saved = coupon_template_create(actor=actor, spec=spec)
        obj.pk = saved.pk
        obj.issued_count, obj.spent_fen = saved.issued_count, saved.spent_fen
        obj.created_at, obj.updated_at = saved.created_at, saved.updated_at

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # products/categories were set by the service; redeem codes go through theirs.
        actor = Actor.for_user(request.user)
        template = form.instance
        for formset in formsets:
            # the admin's change message reads these; the service did the saving
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for inline_form in formset.forms:
                if not inline_form.has_changed() or not inline_form.cleaned_data:
                    continue
                data = inline_form.cleaned_data
                existing = inline_form.instance.pk
                if existing and "code" in inline_form.changed_data:
                    self.message_user(request, "兑换码创建后不能修改，请新建一个", messages.ERROR)
                elif existing:
                    redeem_code_update(
                        actor=actor,
                        redeem_code=inline_form.instance,
                        max_claims=data.get("max_claims"),
                        valid_until=data.get("valid_until"),
                        is_active=bool(data.get("is_active")),
                    )
                else:
                    try:
                        redeem_code_create(
                            actor=actor,
                            template=template,
                            code=data["code"],
                            max_claims=data.get("max_claims"),
                            valid_until=data.get("valid_until"),
                            is_active=bool(data.get("is_active")),
                        )
                    except DomainError as error:
                        self.message_user(
                            request, f"兑换码 {data['code']}：{error.text}", messages.ERROR
                        )

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/issue/",
                self.admin_site.admin_view(self.issue_view),
                name="promotions_coupontemplate_issue",
            )
        ]
        return custom + super().get_urls()

    @admin.action(description="发放给指定用户")
    def issue_to_people(
        self, request: HttpRequest, queryset: QuerySet[CouponTemplate]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "请只选择一个优惠券模板", messages.WARNING)
            return None
        template = queryset.get()
        return HttpResponseRedirect(
            reverse("admin:promotions_coupontemplate_issue", args=[template.pk])
        )

    def issue_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(CouponTemplate, pk=pk)
        if not self.has_change_permission(request, template):
            self.message_user(request, "没有发放优惠券的权限", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:promotions_coupontemplate_changelist"))
        unknown: list[str] = []
        form = IssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            resolved = people_resolve(entries=form.entry_list())
            unknown = resolved.unknown
            if not resolved.people:
                form.add_error("entries", "没有找到任何用户")
            else:
                try:
                    result = coupon_issue(
                        template=template,
                        people=resolved.people,
                        source=CouponSource.MANUAL,
                        source_ref=form.cleaned_data["note"] or f"admin:{request.user.pk}",
                        actor=Actor.for_user(request.user),
                    )
                except DomainError as error:
                    form.add_error(None, error.text)
                else:
                    summary = f"已发放 {len(result.issued)} 张"
                    if result.skipped:
                        reasons: dict[str, int] = {}
                        for skip in result.skipped:
                            reasons[skip.label] = reasons.get(skip.label, 0) + 1
                        summary += "；跳过 " + "，".join(f"{k} {v} 人" for k, v in reasons.items())
                    if unknown:
                        summary += f"；未找到 {len(unknown)} 个用户：" + "、".join(unknown[:20])
                    self.message_user(
                        request,
                        summary,
                        messages.SUCCESS if result.issued else messages.WARNING,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:promotions_coupontemplate_change", args=[template.pk])
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": "发放给指定用户",
            "opts": self.model._meta,
            "template_obj": template,
            "form": form,
            "unknown": unknown,
        }
        return TemplateResponse(request, "promotions/admin/issue.html", context)


def coupon_label_for_template(template: CouponTemplate) -> str:
    if template.kind == "percent":
        cap = f"，最多减{format_fen(template.cap_fen)}" if template.cap_fen else ""
        return f"{zhe_label(template.percent_off_bp)}折{cap}"
    if template.kind == "fixed":
        return f"减{format_fen(template.amount_off_fen)}"
    if template.kind == "threshold":
        return f"满{format_fen(template.threshold_fen)}减{format_fen(template.amount_off_fen)}"
    return "免运费"


# --- issued coupons -------------------------------------------------------------------------


@admin.register(Coupon)
class CouponAdmin(ModelAdmin):
    list_display = (
        "code",
        "template",
        "person",
        "status",
        "source",
        "valid_until",
        "discount",
        "used_order_ref",
        "issued_at",
    )
    list_filter = ("status", "source", "template")
    search_fields = ("code", "person__one_id", "used_order_ref", "locked_order_ref")
    list_select_related = ("template", "person")
    readonly_fields = (
        "code",
        "template",
        "person",
        "status",
        "valid_from",
        "valid_until",
        "source",
        "source_ref",
        "locked_order_ref",
        "used_order_ref",
        "discount_fen",
        "issued_at",
        "locked_at",
        "used_at",
        "updated_at",
        "rule",
    )
    actions = ["void"]

    @admin.display(description="优惠金额", ordering="discount_fen")
    def discount(self, obj: Coupon) -> str:
        return format_fen(obj.discount_fen) if obj.discount_fen else ""

    @admin.display(description="规则")
    def rule(self, obj: Coupon) -> str:
        return coupon_label(coupon_offer(obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # coupons are issued from a template ("发放给指定用户"), never typed in

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="作废所选未使用的优惠券", permissions=["view"])
    def void(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> None:
        if not request.user.has_perm("promotions.change_coupontemplate"):
            self.message_user(request, "没有作废优惠券的权限", messages.ERROR)
            return
        actor = Actor.for_user(request.user)
        done = 0
        for coupon in queryset.filter(status=CouponStatus.AVAILABLE).order_by("pk"):
            try:
                coupon_void(actor=actor, coupon=coupon, reason="后台作废")
                done += 1
            except DomainError as error:
                self.message_user(request, f"{coupon.code}：{error.text}", messages.WARNING)
        self.message_user(request, f"已作废 {done} 张", messages.SUCCESS)


# --- campaigns ------------------------------------------------------------------------------


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
            raise ValidationError(_error_text(error)) from error


class CampaignPriceInline(TabularInline):
    model = CampaignPrice
    formset = CampaignPriceFormSet
    extra = 1
    fields = ("sku", "price_fen")
    autocomplete_fields = ("sku",)
    verbose_name_plural = "限时特价（SKU 活动价，单位分）"


@admin.register(Campaign)
class CampaignAdmin(ServiceSaveAdmin):
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

    @admin.display(description="已用/预算")
    def budget(self, obj: Campaign) -> str:
        limit = format_fen(obj.budget_fen) if obj.budget_fen is not None else "不限"
        return f"{format_fen(obj.spent_fen)} / {limit}"

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
