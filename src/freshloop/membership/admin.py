"""Back office for membership: levels (editable), members and the points ledger (read-only),
and the audited "调整积分" form. Marketers and admins only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from freshloop.core.admin_base import OperatorAdmin, ReadOnlyMixin, fen_column, one_id_column
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role, user_has_role
from freshloop.membership.models import MemberLevel, Membership, PointsEntry
from freshloop.membership.services import member_level_save, points_adjust

MEMBERSHIP_ROLES = (Role.MARKETER,)
RECENT_ENTRIES_SHOWN = 50
# What a membership shows, in the list and on its page, after whose it is.
MEMBERSHIP_FIGURES = (
    "level",
    "points_balance",
    "lifetime_spend",
    "points_earned_total",
    "joined_at",
    "updated_at",
)


class _MembershipRoleAdmin(OperatorAdmin):
    """Visible to marketers and admins, whatever Django model permissions say; nothing is
    deleted. Levels are edited here; members and the ledger add `ReadOnlyMixin`."""

    def _allowed(self, request: HttpRequest) -> bool:
        return user_has_role(request.user, *MEMBERSHIP_ROLES)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
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

    spend_threshold = fen_column("min_lifetime_spend_fen", "累计消费门槛", sortable=False)

    @admin.display(description="会员数")
    def member_count(self, obj: MemberLevel) -> int:
        return obj.members.count()

    def save_model(self, request: HttpRequest, obj: MemberLevel, form: Any, change: bool) -> None:
        member_level_save(actor=Actor.for_user(request.user), level=obj)


class PointsAdjustForm(forms.Form):
    delta = forms.IntegerField(label="调整积分（负数为扣减）")
    reason = forms.CharField(label="原因", max_length=200)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyMixin, _MembershipRoleAdmin):
    """Memberships start with a person's first order or login; balances move only through the
    ledger (`points_adjust`, the "调整积分" tool below the page, for operators)."""

    list_display = ("one_id", *MEMBERSHIP_FIGURES)
    list_filter = ("level",)
    list_select_related = ("person", "level")
    search_fields = ("person__one_id",)
    search_help_text = "输入 OneID"
    readonly_fields = ("person", *MEMBERSHIP_FIGURES)
    exclude = ("lifetime_spend_fen",)
    actions = ["adjust_points"]
    change_form_after_template = "membership/admin/membership_tools.html"
    tool_views = ("adjust",)
    one_id = one_id_column()
    lifetime_spend = fen_column("lifetime_spend_fen", "累计消费")

    def tools_context(self, request: HttpRequest, obj: Membership) -> dict[str, Any]:
        return {
            "membership_obj": obj,
            "recent_entries": PointsEntry.objects.filter(person_id=obj.person_id).order_by("-seq")[
                :RECENT_ENTRIES_SHOWN
            ],
        }

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
        form = PointsAdjustForm(request.POST)
        if request.method == "POST" and not form.is_valid():
            self.message_user(request, "请填写调整数量和原因", messages.ERROR)
            return self.change_page(pk)

        def adjust(actor: Actor) -> str:
            entry = points_adjust(
                person_id=membership.person_id,
                delta=form.cleaned_data["delta"],
                reason=form.cleaned_data["reason"],
                actor=actor,
            )
            return f"已调整 {entry.delta:+d} 积分，余额 {entry.balance_after}"

        return self.tool_post(request, pk, roles=MEMBERSHIP_ROLES, write=adjust)


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyMixin, _MembershipRoleAdmin):
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
    one_id = one_id_column()

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in PointsEntry._meta.fields]
