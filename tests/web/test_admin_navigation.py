"""The back-office sidebar: every entry leads somewhere, and staff see only what they may view."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from freshloop.core.permissions import Role
from freshloop.web.admin_navigation import SECTIONS, sidebar_navigation
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db


def _sidebar_for(*roles: Role) -> dict[str, list[str]]:
    """Group title -> the item titles the user is allowed to see, as unfold filters them."""
    request = RequestFactory().get("/admin/")
    request.user = make_staff_user("staff", *roles)
    return {
        group["title"]: [
            item["title"]
            for item in group["items"]
            if "permission" not in item or item["permission"](request)
        ]
        for group in sidebar_navigation(request)
    }


class TestSections:
    def test_every_model_entry_is_a_registered_admin(self) -> None:
        registered = {
            f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry
        }
        targets = [target for _, items in SECTIONS for _, _, target in items]
        models = [target for target in targets if not target.startswith("/")]
        assert models, "the sidebar lists models"
        assert set(models) <= registered


class TestSidebarNavigation:
    def test_links_go_to_the_model_lists(self) -> None:
        request = RequestFactory().get("/admin/")
        groups = sidebar_navigation(request)
        assert [group["title"] for group in groups[:2]] == ["运营控制台", "用户 OneID"]
        assert groups[0]["items"][0]["link"] == "/console/"
        assert str(groups[0]["items"][1]["link"]) == "/admin/"
        assert str(groups[1]["items"][0]["link"]) == "/admin/identity/person/"
        assert all(group.get("collapsible") for group in groups[1:])

    def test_customer_service_sees_people_and_payments_but_not_campaigns(self) -> None:
        sidebar = _sidebar_for(Role.CUSTOMER_SERVICE)
        assert "用户" in sidebar["用户 OneID"]
        assert "支付单" in sidebar["支付"]
        assert "售后工单" in sidebar["订单与售后"]
        assert "外发消息(Outbox)" in sidebar["平台"]
        assert "审计日志" not in sidebar["平台"]
        assert sidebar["商品与库存"] == []

    def test_marketer_sees_marketing(self) -> None:
        sidebar = _sidebar_for(Role.MARKETER)
        assert sidebar["营销"] == ["优惠券模板", "已发放优惠券", "营销活动"]
        assert sidebar["数据中台"] == ["数据看板与人群", "智能分析(预测模型)", "获客花费"]
