"""The shared back-office pieces: columns, time display, error text, tool URLs, read-only inlines."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from freshloop.core.admin_base import (
    domain_error_text,
    fen_budget_column,
    fen_column,
    one_id_column,
    shanghai_minute,
)
from freshloop.core.errors import InvalidInput
from freshloop.payments.admin import RefundInline
from freshloop.payments.models import Payment


class TestFenColumn:
    def test_shows_yuan_and_sorts_by_the_field(self) -> None:
        column = fen_column("total_fen", "应付")
        assert column(None, SimpleNamespace(total_fen=12345)) == "¥123.45"
        assert column.short_description == "应付"
        assert column.admin_order_field == "total_fen"

    def test_unsortable_and_blank_when_zero(self) -> None:
        column = fen_column("discount_fen", "优惠金额", sortable=False, blank_when_zero=True)
        assert column(None, SimpleNamespace(discount_fen=0)) == ""
        assert column(None, SimpleNamespace(discount_fen=500)) == "¥5.00"
        assert not hasattr(column, "admin_order_field")


class TestFenBudgetColumn:
    def test_spent_of_a_budget_or_unlimited(self) -> None:
        column = fen_budget_column("spent_fen", "budget_fen")
        assert column(None, SimpleNamespace(spent_fen=1200, budget_fen=10000)) == "¥12.00 / ¥100.00"
        assert column(None, SimpleNamespace(spent_fen=0, budget_fen=None)) == "¥0.00 / 不限"
        assert column.short_description == "已用/预算"


class TestOneIdColumn:
    def test_reads_and_sorts_through_the_person(self) -> None:
        column = one_id_column()
        row = SimpleNamespace(person=SimpleNamespace(one_id="P_1"))
        assert column(None, row) == "P_1"
        assert column.admin_order_field == "person__one_id"


class TestShanghaiMinute:
    def test_converts_stored_utc(self) -> None:
        assert shanghai_minute(dt.datetime(2026, 1, 1, 16, 30, tzinfo=dt.UTC)) == "2026-01-02 00:30"

    def test_refuses_a_naive_time(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            shanghai_minute(dt.datetime(2026, 1, 1, 16, 30))


class TestDomainErrorText:
    def test_names_the_field_when_the_service_did(self) -> None:
        assert domain_error_text(InvalidInput("编码已被占用", detail={"field": "code"})) == (
            "编码已被占用（code）"
        )
        assert domain_error_text(InvalidInput("编码已被占用")) == "编码已被占用"


class TestReadOnlyInline:
    def test_every_shown_field_is_read_only_and_nothing_is_added_or_deleted(self) -> None:
        inline = RefundInline(Payment, admin.site)
        request = RequestFactory().get("/")
        assert tuple(inline.get_readonly_fields(request)) == RefundInline.fields
        assert not inline.has_add_permission(request, None)
        assert not inline.has_delete_permission(request, None)
        assert inline.extra == 0
        assert inline.can_delete is False


class TestToolViews:
    def test_each_tool_is_served_under_its_model_url_name(self) -> None:
        assert reverse("admin:identity_person_split", args=[7]) == "/admin/identity/person/7/split/"
        assert reverse("admin:inventory_stocklevel_count", args=[7]) == (
            "/admin/inventory/stocklevel/7/count/"
        )
        assert reverse("admin:orders_order_step", args=[7]) == "/admin/orders/order/7/step/"
        assert reverse("admin:membership_membership_adjust", args=[7]) == (
            "/admin/membership/membership/7/adjust/"
        )
        assert reverse("admin:promotions_coupontemplate_issue", args=[7]) == (
            "/admin/promotions/coupontemplate/7/issue/"
        )
