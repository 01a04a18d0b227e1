"""The back office of presales: community managers read and cancel, other staff see nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.groupbuy.presale.models import Presale, PresaleStatus
from tests.factories import make_person, make_staff_user
from tests.groupbuy.presale.helpers import IN_BALANCE, IN_DEPOSIT, make_presale, paid_deposit

pytestmark = pytest.mark.django_db


def staff(*roles: Role, username: str = "staff") -> Client:
    client = Client()
    client.force_login(make_staff_user(username, *roles))
    return client


class TestPresaleAdmin:
    def test_a_community_manager_reads_presales_and_purchases(self) -> None:
        presale = make_presale()
        purchase = paid_deposit(presale, make_person())
        client = staff(Role.COMMUNITY_MANAGER)
        listing = client.get(reverse("admin:groupbuy_presale_changelist"))
        assert listing.status_code == 200
        assert presale.presale_no in listing.content.decode()
        page = client.get(reverse("admin:groupbuy_presale_change", args=[presale.pk]))
        assert page.status_code == 200
        assert purchase.purchase_no in page.content.decode()
        purchases = client.get(reverse("admin:groupbuy_presalepurchase_changelist"))
        assert purchase.purchase_no in purchases.content.decode()

    def test_the_cancel_action_goes_through_the_service(self) -> None:
        presale = make_presale()
        client = staff(Role.COMMUNITY_MANAGER)
        with clock.frozen(IN_DEPOSIT):
            answer = client.post(
                reverse("admin:groupbuy_presale_changelist"),
                {"action": "cancel_selected", "_selected_action": [presale.pk]},
            )
        assert answer.status_code == 302
        assert Presale.objects.get(pk=presale.pk).status == PresaleStatus.CANCELLED

    def test_a_refused_cancel_is_a_message_and_changes_nothing(self) -> None:
        presale = make_presale()
        client = staff(Role.COMMUNITY_MANAGER)
        with clock.frozen(IN_BALANCE):
            answer = client.post(
                reverse("admin:groupbuy_presale_changelist"),
                {"action": "cancel_selected", "_selected_action": [presale.pk]},
                follow=True,
            )
        assert "不能取消" in answer.content.decode()
        assert Presale.objects.get(pk=presale.pk).status == PresaleStatus.DRAFT

    def test_staff_without_the_role_see_nothing(self) -> None:
        make_presale()
        client = staff(username="clerk")
        assert client.get(reverse("admin:groupbuy_presale_changelist")).status_code == 403
