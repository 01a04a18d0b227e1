from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from freshloop.core.audit import Actor, audit_record
from freshloop.core.logging import request_id_var
from freshloop.core.models import AuditLog


@pytest.mark.django_db
class TestAuditRecord:
    def test_records_actor_target_change_and_request(self) -> None:
        # given an operator acting within a request
        user = User.objects.create_user(username="ops")
        token = request_id_var.set("req-123")
        try:
            # when a change is audited
            entry = audit_record(
                actor=Actor.for_user(user),
                action="sku.price_change",
                target_type="catalog.Sku",
                target_id="7",
                before={"price_fen": 1290},
                after={"price_fen": 1190},
            )
        finally:
            request_id_var.reset(token)
        # then everything needed to answer "who changed what, when" is stored
        stored = AuditLog.objects.get(pk=entry.pk)
        assert (stored.actor_type, stored.actor_label) == ("user", "ops")
        assert stored.before == {"price_fen": 1290}
        assert stored.after == {"price_fen": 1190}
        assert stored.request_id == "req-123"
        assert stored.created_at is not None

    def test_rolls_back_with_the_change(self) -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(actor=Actor.system("job"), action="x", target_type="t", target_id="1")
            raise RuntimeError
        assert AuditLog.objects.count() == 0

    def test_needs_a_target(self) -> None:
        with pytest.raises(ValueError, match="target"):
            audit_record(actor=Actor.system("job"), action="x")
