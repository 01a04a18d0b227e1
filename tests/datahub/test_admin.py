"""The data hub's back office: event sources (switching a write key off goes through the service
and is audited), and acquisition spend (获客花费): a marketer enters what a channel cost in yuan;
it is stored in fen, audited, and never edited in place."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.datahub.ingestion.errors import WriteKeyInvalid
from freshloop.datahub.ingestion.services import event_source_authenticate, event_source_create
from freshloop.datahub.models import AcquisitionSpend, EventSource
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


class TestEventSourceAdmin:
    def test_the_deactivate_action_refuses_the_keys_and_audits_each(self) -> None:
        # given two sources with working keys
        raw_shop, shop = event_source_create(
            actor=Actor.system("tests"), name="商城", channel="shop"
        )
        raw_live, live = event_source_create(
            actor=Actor.system("tests"), name="直播", channel="live"
        )
        client = Client()
        client.force_login(make_staff_user("root", superuser=True))
        # when an admin deactivates both from the list
        response = client.post(
            "/admin/datahub/eventsource/",
            {"action": "deactivate", "_selected_action": [shop.pk, live.pk]},
        )
        # then neither key is accepted any more, and each change is audited
        assert response.status_code == 302
        assert not EventSource.objects.filter(is_active=True).exists()
        for raw in (raw_shop, raw_live):
            with pytest.raises(WriteKeyInvalid):
                event_source_authenticate(raw)
        assert AuditLog.objects.filter(action="datahub.source_update").count() == 2
