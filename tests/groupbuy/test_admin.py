"""The back office of group leaders: community managers review and decide, others see nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.groupbuy.models import LeaderLevel, LeaderStatus
from tests.factories import make_staff_user
from tests.groupbuy.factories import make_applicant

pytestmark = pytest.mark.django_db


def staff(*roles: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user("staff", *roles))
    return client


class TestGroupLeaderAdmin:
    def test_a_community_manager_reviews_and_approves_with_the_id_masked(self) -> None:
        leader = make_applicant(id_number="11010519491231002X")
        client = staff(Role.COMMUNITY_MANAGER)
        listing = client.get(reverse("admin:groupbuy_groupleader_changelist"))
        assert listing.status_code == 200
        assert leader.leader_no in listing.content.decode()
        page = client.get(reverse("admin:groupbuy_groupleader_change", args=[leader.pk]))
        assert page.status_code == 200
        html = page.content.decode()
        assert "1101**********002X" in html
        assert "11010519491231002X" not in html
        decided = client.post(
            reverse("admin:groupbuy_groupleader_decide", args=[leader.pk]),
            {"decision": "approve", "reason": ""},
        )
        assert decided.status_code == 302
        leader.refresh_from_db()
        assert leader.status == LeaderStatus.ACTIVE
        assert leader.decided_by == "staff"

    def test_a_refused_decision_is_a_message_not_an_error(self) -> None:
        leader = make_applicant()
        client = staff(Role.COMMUNITY_MANAGER)
        answer = client.post(
            reverse("admin:groupbuy_groupleader_decide", args=[leader.pk]),
            {"decision": "reject", "reason": ""},
            follow=True,
        )
        assert answer.status_code == 200
        assert "请填写原因" in answer.content.decode()
        leader.refresh_from_db()
        assert leader.status == LeaderStatus.APPLIED

    def test_other_staff_cannot_see_leaders(self) -> None:
        make_applicant()
        answer = staff(Role.MARKETER).get(reverse("admin:groupbuy_groupleader_changelist"))
        assert answer.status_code == 403


class TestLeaderLevelAdmin:
    def test_editing_a_level_is_audited(self) -> None:
        gold = LeaderLevel.objects.get(code="gold")
        client = staff(Role.COMMUNITY_MANAGER)
        answer = client.post(
            reverse("admin:groupbuy_leaderlevel_change", args=[gold.pk]),
            {"code": "gold", "name": "金牌团长", "min_monthly_gmv_fen": 2_500_000, "rank": 3},
        )
        assert answer.status_code == 302, answer.content[:500]
        gold.refresh_from_db()
        assert gold.min_monthly_gmv_fen == 2_500_000
        entry = AuditLog.objects.get(action="groupbuy.level.save")
        assert entry.before["min_monthly_gmv_fen"] == 2_000_000


class TestSidebar:
    def test_a_community_manager_sees_the_group_buying_section(self) -> None:
        from freshloop.core.permissions import roles_ensure
        from freshloop.web.admin_navigation import sidebar_navigation

        roles_ensure()
        user = make_staff_user("cm", Role.COMMUNITY_MANAGER)
        request = type("Request", (), {"user": user})()
        section = next(s for s in sidebar_navigation(request) if s["title"] == "团购")
        assert all(item["permission"](request) for item in section["items"])
