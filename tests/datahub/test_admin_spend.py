"""The back-office screens for acquisition spend (获客花费): a marketer enters what a channel
cost in yuan; it is stored in fen, audited, and never edited in place."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.datahub.models import AcquisitionSpend
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/datahub/acquisitionspend/add/"


def _marketer() -> Client:
    client = Client()
    client.force_login(make_staff_user("marketer", Role.MARKETER))
    return client


class TestSpendAdmin:
    def test_a_marketer_enters_spend_in_yuan_and_it_is_stored_in_fen(self) -> None:
        client = _marketer()

        response = client.post(
            ADD_URL,
            {
                "channel": "live",
                "campaign": "周五会员直播投流",
                "starts_on": "2026-11-01",
                "ends_on": "2026-11-30",
                "amount_yuan": "1234.56",
                "note": "",
            },
        )

        assert response.status_code == 302
        spend = AcquisitionSpend.objects.get()
        assert (spend.channel, spend.amount_fen, spend.created_by) == ("live", 123_456, "marketer")
        assert AuditLog.objects.filter(action__startswith="datahub.acquisition_spend").count() == 1

    def test_a_period_that_ends_before_it_starts_comes_back_on_the_form(self) -> None:
        client = _marketer()

        response = client.post(
            ADD_URL,
            {
                "channel": "shop",
                "campaign": "",
                "starts_on": "2026-11-30",
                "ends_on": "2026-11-01",
                "amount_yuan": "10",
                "note": "",
            },
        )

        assert response.status_code == 200
        assert not AcquisitionSpend.objects.exists()
        assert "结束日期不能早于开始日期" in response.content.decode()

    def test_the_list_is_in_the_menu_for_a_marketer(self) -> None:
        client = _marketer()

        response = client.get("/admin/datahub/acquisitionspend/")

        assert response.status_code == 200
        assert "获客花费" in response.content.decode()

    def test_customer_service_cannot_enter_spend(self) -> None:
        client = Client()
        client.force_login(make_staff_user("cs", Role.CUSTOMER_SERVICE))

        assert client.get(ADD_URL).status_code == 403
