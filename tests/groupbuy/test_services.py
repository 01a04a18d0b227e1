"""Group leaders (GB-1): applying, the operator's decisions, levels and customers attaching."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.db import connection

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.groupbuy.errors import (
    AttachmentLocked,
    AttachToSelfRefused,
    GroupbuyInputInvalid,
    IdNumberTaken,
    InviteCodeInvalid,
    LeaderAlreadyApplied,
    LeaderNotFound,
    LeaderStateInvalid,
)
from freshloop.groupbuy.models import (
    AttachmentReason,
    GroupLeader,
    LeaderAttachmentLog,
    LeaderCustomer,
    LeaderStatus,
)
from freshloop.groupbuy.services import (
    customer_attach,
    leader_apply,
    leader_approve,
    leader_level_set,
    leader_reinstate,
    leader_reject,
    leader_suspend,
)
from tests.concurrency import errors_of, run_at_once, values_of
from tests.factories import make_person
from tests.groupbuy.factories import OPERATOR, application, make_applicant, make_leader

pytestmark = pytest.mark.django_db

MONDAY = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


class TestLeaderApply:
    def test_an_application_waits_at_the_entry_level_with_its_id_sealed(self) -> None:
        # given a consumer; when they apply
        leader = make_applicant(id_number="11010519491231002x")
        # then the leadership is pending, at 见习, with a fresh invite code and leader number
        assert leader.status == LeaderStatus.APPLIED
        assert leader.level.code == "trainee"
        assert leader.leader_no.startswith("GL_")
        assert len(leader.invite_code) == 8
        assert (leader.pickup_province, leader.pickup_city) == ("上海", "上海")
        assert leader.pickup_address["phone"] == "+8613800138000"
        # and the ID number is normalised, read back, and never stored in clear
        leader.refresh_from_db()
        assert leader.id_number == "11010519491231002X"
        with connection.cursor() as cursor:
            cursor.execute("SELECT id_number, real_name, pickup_address FROM groupbuy_groupleader")
            stored = " ".join(cursor.fetchone())
        assert "11010519491231002X" not in stored
        assert "王美丽" not in stored
        assert "张杨路" not in stored
        assert AuditLog.objects.filter(action="groupbuy.leader.apply").count() == 1

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            (
                {"id_number": "110105194912310021"},
                "id_number",
                "身份证号校验位不正确，请核对后重新填写",
            ),
            ({"id_number": "11010519491231002"}, "id_number", None),
            ({"id_number": "01010519491231002X"}, "id_number", None),
            ({"id_number": "510107197802290022"}, "id_number", "身份证号中的出生日期不正确"),
            ({"id_number": "110101201001010015"}, "id_number", "团长须年满 18 周岁"),
            ({"display_name": "  "}, "display_name", "请填写团长昵称"),
            ({"pickup_hours": "x" * 65}, "pickup_hours", "营业时间最多 64 个字"),
            ({"pickup_address": {"name": "王"}}, "pickup_address.phone", "请填写联系电话"),
            (
                {"pickup_address": {**application()["pickup_address"], "phone": "12"}},
                "pickup_address.phone",
                "联系电话格式不正确",
            ),
            ({"recruiter_invite_code": "NOSUCH23"}, "recruiter_invite_code", None),
        ],
    )
    def test_bad_input_names_the_field_and_writes_nothing(
        self, overrides: dict[str, Any], field: str, message: str | None
    ) -> None:
        # when an application has one bad field
        with clock.frozen(MONDAY), pytest.raises(GroupbuyInputInvalid) as refused:
            leader_apply(person=make_person(), **application(**overrides))
        # then the 422 names it in a sentence, and nothing was written
        fields = {problem["field"]: problem["message"] for problem in refused.value.detail}
        assert field in fields
        if message:
            assert fields[field] == message
        assert not GroupLeader.objects.exists()
        assert not AuditLog.objects.filter(action__startswith="groupbuy.").exists()

    def test_a_person_applies_once(self) -> None:
        # given a pending applicant; when they apply again, then it is refused
        leader = make_applicant()
        with pytest.raises(LeaderAlreadyApplied):
            make_applicant(leader.person)
        # and once active, still refused
        leader_approve(actor=OPERATOR, leader_no=leader.leader_no)
        with pytest.raises(LeaderAlreadyApplied):
            make_applicant(leader.person)
        assert GroupLeader.objects.count() == 1

    def test_one_id_number_cannot_run_two_leaderships(self) -> None:
        # given an active leader
        make_leader(id_number="11010519491231002X")
        # when someone else applies with the same number, typed differently
        with pytest.raises(IdNumberTaken):
            make_applicant(id_number=" 110105 19491231002x ")
        # then there is still one leadership
        assert GroupLeader.objects.count() == 1

    def test_a_rejected_applicant_applies_again_on_the_same_row(self) -> None:
        # given a rejected application
        first = make_applicant(display_name="初次")
        leader_reject(actor=OPERATOR, leader_no=first.leader_no, reason="自提点照片不清晰")
        # when the person applies again with corrected details
        again = make_applicant(first.person, display_name="再次")
        # then the same leadership is pending again, the old decision cleared
        assert again.pk == first.pk
        assert again.leader_no == first.leader_no
        assert again.status == LeaderStatus.APPLIED
        assert again.display_name == "再次"
        assert (again.decided_at, again.decision_reason) == (None, "")
        assert AuditLog.objects.filter(action="groupbuy.leader.reapply").count() == 1

    def test_a_rejected_application_releases_its_id_number(self) -> None:
        first = make_applicant(id_number="310104198506121230")
        leader_reject(actor=OPERATOR, leader_no=first.leader_no, reason="非本人证件")
        other = make_applicant(id_number="310104198506121230")
        assert other.status == LeaderStatus.APPLIED

    def test_the_recruiter_is_the_leader_whose_code_was_given(self) -> None:
        recruiter = make_leader()
        recruit = make_applicant(recruiter_invite_code=recruiter.invite_code.lower())
        assert recruit.recruiter == recruiter


class TestLeaderDecisions:
    def test_approve_then_suspend_then_reinstate(self) -> None:
        leader = make_applicant()
        approved = leader_approve(actor=OPERATOR, leader_no=leader.leader_no)
        assert approved.status == LeaderStatus.ACTIVE
        assert approved.decided_by == "ops-lily"
        assert approved.decided_at is not None
        suspended = leader_suspend(actor=OPERATOR, leader_no=leader.leader_no, reason="投诉核查中")
        assert (suspended.status, suspended.suspended_reason) == ("suspended", "投诉核查中")
        reinstated = leader_reinstate(actor=OPERATOR, leader_no=leader.leader_no)
        assert (reinstated.status, reinstated.suspended_reason) == ("active", "")
        actions = list(
            AuditLog.objects.filter(action__startswith="groupbuy.leader.")
            .order_by("pk")
            .values_list("action", flat=True)
        )
        assert actions == [
            "groupbuy.leader.apply",
            "groupbuy.leader.approve",
            "groupbuy.leader.suspend",
            "groupbuy.leader.reinstate",
        ]

    @pytest.mark.parametrize(
        ("state", "decision"),
        [
            ("active", "approve"),
            ("active", "reject"),
            ("active", "reinstate"),
            ("applied", "suspend"),
            ("applied", "reinstate"),
            ("rejected", "approve"),
            ("rejected", "suspend"),
            ("suspended", "approve"),
            ("suspended", "suspend"),
        ],
    )
    def test_a_decision_out_of_turn_is_a_conflict_and_changes_nothing(
        self, state: str, decision: str
    ) -> None:
        # given a leadership in `state`
        leader = make_applicant()
        if state == "rejected":
            leader_reject(actor=OPERATOR, leader_no=leader.leader_no, reason="资料不全")
        if state in ("active", "suspended"):
            leader_approve(actor=OPERATOR, leader_no=leader.leader_no)
        if state == "suspended":
            leader_suspend(actor=OPERATOR, leader_no=leader.leader_no, reason="暂停")
        audits = AuditLog.objects.count()
        # when an operator takes a decision the state does not allow
        calls = {
            "approve": lambda: leader_approve(actor=OPERATOR, leader_no=leader.leader_no),
            "reject": lambda: leader_reject(actor=OPERATOR, leader_no=leader.leader_no, reason="x"),
            "suspend": lambda: leader_suspend(
                actor=OPERATOR, leader_no=leader.leader_no, reason="x"
            ),
            "reinstate": lambda: leader_reinstate(actor=OPERATOR, leader_no=leader.leader_no),
        }
        with pytest.raises(LeaderStateInvalid):
            calls[decision]()
        # then nothing changed
        leader.refresh_from_db()
        assert leader.status == state
        assert AuditLog.objects.count() == audits

    def test_reject_and_suspend_need_a_reason(self) -> None:
        leader = make_applicant()
        with pytest.raises(GroupbuyInputInvalid) as refused:
            leader_reject(actor=OPERATOR, leader_no=leader.leader_no, reason="  ")
        assert refused.value.detail == [{"field": "reason", "message": "请填写原因"}]
        leader.refresh_from_db()
        assert leader.status == LeaderStatus.APPLIED

    def test_an_unknown_leader_is_not_found(self) -> None:
        with pytest.raises(LeaderNotFound):
            leader_approve(actor=OPERATOR, leader_no="GL_NOSUCH")


class TestLeaderLevelSet:
    def test_an_operator_sets_the_level_audited(self) -> None:
        leader = make_leader()
        updated = leader_level_set(actor=OPERATOR, leader_no=leader.leader_no, level_code="gold")
        assert updated.level.name == "金牌团长"
        entry = AuditLog.objects.get(action="groupbuy.leader.level_set")
        assert (entry.before, entry.after) == ({"level": "trainee"}, {"level": "gold"})

    def test_an_unknown_level_is_refused(self) -> None:
        leader = make_leader()
        with pytest.raises(GroupbuyInputInvalid):
            leader_level_set(actor=OPERATOR, leader_no=leader.leader_no, level_code="diamond")


def _switch_log(person_id: int) -> list[tuple[int | None, int | None, str]]:
    return list(
        LeaderAttachmentLog.objects.filter(person_id=person_id)
        .order_by("pk")
        .values_list("from_leader_id", "to_leader_id", "reason")
    )


class TestCustomerAttach:
    def test_a_first_attachment_is_kept_and_logged(self) -> None:
        leader, customer = make_leader(), make_person()
        with clock.frozen(MONDAY):
            result = customer_attach(person=customer, invite_code=leader.invite_code, source="qr")
        assert result.changed
        assert result.attachment.leader == leader
        assert result.locked_until == MONDAY + dt.timedelta(days=30)
        assert _switch_log(customer.pk) == [(None, leader.pk, AttachmentReason.ATTACH)]

    def test_only_an_active_leaders_code_attaches(self) -> None:
        pending, suspended = make_applicant(), make_leader()
        leader_suspend(actor=OPERATOR, leader_no=suspended.leader_no, reason="暂停")
        for code in (pending.invite_code, suspended.invite_code, "ZZZZZZZZ", ""):
            with pytest.raises(InviteCodeInvalid):
                customer_attach(person=make_person(), invite_code=code, source="qr")
        assert not LeaderCustomer.objects.exists()

    def test_a_leader_cannot_attach_to_themself(self) -> None:
        leader = make_leader()
        with pytest.raises(AttachToSelfRefused):
            customer_attach(person=leader.person, invite_code=leader.invite_code, source="qr")

    def test_an_unknown_source_is_a_field_error(self) -> None:
        with pytest.raises(GroupbuyInputInvalid):
            customer_attach(
                person=make_person(), invite_code=make_leader().invite_code, source="sms"
            )

    def test_the_same_code_again_changes_nothing(self) -> None:
        leader, customer = make_leader(), make_person()
        with clock.frozen(MONDAY):
            customer_attach(person=customer, invite_code=leader.invite_code, source="qr")
        with clock.frozen(MONDAY + dt.timedelta(days=20)):
            again = customer_attach(
                person=customer, invite_code=leader.invite_code, source="invite_link"
            )
        assert not again.changed
        assert again.attachment.attached_at == MONDAY
        assert again.attachment.source == "qr"
        assert len(_switch_log(customer.pk)) == 1

    def test_another_leader_waits_for_the_attribution_window(self) -> None:
        # given a customer attached on Monday
        first, second, customer = make_leader(), make_leader(), make_person()
        with clock.frozen(MONDAY):
            customer_attach(person=customer, invite_code=first.invite_code, source="qr")
        # when another leader's code is used a minute before the 30 days are up: refused
        a_minute_early = MONDAY + dt.timedelta(days=30, minutes=-1)
        with clock.frozen(a_minute_early), pytest.raises(AttachmentLocked) as locked:
            customer_attach(person=customer, invite_code=second.invite_code, source="qr")
        assert locked.value.detail == {"until": "2027-01-06T01:00:00+00:00"}
        assert "2027-01-06 09:00 前不能更换团长" in locked.value.text
        assert LeaderCustomer.objects.get(person=customer).leader == first
        # when it is used once the window is over: the customer switches, logged
        with clock.frozen(MONDAY + dt.timedelta(days=30)):
            switched = customer_attach(person=customer, invite_code=second.invite_code, source="qr")
        assert switched.changed
        assert switched.attachment.leader == second
        assert switched.attachment.attached_at == MONDAY + dt.timedelta(days=30)
        assert _switch_log(customer.pk)[-1] == (first.pk, second.pk, AttachmentReason.SWITCH)
        assert LeaderCustomer.objects.filter(person=customer).count() == 1

    def test_the_window_is_a_setting(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP,
            groupbuy=dataclasses.replace(settings.FRESHLOOP.groupbuy, attribution_days=7),
        )
        first, second, customer = make_leader(), make_leader(), make_person()
        with clock.frozen(MONDAY):
            customer_attach(person=customer, invite_code=first.invite_code, source="qr")
        with clock.frozen(MONDAY + dt.timedelta(days=7)):
            switched = customer_attach(person=customer, invite_code=second.invite_code, source="qr")
        assert switched.attachment.leader == second

    def test_a_suspended_leaders_customer_may_switch_at_once(self) -> None:
        first, second, customer = make_leader(), make_leader(), make_person()
        with clock.frozen(MONDAY):
            customer_attach(person=customer, invite_code=first.invite_code, source="qr")
            leader_suspend(actor=OPERATOR, leader_no=first.leader_no, reason="停业")
            switched = customer_attach(person=customer, invite_code=second.invite_code, source="qr")
        assert switched.attachment.leader == second


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite has one writer at a time")
class TestAtTheSameInstant:
    def test_two_people_with_one_code_are_both_attached_once(self) -> None:
        leader, alice, bob = make_leader(), make_person(), make_person()
        outcomes = run_at_once(
            [
                lambda: customer_attach(person=alice, invite_code=leader.invite_code, source="qr"),
                lambda: customer_attach(person=bob, invite_code=leader.invite_code, source="qr"),
            ]
        )
        assert errors_of(outcomes) == []
        assert LeaderCustomer.objects.filter(leader=leader).count() == 2
        assert LeaderAttachmentLog.objects.count() == 2

    @pytest.mark.parametrize("repeat", range(3))
    def test_one_person_with_two_codes_ends_with_one_leader(self, repeat: int) -> None:
        first, second, customer = make_leader(), make_leader(), make_person()
        outcomes = run_at_once(
            [
                lambda: customer_attach(
                    person=customer, invite_code=first.invite_code, source="qr"
                ),
                lambda: customer_attach(
                    person=customer, invite_code=second.invite_code, source="qr"
                ),
            ]
        )
        # then one code won and the other was refused by the attribution window
        assert [type(error) for error in errors_of(outcomes)] == [AttachmentLocked]
        [won] = values_of(outcomes)
        assert LeaderCustomer.objects.filter(person=customer).count() == 1
        assert LeaderCustomer.objects.get(person=customer).leader_id == won.attachment.leader_id
        assert LeaderAttachmentLog.objects.filter(person=customer).count() == 1

    def test_one_id_number_applied_twice_at_once_makes_one_leadership(self) -> None:
        outcomes = run_at_once(
            [
                lambda: make_applicant(id_number="440306199003070010"),
                lambda: make_applicant(id_number="440306199003070010"),
            ]
        )
        assert [type(error) for error in errors_of(outcomes)] == [IdNumberTaken]
        assert GroupLeader.objects.count() == 1

    def test_one_person_applying_twice_at_once_makes_one_leadership(self) -> None:
        person = make_person()
        outcomes = run_at_once([lambda: make_applicant(person), lambda: make_applicant(person)])
        assert [type(error) for error in errors_of(outcomes)] == [LeaderAlreadyApplied]
        assert GroupLeader.objects.count() == 1
