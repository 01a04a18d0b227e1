"""Back office of presale (GB-4), imported by `groupbuy.admin`: presales and their purchases
are read here; presales are created and edited through the operator API (every term checked
by the service) and cancelled here with a bulk action, through the audited service.
Community managers and admins only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from freshloop.core.admin_base import ReadOnlyInline, ReadOnlyMixin, fen_column, one_id_column
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.permissions import user_has_role
from freshloop.groupbuy.admin import GROUPBUY_ROLES, _GroupbuyRoleAdmin
from freshloop.groupbuy.presale.models import Presale, PresalePurchase
from freshloop.groupbuy.presale.services import presale_cancel

CANCEL_REASON = "运营在后台取消"


class PresalePurchaseInline(ReadOnlyInline):
    model = PresalePurchase
    fields = ("purchase_no", "person", "quantity", "status", "deposit_order_no", "balance_order_no")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Presale)
class PresaleAdmin(ReadOnlyMixin, _GroupbuyRoleAdmin):
    list_display = (
        "presale_no",
        "name",
        "status",
        "price",
        "deposit",
        "worth",
        "quantity",
        "units_taken",
        "deposit_refundable",
        "deposit_starts_at",
        "balance_ends_at",
    )
    list_filter = ("status", "deposit_refundable")
    list_select_related = ("sku", "sku__product")
    search_fields = ("presale_no", "name")
    inlines = (PresalePurchaseInline,)
    actions = ("cancel_selected",)
    price = fen_column("price_fen", "预售价")
    deposit = fen_column("deposit_fen", "定金")
    worth = fen_column("deposit_worth_fen", "定金抵扣")

    @admin.action(description="取消所选预售（尾款开始前；已付定金原路退回）")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Presale]) -> None:
        if not user_has_role(request.user, *GROUPBUY_ROLES):
            self.message_user(request, "没有权限执行此操作", messages.ERROR)
            return
        actor = Actor.for_user(request.user)

        def refused(presale: Presale, error: DomainError) -> str:
            return f"{presale.presale_no}：{error.text}"

        done = self.write_each(
            request,
            list(queryset.order_by("pk")),
            lambda presale: presale_cancel(
                presale_no=presale.presale_no, reason=CANCEL_REASON, actor=actor
            ),
            refused=refused,
        )
        if done:
            self.message_user(request, f"已取消 {done} 个预售", messages.SUCCESS)


@admin.register(PresalePurchase)
class PresalePurchaseAdmin(ReadOnlyMixin, _GroupbuyRoleAdmin):
    list_display = (
        "purchase_no",
        "presale",
        "one_id",
        "quantity",
        "status",
        "deposit_order_no",
        "balance_order_no",
        "deposit_paid_at",
        "balance_paid_at",
        "closed_at",
    )
    list_filter = ("status",)
    list_select_related = ("presale", "person")
    search_fields = ("purchase_no", "deposit_order_no", "balance_order_no", "person__one_id")
    one_id = one_id_column()
