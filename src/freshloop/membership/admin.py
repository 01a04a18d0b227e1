"""Back office for membership: levels (editable), members and the points ledger (read-only),
and the audited "调整积分" form. Marketers and admins only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from unfold.admin import ModelAdmin

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.core.permissions import Role, require_role, user_has_role
from freshloop.membership.models import MemberLevel, Membership, PointsEntry
from freshloop.membership.services import member_level_save, points_adjust

MEMBERSHIP_ROLES = (Role.MARKETER,)
RECENT_ENTRIES_SHOWN = 50


class _MembershipRoleAdmin(ModelAdmin):
    """Visible to marketers and admins, whatever Django model permissions say."""

    def _allowed(self, request: HttpRequest) -> bool:
        return user_has_role(request.user, *MEMBERSHIP_ROLES)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(MemberLevel)
class MemberLevelAdmin(_MembershipRoleAdmin):
    list_display = (
        "sort_order",
        "code",
        "name",
        "spend_threshold",
        "min_points_earned",
        "discount_percent",
        "free_shipping",
        "points_multiplier_bp",
        "member_count",
    )
    list_display_links = ("code", "name")
    ordering = ("sort_order",)

    @admin.display(description="累计消费门槛")
    def spend_threshold(self, obj: MemberLevel) -> str:
        return format_fen(obj.min_lifetime_spend_fen)

    @admin.display(description="会员数")
    def member_count(self, obj: MemberLevel) -> int:
        return obj.members.count()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request)

    def save_model(self, request: HttpRequest, obj: MemberLevel, form: Any, change: bool) -> None:
        member_level_save(actor=Actor.for_user(request.user), level=obj)


class PointsAdjustForm(forms.Form):
    delta = forms.IntegerField(label="调整积分（负数为扣减）")
    reason = forms.CharField(label="原因", max_length=200)


@admin.register(Membership)
class MembershipAdmin(_MembershipRoleAdmin):
    list_display = (
        "one_id",
        "level",
        "points_balance",
        "lifetime_spend",
        "points_earned_total",
        "joined_at",
        "updated_at",
    )
    list_filter = ("level",)
    list_select_related = ("person", "level")
    search_fields = ("person__one_id",)
    search_help_text = "输入 OneID"
    readonly_fields = (
        "person",
        "level",
        "points_balance",
        "lifetime_spend",
        "points_earned_total",
        "joined_at",
        "updated_at",
    )
    exclude = ("lifetime_spend_fen",)
    actions = ["adjust_points"]
    change_form_after_template = "membership/admin/membership_tools.html"

    @admin.display(description="OneID", ordering="person__one_id")
    def one_id(self, obj: Membership) -> str:
        return obj.person.one_id

    @admin.display(description="累计消费", ordering="lifetime_spend_fen")
    def lifetime_spend(self, obj: Membership) -> str:
        return format_fen(obj.lifetime_spend_fen)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # memberships start with a person's first order or login

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # balances move only through the ledger (points_adjust for operators)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="membership_membership_adjust",
            )
        ]
        return custom + super().get_urls()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if object_id:
            membership = get_object_or_404(Membership, pk=object_id)
            extra_context["membership_obj"] = membership
            extra_context["recent_entries"] = PointsEntry.objects.filter(
                person_id=membership.person_id
            ).order_by("-seq")[:RECENT_ENTRIES_SHOWN]
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.action(description="调整积分")
    def adjust_points(self, request: HttpRequest, queryset: QuerySet[Membership]) -> Any:
        chosen = list(queryset.values_list("pk", flat=True)[:2])
        if len(chosen) != 1:
            self.message_user(request, "请只选择一位会员进行积分调整", messages.WARNING)
            return None
        url = reverse("admin:membership_membership_change", args=[chosen[0]])
        return HttpResponseRedirect(f"{url}#points-adjust")

    def adjust_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        membership = get_object_or_404(Membership, pk=pk)
        back = HttpResponseRedirect(reverse("admin:membership_membership_change", args=[pk]))
        if request.method != "POST":
            return back
        form = PointsAdjustForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "请填写调整数量和原因", messages.ERROR)
            return back
        try:
            require_role(request.user, *MEMBERSHIP_ROLES)
            entry = points_adjust(
                person_id=membership.person_id,
                delta=form.cleaned_data["delta"],
                reason=form.cleaned_data["reason"],
                actor=Actor.for_user(request.user),
            )
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
            return back
        self.message_user(
            request, f"已调整 {entry.delta:+d} 积分，余额 {entry.balance_after}", messages.SUCCESS
        )
        return back


@admin.register(PointsEntry)
class PointsEntryAdmin(_MembershipRoleAdmin):
    """The ledger is append-only: nothing here can be added, changed or deleted."""

    list_display = (
        "created_at",
        "one_id",
        "seq",
        "kind",
        "delta",
        "balance_after",
        "shortfall",
        "order_ref",
        "reason",
        "actor_label",
    )
    list_filter = ("kind",)
    list_select_related = ("person",)
    search_fields = ("person__one_id", "=order_ref", "=ref")
    search_help_text = "输入 OneID 或订单号"
    ordering = ("-created_at", "-pk")

    @admin.display(description="OneID", ordering="person__one_id")
    def one_id(self, obj: PointsEntry) -> str:
        return obj.person.one_id

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in PointsEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
