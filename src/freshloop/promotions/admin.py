"""Back office for marketers: coupon templates (with redeem codes and "发放给指定用户"),
issued coupons (read-only), and campaigns (flash prices per SKU, 满减 tiers: `admin_campaigns`).

Every write goes through promotions.services; the forms run the services' own validators
first so a mistake comes back as a form error, not a failed request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.admin import TabularInline

from freshloop.core.admin_base import (
    OperatorAdmin,
    ReadOnlyMixin,
    domain_error_text,
    fen_budget_column,
    fen_column,
    shanghai_minute,
)
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.promotions import admin_campaigns  # noqa: F401  (registers the campaign screens)
from freshloop.promotions.models import (
    Coupon,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    RedeemCode,
)
from freshloop.promotions.pricing import coupon_label, zhe_label
from freshloop.promotions.selectors import coupon_offer, people_resolve
from freshloop.promotions.services import (
    CouponTemplateSpec,
    coupon_issue,
    coupon_template_create,
    coupon_template_update,
    coupon_template_update_check,
    coupon_template_validate,
    coupon_void,
    redeem_code_create,
    redeem_code_update,
)

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

MAX_ISSUE_ENTRIES = 5000


# --- coupon templates -----------------------------------------------------------------------

TEMPLATE_COUNTERS = ("issued_count", "spent_fen", "created_at", "updated_at")
TEMPLATE_FIELDSETS: _FieldsetSpec = (
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


class CouponTemplateForm(forms.ModelForm):
    class Meta:
        model = CouponTemplate
        # The form edits what the page shows but the counters: every field of the spec.
        fields = [
            name for name in flatten_fieldsets(TEMPLATE_FIELDSETS) if name not in TEMPLATE_COUNTERS
        ]

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
                raise ValidationError(domain_error_text(error)) from error
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
class CouponTemplateAdmin(OperatorAdmin):
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
    readonly_fields = TEMPLATE_COUNTERS
    inlines = [RedeemCodeInline]
    actions = ["issue_to_people"]
    fieldsets = TEMPLATE_FIELDSETS
    tool_views = ("issue",)
    budget = fen_budget_column("spent_fen", "budget_fen")

    @admin.display(description="面额")
    def face_value(self, obj: CouponTemplate) -> str:
        return coupon_label_for_template(obj)

    @admin.display(description="有效期")
    def validity(self, obj: CouponTemplate) -> str:
        parts = []
        if obj.valid_until:
            parts.append(f"至 {shanghai_minute(obj.valid_until)}")
        if obj.valid_days:
            parts.append(f"领取后 {obj.valid_days} 天")
        return "，".join(parts)

    @admin.display(description="已发放/总量")
    def issued(self, obj: CouponTemplate) -> str:
        return f"{obj.issued_count} / {obj.total_limit if obj.total_limit else '不限'}"

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
                    return self.change_page(template.pk)
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
class CouponAdmin(ReadOnlyMixin, OperatorAdmin):
    """Coupons are issued from a template ("发放给指定用户"), never typed in; the one change
    is voiding an unused one, through `coupon_void`."""

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
    discount = fen_column("discount_fen", "优惠金额", blank_when_zero=True)

    @admin.display(description="规则")
    def rule(self, obj: Coupon) -> str:
        return coupon_label(coupon_offer(obj))

    @admin.action(description="作废所选未使用的优惠券", permissions=["view"])
    def void(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> None:
        if not request.user.has_perm("promotions.change_coupontemplate"):
            self.message_user(request, "没有作废优惠券的权限", messages.ERROR)
            return
        actor = Actor.for_user(request.user)
        done = self.write_each(
            request,
            queryset.filter(status=CouponStatus.AVAILABLE).order_by("pk"),
            lambda coupon: coupon_void(actor=actor, coupon=coupon, reason="后台作废"),
            refused=lambda coupon, error: f"{coupon.code}：{error.text}",
            level=messages.WARNING,
        )
        self.message_user(request, f"已作废 {done} 张", messages.SUCCESS)
