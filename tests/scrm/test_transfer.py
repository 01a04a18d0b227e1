"""Staff transfer (客户继承) through the sandbox: a leaver's customers handed to one or several
colleagues, WeCom's answer polled (taken over → new 跟进人; refused / taker full → ended), the
transfer_fail callback, the leaver's tasks moving, and bad requests refused before WeCom."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.messaging.errors import WecomUnavailable
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    sandbox_contact_add,
    sandbox_contacts,
    sandbox_staff_resign,
    sandbox_transfer_settle,
)
from freshloop.scrm.errors import ContactTransferInvalid, ContactTransferUnavailable
from freshloop.scrm.models import (
    ContactStatus,
    ContactTransfer,
    StaffTask,
    TaskStatus,
    TransferKind,
    TransferStatus,
    WecomContact,
)
from freshloop.scrm.transfer import contacts_transfer, transfer_fail_record, transfers_poll
from tests.scrm.wecom_helpers import callback, committed, contact, wecom_calls

pytestmark = pytest.mark.django_db
__all__ = ["committed", "wecom_calls"]  # fixtures

MANAGER = Actor(type="user", id="9", label="社群主管")
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
LIN, ZHOU, WU = "fl_staff_lin", "fl_staff_zhou", "fl_staff_wu"


@pytest.fixture
def lin_customers() -> list[WecomContact]:
    """林 follows three customers; 吴 joins the corp (so there are two colleagues)."""
    sandbox_contact_add(staff_userid=LIN, external_userid="wm_sandbox_0004", name="赵")
    sandbox_contact_add(staff_userid=WU, external_userid="wm_wu_01", name="吴的客户")
    with clock.frozen(MORNING):
        return [contact(f"wm_sandbox_000{n}") for n in (1, 2, 4)]


def follows(external_userid: str) -> list[str]:
    (found,) = [c for c in sandbox_contacts() if c.external_userid == external_userid]
    return [follow.userid for follow in found.follow_users]


def task_for(contact_row: WecomContact, assignee: str = LIN) -> StaffTask:
    return StaffTask.objects.create(
        person_id=contact_row.person_id,
        title="回访",
        assignee=assignee,
        due_at=MORNING,
        created_at=MORNING,
    )


class TestResignedTransfer:
    def test_round_robin_then_taken_over_after_24_hours(
        self, lin_customers: list[WecomContact], wecom_calls: list[Any]
    ) -> None:
        sandbox_staff_resign(userid=LIN)
        with clock.frozen(MORNING):
            outcome = contacts_transfer(
                handover_userid=LIN,
                takeover_userids=[ZHOU, WU],
                kind=TransferKind.RESIGNED,
                actor=MANAGER,
            )
        assert (outcome.waiting, outcome.rejected, outcome.skipped) == (3, 0, 0)
        plan = {row.contact.external_userid: row.takeover_userid for row in outcome.transfers}
        assert plan == {"wm_sandbox_0001": ZHOU, "wm_sandbox_0002": WU, "wm_sandbox_0004": ZHOU}
        asked = sorted(
            (call["takeover_userid"], tuple(call["external_userids"]), call["resigned"])
            for _, call in wecom_calls
        )
        assert asked == [
            (WU, ("wm_sandbox_0002",), True),
            (ZHOU, ("wm_sandbox_0001", "wm_sandbox_0004"), True),
        ]
        # WeCom has not handed them over yet: the 跟进人 stays.
        with clock.frozen(MORNING + dt.timedelta(hours=1)):
            assert transfers_poll() == 0
        assert set(WecomContact.objects.values_list("follow_userid", flat=True)) == {LIN}
        with clock.frozen(MORNING + dt.timedelta(hours=24, minutes=1)):
            assert transfers_poll() == 3
        assert dict(WecomContact.objects.values_list("external_userid", "follow_userid")) == plan
        assert set(ContactTransfer.objects.values_list("status", flat=True)) == {
            TransferStatus.DONE
        }
        assert follows("wm_sandbox_0002") == [WU]
        with clock.frozen(MORNING + dt.timedelta(hours=25)):
            assert transfers_poll() == 0  # idempotent

    def test_the_leavers_open_tasks_follow_the_customers(
        self, lin_customers: list[WecomContact]
    ) -> None:
        first, second, _ = lin_customers
        mine, loose, done = task_for(first), task_for(second), task_for(first)
        StaffTask.objects.filter(pk=done.pk).update(status=TaskStatus.DONE)
        sandbox_staff_resign(userid=LIN)
        outcome = contacts_transfer(
            handover_userid=LIN,
            takeover_userids=[ZHOU],
            kind=TransferKind.RESIGNED,
            external_userids=["wm_sandbox_0001"],
            actor=MANAGER,
        )
        assert outcome.tasks_moved == 2  # 离职继承: the leaver's other open task too
        assert StaffTask.objects.get(pk=mine.pk).assignee == ZHOU
        assert StaffTask.objects.get(pk=loose.pk).assignee == ZHOU
        assert StaffTask.objects.get(pk=done.pk).assignee == LIN
        audit = AuditLog.objects.get(action="scrm.contacts_transfer")
        assert audit.after["waiting"] == 1
        assert audit.after["tasks_moved"] == 2

    def test_a_customer_already_waiting_is_skipped(
        self, lin_customers: list[WecomContact], wecom_calls: list[Any]
    ) -> None:
        sandbox_staff_resign(userid=LIN)
        ids = ["wm_sandbox_0001"]
        contacts_transfer(
            handover_userid=LIN,
            takeover_userids=[ZHOU],
            kind="resigned",
            external_userids=ids,
            actor=MANAGER,
        )
        again = contacts_transfer(
            handover_userid=LIN,
            takeover_userids=[WU],
            kind="resigned",
            external_userids=ids,
            actor=MANAGER,
        )
        assert (again.waiting, again.skipped) == (0, 1)
        assert len(wecom_calls) == 1


class TestInServiceTransfer:
    def test_the_customer_refuses(self, lin_customers: list[WecomContact]) -> None:
        contacts_transfer(
            handover_userid=LIN,
            takeover_userids=[ZHOU],
            kind=TransferKind.IN_SERVICE,
            external_userids=["wm_sandbox_0001"],
            transfer_success_msg="您好，之后由周为您服务",
            actor=MANAGER,
        )
        sandbox_transfer_settle(external_userid="wm_sandbox_0001", status=3)
        assert transfers_poll() == 1
        row = ContactTransfer.objects.get()
        assert (row.status, row.finished_at is not None) == (TransferStatus.REFUSED, True)
        assert WecomContact.objects.get(external_userid="wm_sandbox_0001").follow_userid == LIN

    def test_taken_over_changes_the_follow_user(self, lin_customers: list[WecomContact]) -> None:
        contacts_transfer(
            handover_userid=LIN,
            takeover_userids=[ZHOU],
            kind="in_service",
            external_userids=["wm_sandbox_0002"],
            actor=MANAGER,
        )
        sandbox_transfer_settle(external_userid="wm_sandbox_0002", status=1)
        transfers_poll()
        assert WecomContact.objects.get(external_userid="wm_sandbox_0002").follow_userid == ZHOU

    def test_the_removed_old_relation_is_not_a_lost_customer(
        self, lin_customers: list[WecomContact], committed: Any
    ) -> None:
        with committed():
            callback("del_follow_user", "wm_sandbox_0001", LIN, source="DELETE_BY_TRANSFER")
        assert WecomContact.objects.get(external_userid="wm_sandbox_0001").status == (
            ContactStatus.ACTIVE
        )
        with committed():
            callback("del_follow_user", "wm_sandbox_0002", LIN)
        assert WecomContact.objects.get(external_userid="wm_sandbox_0002").status == (
            ContactStatus.LOST
        )


class TestTransferFailCallback:
    def test_the_taker_full_ends_the_transfer_once(
        self, lin_customers: list[WecomContact], committed: Any
    ) -> None:
        contacts_transfer(
            handover_userid=LIN,
            takeover_userids=[ZHOU],
            kind="in_service",
            external_userids=["wm_sandbox_0001"],
            actor=MANAGER,
        )
        with committed():
            callback("transfer_fail", "wm_sandbox_0001", ZHOU, fail_reason="customer_limit_exceed")
        row = ContactTransfer.objects.get()
        assert (row.status, row.fail_reason) == (TransferStatus.TAKER_FULL, "customer_limit_exceed")
        assert (
            transfer_fail_record(
                external_userid="wm_sandbox_0001",
                takeover_userid=ZHOU,
                fail_reason="customer_refused",
            )
            == 0
        )
        assert ContactTransfer.objects.get().status == TransferStatus.TAKER_FULL


class TestRefusedRequests:
    def refused(self, **fields: Any) -> list[str]:
        arguments: dict[str, Any] = {
            "handover_userid": LIN,
            "takeover_userids": [ZHOU],
            "kind": "in_service",
            "actor": MANAGER,
            **fields,
        }
        with pytest.raises(ContactTransferInvalid) as raised:
            contacts_transfer(**arguments)
        assert raised.value.status == 422
        return [problem["field"] for problem in raised.value.detail]

    def test_bad_requests_name_their_field(self, lin_customers: list[WecomContact]) -> None:
        assert self.refused(takeover_userids=["fl_staff_ghost"]) == ["takeover_userids"]
        assert self.refused(takeover_userids=[LIN]) == ["takeover_userids"]
        assert self.refused(kind="resigned") == ["handover_userid"]  # 林 is still in service
        assert self.refused(external_userids=["wm_sandbox_0003"]) == ["external_userids"]
        assert self.refused(external_userids=[f"wm_{n}" for n in range(101)]) == [
            "external_userids",
            "external_userids",
        ]
        assert self.refused(transfer_success_msg="好" * 201) == ["transfer_success_msg"]
        assert self.refused(assignments={"wm_sandbox_0001": WU}) == ["assignments"]
        assert self.refused(handover_userid=ZHOU, takeover_userids=[WU]) == ["handover_userid"]
        assert ContactTransfer.objects.count() == 0

    def test_a_departed_taker_is_refused(self, lin_customers: list[WecomContact]) -> None:
        sandbox_staff_resign(userid=ZHOU)
        assert self.refused() == ["takeover_userids"]

    def test_wecom_down_before_anything_was_asked(
        self, lin_customers: list[WecomContact], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def down(self: Any, **kwargs: Any) -> Any:
            raise WecomUnavailable(errcode=-1, errmsg="system busy")

        monkeypatch.setattr(SandboxWecomClient, "transfer_customer", down)
        with pytest.raises(ContactTransferUnavailable):
            contacts_transfer(
                handover_userid=LIN, takeover_userids=[ZHOU], kind="in_service", actor=MANAGER
            )
        assert ContactTransfer.objects.count() == 0

    def test_chosen_takers_win_over_round_robin(self, lin_customers: list[WecomContact]) -> None:
        outcome = contacts_transfer(
            handover_userid=LIN,
            takeover_userids=[ZHOU, WU],
            kind="in_service",
            assignments={"wm_sandbox_0001": WU},
            actor=MANAGER,
        )
        plan = {row.contact.external_userid: row.takeover_userid for row in outcome.transfers}
        assert plan == {"wm_sandbox_0001": WU, "wm_sandbox_0002": ZHOU, "wm_sandbox_0004": WU}
