"""The back-office lists of after-sales, recall and integration records open and are read-only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from freshloop.core.audit import Actor
from freshloop.fulfillment.aftersales_rules import aftersales_rule_create
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db

MODELS = ["aftersalesrule", "autodecision", "servicetask", "recall", "webhookendpoint", "importrun"]


@pytest.mark.parametrize("model", MODELS)
def test_the_list_opens_and_nothing_can_be_added(model: str) -> None:
    aftersales_rule_create(
        spec={"name": "超温退款", "trigger": "excursion", "action": "full_refund"},
        actor=Actor.system("tests"),
    )
    client = Client()
    client.force_login(make_staff_user("boss", superuser=True))
    assert client.get(reverse(f"admin:fulfillment_{model}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:fulfillment_{model}_add")).status_code == 403
