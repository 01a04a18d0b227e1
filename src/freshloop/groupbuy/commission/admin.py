"""Back office of commission (GB-2), imported by `groupbuy.admin`: rules are edited here
(through the audited service); attributed orders, accruals, the ledger and settlement runs are
read here (runs are created, approved and paid through the operator API). Community managers
and admins only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from freshloop.core.admin_base import ReadOnlyInline, ReadOnlyMixin, fen_column
from freshloop.core.audit import Actor
from freshloop.groupbuy.admin import _GroupbuyRoleAdmin
from freshloop.groupbuy.commission.models import (
    CommissionAccrual,
    CommissionRule,
    LeaderOrder,
    LedgerLeg,
    LedgerTransaction,
    SettlementRun,
    SettlementStatement,
)
from freshloop.groupbuy.commission.rules import commission_rule_save


@admin.register(CommissionRule)
class CommissionRuleAdmin(_GroupbuyRoleAdmin):
    list_display = (
        "id",
        "depth",
        "level",
        "product",
        "category",
        "rate_bp",
        "cap",
        "valid_from",
        "valid_until",
        "created_by",
    )
    list_filter = ("depth", "level")
    list_select_related = ("level", "product", "category")
    autocomplete_fields: tuple[str, ...] = ()
    raw_id_fields = ("product", "category")
    fields = (
        "depth",
        "level",
        "product",
        "category",
        "rate_bp",
        "cap_fen",
        "valid_from",
        "valid_until",
        "note",
    )
    cap = fen_column("cap_fen", "每单上限", sortable=False, blank_when_zero=True)

    def save_model(
        self, request: HttpRequest, obj: CommissionRule, form: Any, change: bool
    ) -> None:
        commission_rule_save(actor=Actor.for_user(request.user), rule=obj)


class _ReadOnlyGroupbuyAdmin(ReadOnlyMixin, _GroupbuyRoleAdmin):
    """Written by services only."""


@admin.register(LeaderOrder)
class LeaderOrderAdmin(_ReadOnlyGroupbuyAdmin):
    list_display = (
        "order_no",
        "leader",
        "channel",
        "paid_at",
        "gmv",
        "refunded",
        "pickup_status",
        "picked_up_at",
    )
    list_filter = ("pickup_status", "channel")
    list_select_related = ("leader",)
    search_fields = ("order_no", "leader__leader_no")
    exclude = ("pickup_address", "pickup_code")
    gmv = fen_column("gmv_fen", "销售额")
    refunded = fen_column("refunded_fen", "已退款", blank_when_zero=True)


@admin.register(CommissionAccrual)
class CommissionAccrualAdmin(_ReadOnlyGroupbuyAdmin):
    list_display = (
        "leader_order",
        "beneficiary",
        "depth",
        "amount",
        "reversed",
        "matures_at",
        "matured_at",
    )
    list_filter = ("depth",)
    list_select_related = ("leader_order", "beneficiary")
    search_fields = ("leader_order__order_no", "beneficiary__leader_no")
    amount = fen_column("amount_fen", "佣金")
    reversed = fen_column("reversed_fen", "已冲回", blank_when_zero=True)


class LedgerLegInline(ReadOnlyInline):
    model = LedgerLeg
    fields = ("account", "amount_fen", "leader")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(_ReadOnlyGroupbuyAdmin):
    list_display = ("occurred_at", "kind", "leader", "order_no", "memo", "actor_label")
    list_filter = ("kind",)
    list_select_related = ("leader",)
    search_fields = ("ref", "order_no", "leader__leader_no")
    inlines = (LedgerLegInline,)


@admin.register(LedgerLeg)
class LedgerLegAdmin(_ReadOnlyGroupbuyAdmin):
    list_display = ("occurred_at", "account", "leader", "kind", "amount")
    list_filter = ("account", "kind")
    list_select_related = ("leader",)
    search_fields = ("leader__leader_no",)
    amount = fen_column("amount_fen", "金额")


class StatementInline(ReadOnlyInline):
    model = SettlementStatement
    fields = ("statement_no", "leader", "opening_fen", "amount_fen", "status", "payment_ref")


@admin.register(SettlementRun)
class SettlementRunAdmin(_ReadOnlyGroupbuyAdmin):
    list_display = (
        "run_no",
        "period_start",
        "period_end",
        "status",
        "total",
        "statement_count",
        "created_by",
        "approved_by",
    )
    list_filter = ("status",)
    inlines = (StatementInline,)
    total = fen_column("total_fen", "合计")


@admin.register(SettlementStatement)
class SettlementStatementAdmin(_ReadOnlyGroupbuyAdmin):
    list_display = ("statement_no", "run", "leader", "opening", "amount", "status", "paid_at")
    list_filter = ("status",)
    list_select_related = ("run", "leader")
    search_fields = ("statement_no", "leader__leader_no")
    opening = fen_column("opening_fen", "期初结转")
    amount = fen_column("amount_fen", "应结算")
