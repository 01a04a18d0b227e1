"""The commission back office: rules edited through the audited service; attributed orders,
accruals, the ledger and settlement read-only; community managers and admins only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.groupbuy.commission.models import CommissionRule, LedgerTransaction
from tests.factories import make_staff_user
from tests.groupbuy.commission.helpers import (
    Committed,
    attributed,
    committed,
    customer_of,
    paid_order,
    rule,
    sku,
)
from tests.groupbuy.factories import make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]

READ_ONLY = (
    "leaderorder",
    "commissionaccrual",
    "ledgertransaction",
    "ledgerleg",
    "settlementrun",
    "settlementstatement",
)


def staff(*roles: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user("staff", *roles))
    return client


class TestCommissionAdmin:
    def test_a_community_manager_reads_every_page_and_cannot_change_the_ledger(
        self, committed: Committed
    ) -> None:
        leader = make_leader()
        rule(1, 500)
        order = paid_order(committed, customer_of(leader), (sku(10_000), 1))
        client = staff(Role.COMMUNITY_MANAGER)
        for model in (*READ_ONLY, "commissionrule"):
            assert client.get(reverse(f"admin:groupbuy_{model}_changelist")).status_code == 200
        posted = LedgerTransaction.objects.get()
        page = client.get(reverse("admin:groupbuy_ledgertransaction_change", args=[posted.pk]))
        assert page.status_code == 200
        assert order.order_no in page.content.decode()
        assert (
            attributed(order).pickup_code
            not in client.get(
                reverse("admin:groupbuy_leaderorder_change", args=[attributed(order).pk])
            ).content.decode()
        )
        for model in READ_ONLY:
            assert client.get(reverse(f"admin:groupbuy_{model}_add")).status_code == 403

    def test_a_rule_added_in_the_back_office_is_checked_and_audited(self) -> None:
        client = staff(Role.COMMUNITY_MANAGER)
        url = reverse("admin:groupbuy_commissionrule_add")
        fields = {
            "depth": "1",
            "rate_bp": "300",
            "valid_from_0": "2026-12-01",
            "valid_from_1": "00:00:00",
        }
        added = client.post(url, fields)
        assert added.status_code == 302, added.content.decode()[:2000]
        assert CommissionRule.objects.get().rate_bp == 300
        assert AuditLog.objects.filter(action="groupbuy.commission_rule.save").count() == 1
        refused = client.post(url, {**fields, "rate_bp": "6000"})
        assert refused.status_code == 302
        assert CommissionRule.objects.count() == 1

    def test_staff_without_the_role_see_nothing(self) -> None:
        client = staff(Role.MARKETER)
        for model in (*READ_ONLY, "commissionrule"):
            assert client.get(reverse(f"admin:groupbuy_{model}_changelist")).status_code == 403
