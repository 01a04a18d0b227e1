"""The console page /console/scrm/contacts/: contacts with 跟进人 and tags, the 离职继承 form,
the transfer list, the tag sync button and computed tag pushes."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.messaging.wecom import sandbox_staff_resign
from freshloop.scrm.models import ContactTransfer, TransferStatus, WecomTag
from tests.scrm.test_api import operator
from tests.scrm.wecom_helpers import contact

pytestmark = pytest.mark.django_db

PAGE = "/console/scrm/contacts/"


@pytest.fixture
def manager() -> Client:
    contact("wm_sandbox_0001")
    contact("wm_sandbox_0002")
    contact("wm_sandbox_0003", "fl_staff_zhou")
    return operator(Role.COMMUNITY_MANAGER)


class TestContactsPage:
    def test_lists_contacts_and_the_transfer_form(self, manager: Client) -> None:
        response = manager.get(PAGE)
        html = response.content.decode()
        assert response.status_code == 200
        assert html.count('data-testid="contact"') == 3
        assert "客户等级/VIP" in html
        assert "离职继承" in html
        assert 'value="fl_staff_zhou" data-testid="takeover"' in html

    def test_filter_by_staff(self, manager: Client) -> None:
        html = manager.get(PAGE + "?staff=fl_staff_zhou").content.decode()
        assert html.count('data-testid="contact"') == 1
        assert "wm_sandbox_0003" in html

    def test_the_transfer_form_asks_wecom_and_shows_the_status(self, manager: Client) -> None:
        sandbox_staff_resign(userid="fl_staff_lin")
        response = manager.post(
            PAGE + "transfer",
            {"handover_userid": "fl_staff_lin", "takeover": ["fl_staff_zhou"], "kind": "resigned"},
            follow=True,
        )
        html = response.content.decode()
        assert "2 位客户等待接替" in html
        assert html.count('data-testid="transfer-row"') == 2
        assert set(ContactTransfer.objects.values_list("status", flat=True)) == {
            TransferStatus.WAITING
        }

    def test_a_refused_transfer_says_why(self, manager: Client) -> None:
        response = manager.post(
            PAGE + "transfer",
            {"handover_userid": "fl_staff_lin", "takeover": [], "kind": "in_service"},
            follow=True,
        )
        assert "请选择接替的员工" in response.content.decode()
        assert ContactTransfer.objects.count() == 0

    def test_tag_sync_button(self, manager: Client) -> None:
        response = manager.post(PAGE + "tags/sync", follow=True)
        assert "已开始同步企业微信标签" in response.content.decode()
        assert WecomTag.objects.count() == 2

    def test_customer_service_may_not_open_it(self) -> None:
        response = operator(Role.CUSTOMER_SERVICE, "cs").get(PAGE)
        assert response.status_code == 403
