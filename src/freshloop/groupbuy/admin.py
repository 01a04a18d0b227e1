"""Back office of community group buying (SPEC GB-1…GB-4), one block per feature.

Group leaders: levels are edited here; leaderships, attachments and their history are read
here, and an operator decides on a leadership (approve, reject, suspend, reinstate, set the
level) with the tools below its page, each through the audited service. Community managers
and admins only, whatever Django model permissions say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from freshloop.core.admin_base import OperatorAdmin, ReadOnlyMixin, fen_column, one_id_column
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role, user_has_role
from freshloop.groupbuy.idcard import id_number_mask
from freshloop.groupbuy.leaders import (
    leader_approve,
    leader_level_save,
    leader_level_set,
    leader_reinstate,
    leader_reject,
    leader_suspend,
)
from freshloop.groupbuy.models import (
    GroupLeader,
    LeaderAttachmentLog,
    LeaderCustomer,
    LeaderLevel,
    LeaderStatus,
)

# --- group leaders (GB-1) ---

GROUPBUY_ROLES = (Role.COMMUNITY_MANAGER,)


class _GroupbuyRoleAdmin(OperatorAdmin):
    """Visible to community managers and admins; nothing is deleted here."""

    def _allowed(self, request: HttpRequest) -> bool:
        return user_has_role(request.user, *GROUPBUY_ROLES)

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


@admin.register(LeaderLevel)
class LeaderLevelAdmin(_GroupbuyRoleAdmin):
    list_display = ("rank", "code", "name", "gmv_threshold", "leader_count")
    list_display_links = ("code", "name")
    ordering = ("rank",)
    gmv_threshold = fen_column("min_monthly_gmv_fen", "月销售额门槛", sortable=False)

    @admin.display(description="团长数")
    def leader_count(self, obj: LeaderLevel) -> int:
        return obj.leaders.count()

    def save_model(self, request: HttpRequest, obj: LeaderLevel, form: Any, change: bool) -> None:
        leader_level_save(actor=Actor.for_user(request.user), level=obj)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("approve", "通过"),
            ("reject", "驳回"),
            ("suspend", "暂停"),
            ("reinstate", "恢复"),
        ]
    )
    reason = forms.CharField(max_length=200, required=False)


class LevelForm(forms.Form):
    level_code = forms.CharField(max_length=16)


def _decide(decision: str, leader_no: str, reason: str) -> Callable[[Actor], GroupLeader]:
    calls: dict[str, Callable[[Actor], GroupLeader]] = {
        "approve": lambda actor: leader_approve(actor=actor, leader_no=leader_no),
        "reject": lambda actor: leader_reject(actor=actor, leader_no=leader_no, reason=reason),
        "suspend": lambda actor: leader_suspend(actor=actor, leader_no=leader_no, reason=reason),
        "reinstate": lambda actor: leader_reinstate(actor=actor, leader_no=leader_no),
    }
    return calls[decision]


@admin.register(GroupLeader)
class GroupLeaderAdmin(ReadOnlyMixin, _GroupbuyRoleAdmin):
    """Applications and leaderships. The ID number is shown masked: the full one is sealed and
    read only by the services that need it."""

    list_display = (
        "leader_no",
        "display_name",
        "status",
        "level",
        "pickup_name",
        "pickup_province",
        "pickup_city",
        "applied_at",
        "decided_by",
    )
    list_filter = ("status", "level", "pickup_province")
    list_select_related = ("level", "person")
    search_fields = ("leader_no", "display_name", "pickup_name", "=invite_code")
    search_help_text = "团长编号、昵称、自提点名称或邀请码"
    fields = (
        "leader_no",
        "one_id",
        "display_name",
        "status",
        "level",
        "recruiter",
        "invite_code",
        "pickup_name",
        "pickup_address_text",
        "pickup_hours",
        "pickup_province",
        "pickup_city",
        "real_name",
        "id_number_masked",
        "applied_at",
        "decided_at",
        "decided_by",
        "decision_reason",
        "suspended_reason",
    )
    readonly_fields = fields
    actions = ["approve_selected"]
    change_form_after_template = "groupbuy/admin/leader_tools.html"
    tool_views = ("decide", "level")
    one_id = one_id_column()

    @admin.display(description="自提点地址")
    def pickup_address_text(self, obj: GroupLeader) -> str:
        address = obj.pickup_address or {}
        keys = ("province", "city", "district", "detail", "name", "phone")
        return " ".join(str(address.get(key, "")) for key in keys if address.get(key))

    @admin.display(description="身份证号")
    def id_number_masked(self, obj: GroupLeader) -> str:
        return id_number_mask(obj.id_number) if obj.id_number else ""

    def tools_context(self, request: HttpRequest, obj: GroupLeader) -> dict[str, Any]:
        return {
            "leader_obj": obj,
            "levels": LeaderLevel.objects.order_by("rank"),
            "customer_count": obj.customers.count(),
            "can_approve": obj.status == LeaderStatus.APPLIED,
            "can_suspend": obj.status == LeaderStatus.ACTIVE,
            "can_reinstate": obj.status == LeaderStatus.SUSPENDED,
        }

    @admin.action(description="通过所选的团长申请")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[GroupLeader]) -> None:
        if not user_has_role(request.user, *GROUPBUY_ROLES):
            self.message_user(request, "没有权限执行此操作", messages.ERROR)
            return
        actor = Actor.for_user(request.user)

        def refused(leader: GroupLeader, error: DomainError) -> str:
            return f"{leader.leader_no}：{error.text}"

        done = self.write_each(
            request,
            list(queryset.order_by("pk")),
            lambda leader: leader_approve(actor=actor, leader_no=leader.leader_no),
            refused=refused,
        )
        if done:
            self.message_user(request, f"已通过 {done} 个团长申请", messages.SUCCESS)

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        leader = get_object_or_404(GroupLeader, pk=pk)
        form = DecisionForm(request.POST)
        if request.method == "POST" and not form.is_valid():
            self.message_user(request, "请选择审核操作", messages.ERROR)
            return self.change_page(pk)

        def decide(actor: Actor) -> str:
            decision = form.cleaned_data["decision"]
            reason = form.cleaned_data["reason"]
            done = _decide(decision, leader.leader_no, reason)(actor)
            return f"{done.display_name}：{done.get_status_display()}"

        return self.tool_post(request, pk, roles=GROUPBUY_ROLES, write=decide)

    def level_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        leader = get_object_or_404(GroupLeader, pk=pk)
        form = LevelForm(request.POST)
        if request.method == "POST" and not form.is_valid():
            self.message_user(request, "请选择团长等级", messages.ERROR)
            return self.change_page(pk)

        def set_level(actor: Actor) -> str:
            done = leader_level_set(
                actor=actor, leader_no=leader.leader_no, level_code=form.cleaned_data["level_code"]
            )
            return f"{done.display_name}：等级已设为{done.level.name}"

        return self.tool_post(request, pk, roles=GROUPBUY_ROLES, write=set_level)


@admin.register(LeaderCustomer)
class LeaderCustomerAdmin(ReadOnlyMixin, _GroupbuyRoleAdmin):
    """Who is whose customer now; changes only through attaching, merges and erasures."""

    list_display = ("one_id", "leader", "attached_at", "source")
    list_filter = ("source",)
    list_select_related = ("person", "leader")
    search_fields = ("person__one_id", "leader__leader_no")
    one_id = one_id_column()


@admin.register(LeaderAttachmentLog)
class LeaderAttachmentLogAdmin(ReadOnlyMixin, _GroupbuyRoleAdmin):
    """Append-only history of attachments."""

    list_display = ("at", "one_id", "from_leader", "to_leader", "reason", "source")
    list_filter = ("reason",)
    list_select_related = ("person", "from_leader", "to_leader")
    search_fields = ("person__one_id",)
    one_id = one_id_column()


# --- commission (GB-2): rules edited here, orders / ledger / settlement read here ---
from freshloop.groupbuy.commission import admin as commission_admin  # noqa: E402, F401

# --- presale (GB-4): presales and purchases read here, cancelled by a bulk action ---
from freshloop.groupbuy.presale import admin as presale_admin  # noqa: E402, F401

# --- training (GB-1): courses, lessons and quiz questions written here, attempts read ---
from freshloop.groupbuy.training import admin as training_admin  # noqa: E402, F401
