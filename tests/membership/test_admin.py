"""Back office: levels, members, ledger and the audited points adjustment."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.membership.models import PointsEntry
from freshloop.membership.services import points_earn_for_order
from tests.factories import make_person, make_staff_user
from tests.membership.helpers import ensure_member, level, membership_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(client: Client) -> Client:
    make_staff_user("root", superuser=True)
    client.login(username="root", password="pass-1234")
    return client


@pytest.fixture
def marketer(client: Client) -> Client:
    make_staff_user("mk", Role.MARKETER)
    client.login(username="mk", password="pass-1234")
    return client


class TestMembershipAdminPages:
    def test_every_page_renders_for_a_superuser(self, superuser: Client) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        membership = membership_of(person)
        entry = PointsEntry.objects.get()
        pages = [
            "/admin/membership/memberlevel/",
            f"/admin/membership/memberlevel/{level('gold').pk}/change/",
            "/admin/membership/memberlevel/add/",
            "/admin/membership/membership/",
            f"/admin/membership/membership/{membership.pk}/change/",
            "/admin/membership/pointsentry/",
            f"/admin/membership/pointsentry/{entry.pk}/change/",
        ]
        for url in pages:
            response = superuser.get(url)
            assert response.status_code == 200, url
        detail = superuser.get(f"/admin/membership/membership/{membership.pk}/change/")
        assert "调整积分" in detail.content.decode()
        assert "O-1" in detail.content.decode()

    def test_members_are_found_by_one_id(self, superuser: Client) -> None:
        wanted, other = make_person(), make_person()
        ensure_member(wanted)
        ensure_member(other)
        page = superuser.get("/admin/membership/membership/", {"q": wanted.one_id}).content
        assert wanted.one_id in page.decode()
        assert other.one_id not in page.decode()

    def test_ledger_cannot_be_changed_or_deleted(self, superuser: Client) -> None:
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        entry = PointsEntry.objects.get()
        response = superuser.post(
            f"/admin/membership/pointsentry/{entry.pk}/delete/", {"post": "yes"}
        )
        assert response.status_code == 403
        assert PointsEntry.objects.count() == 1

    def test_staff_without_the_role_cannot_see_membership(self, client: Client) -> None:
        make_staff_user("cs", Role.CUSTOMER_SERVICE)
        client.login(username="cs", password="pass-1234")
        assert client.get("/admin/membership/membership/").status_code == 403


class TestMemberLevelAdmin:
    def test_marketer_edits_a_level_through_the_audited_service(self, marketer: Client) -> None:
        gold = level("gold")
        response = marketer.post(
            f"/admin/membership/memberlevel/{gold.pk}/change/",
            {
                "code": "gold",
                "name": "金卡",
                "min_lifetime_spend_fen": 400_000,
                "min_points_earned": 4_000,
                "discount_percent": 6,
                "free_shipping": "on",
                "points_multiplier_bp": 15000,
                "sort_order": 30,
            },
        )
        assert response.status_code == 302
        assert level("gold").discount_percent == 6
        assert AuditLog.objects.filter(action="membership.level_save", actor_label="mk").exists()

    def test_a_discount_over_30_percent_is_shown_as_a_form_error(self, marketer: Client) -> None:
        gold = level("gold")
        response = marketer.post(
            f"/admin/membership/memberlevel/{gold.pk}/change/",
            {
                "code": "gold",
                "name": "金卡",
                "min_lifetime_spend_fen": 500_000,
                "min_points_earned": 5_000,
                "discount_percent": 35,
                "points_multiplier_bp": 15000,
                "sort_order": 30,
            },
        )
        assert response.status_code == 200
        assert level("gold").discount_percent == 5

    def test_a_refusal_after_validation_is_a_message_not_a_server_error(
        self, marketer: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the service refuses at save time what the form let through
        from freshloop.membership import admin as membership_admin
        from freshloop.membership.errors import InvalidMemberLevel

        def refuse(**_: object) -> None:
            raise InvalidMemberLevel("门槛与其他等级冲突", detail={"field": "sort_order"})

        monkeypatch.setattr(membership_admin, "member_level_save", refuse)
        gold = level("gold")
        # when the marketer saves the level
        response = marketer.post(
            f"/admin/membership/memberlevel/{gold.pk}/change/",
            {
                "code": "gold",
                "name": "金卡",
                "min_lifetime_spend_fen": 400_000,
                "min_points_earned": 4_000,
                "discount_percent": 6,
                "points_multiplier_bp": 15000,
                "sort_order": 30,
            },
            follow=True,
        )
        # then the form comes back with the reason (and the field), and nothing changed
        assert response.status_code == 200
        assert "门槛与其他等级冲突（sort_order）" in response.content.decode()
        assert level("gold").discount_percent == 5


class TestPointsAdjustAdmin:
    def test_marketer_adjusts_points_and_it_is_audited(self, marketer: Client) -> None:
        membership = ensure_member(make_person())
        response = marketer.post(
            f"/admin/membership/membership/{membership.pk}/adjust/",
            {"delta": "250", "reason": "直播间补偿"},
        )
        assert response.status_code == 302
        assert membership_of(membership.person).points_balance == 250
        entry = PointsEntry.objects.get()
        assert (entry.kind, entry.actor_label, entry.reason) == ("adjust", "mk", "直播间补偿")
        assert AuditLog.objects.filter(action="points.adjust", actor_label="mk").exists()

    def test_debit_below_zero_is_refused_with_a_message(self, marketer: Client) -> None:
        membership = ensure_member(make_person())
        response = marketer.post(
            f"/admin/membership/membership/{membership.pk}/adjust/",
            {"delta": "-5", "reason": "收回"},
            follow=True,
        )
        assert "扣减后积分为负" in response.content.decode()
        assert not PointsEntry.objects.exists()

    def test_an_incomplete_form_is_a_message_and_writes_nothing(self, marketer: Client) -> None:
        membership = ensure_member(make_person())
        response = marketer.post(
            f"/admin/membership/membership/{membership.pk}/adjust/",
            {"delta": "abc", "reason": ""},
            follow=True,
        )
        assert "请填写调整数量和原因" in response.content.decode()
        assert not PointsEntry.objects.exists()

    def test_other_roles_cannot_adjust(self, client: Client) -> None:
        membership = ensure_member(make_person())
        make_staff_user("cs", Role.CUSTOMER_SERVICE)
        client.login(username="cs", password="pass-1234")
        client.post(
            f"/admin/membership/membership/{membership.pk}/adjust/",
            {"delta": "250", "reason": "直播间补偿"},
        )
        assert not PointsEntry.objects.exists()

    def test_admin_action_sends_one_member_to_the_adjust_form(self, marketer: Client) -> None:
        membership = ensure_member(make_person())
        response = marketer.post(
            "/admin/membership/membership/",
            {"action": "adjust_points", "_selected_action": [membership.pk]},
        )
        assert response.status_code == 302
        assert response["Location"].endswith(f"/{membership.pk}/change/#points-adjust")
