"""The group-buying API: consumers apply, attach and read their customers; operators decide.
Isolation is tried for real: another leader, a non-leader, staff without the role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.groupbuy.models import GroupLeader, LeaderCustomer, LeaderStatus
from freshloop.groupbuy.services import customer_attach
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from tests.factories import make_person, make_staff_user
from tests.groupbuy.factories import application, make_applicant, make_leader

pytestmark = pytest.mark.django_db
URL = "/api/v1/groupbuy"


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def operator(*roles: Role, username: str = "ops") -> Client:
    client = Client()
    client.force_login(make_staff_user(username, *roles))
    return client


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(f"{URL}{url}", data=json.dumps(body or {}), content_type="application/json")


class TestApplyAndMe:
    def test_apply_then_read_my_leadership(self) -> None:
        person = make_person()
        client = client_for(person)
        assert client.get(f"{URL}/leaders/me").json()["code"] == "leader_not_found"
        created = post(client, "/leaders/apply", application(id_number="11010519491231002X"))
        assert created.status_code == 201, created.content
        body = created.json()
        assert body["status"] == "applied"
        assert body["status_label"] == "待审核"
        assert body["level_name"] == "见习团长"
        assert body["id_number_masked"] == "1101**********002X"
        assert "11010519491231002X" not in created.content.decode()
        me = client.get(f"{URL}/leaders/me")
        assert me.status_code == 200
        assert me.json()["leader_no"] == body["leader_no"]

    def test_a_bad_check_digit_is_a_422_naming_the_field(self) -> None:
        client = client_for(make_person())
        answer = post(client, "/leaders/apply", application(id_number="110105194912310021"))
        assert answer.status_code == 422
        assert answer.json()["code"] == "groupbuy_input_invalid"
        assert answer.json()["detail"] == [
            {"field": "id_number", "message": "身份证号校验位不正确，请核对后重新填写"}
        ]
        assert not GroupLeader.objects.exists()

    def test_a_missing_field_is_a_validation_error(self) -> None:
        body = application()
        del body["pickup_hours"]
        answer = post(client_for(make_person()), "/leaders/apply", body)
        assert answer.status_code == 422
        assert answer.json()["message"] == "请填写营业时间"

    def test_applying_twice_is_a_conflict(self) -> None:
        client = client_for(make_person())
        assert post(client, "/leaders/apply", application()).status_code == 201
        again = post(client, "/leaders/apply", application())
        assert (again.status_code, again.json()["code"]) == (409, "leader_already_applied")

    def test_anonymous_callers_are_refused(self) -> None:
        assert Client().get(f"{URL}/leaders/me").status_code == 401
        assert post(Client(), "/leaders/apply", application()).status_code == 401


class TestAttach:
    def test_attach_by_qr_then_a_second_leader_is_refused(self) -> None:
        first, second = make_leader(), make_leader()
        client = client_for(make_person())
        answer = post(client, "/attach", {"invite_code": first.invite_code, "source": "qr"})
        assert answer.status_code == 200, answer.content
        assert answer.json()["leader_display_name"] == first.display_name
        assert answer.json()["changed"] is True
        refused = post(client, "/attach", {"invite_code": second.invite_code, "source": "qr"})
        assert refused.status_code == 409
        assert refused.json()["code"] == "attachment_locked"
        assert "前不能更换团长" in refused.json()["message"]

    def test_an_unknown_code_and_a_pending_leaders_code_answer_alike(self) -> None:
        client = client_for(make_person())
        unknown = post(client, "/attach", {"invite_code": "ZZZZ2345"})
        pending = post(client, "/attach", {"invite_code": make_applicant().invite_code})
        assert unknown.status_code == pending.status_code == 404
        assert unknown.json()["message"] == pending.json()["message"]

    def test_a_garbled_code_is_a_validation_error(self) -> None:
        answer = post(client_for(make_person()), "/attach", {"invite_code": "<script>"})
        assert answer.status_code == 422


class TestLeaderCustomers:
    def test_each_leader_sees_only_their_own_customers(self) -> None:
        # given leaders A and B, A with two customers and B with one
        leader_a, leader_b = make_leader(), make_leader()
        for leader, phone in (
            (leader_a, "13700000001"),
            (leader_a, "13700000002"),
            (leader_b, "13700000003"),
        ):
            customer_attach(
                person=make_person(phone=phone), invite_code=leader.invite_code, source="qr"
            )
        # when B asks for their customers
        answer = client_for(leader_b.person).get(f"{URL}/leader/customers")
        # then B sees exactly B's one customer, phone masked, and nothing of A's
        assert answer.status_code == 200
        assert answer.json()["total"] == 1
        assert [row["masked_phone"] for row in answer.json()["items"]] == ["137****0003"]
        assert "13700000001" not in answer.content.decode()
        mine = client_for(leader_a.person).get(f"{URL}/leader/customers").json()
        assert mine["total"] == 2

    def test_a_non_leader_gets_a_403_in_chinese(self) -> None:
        for person in (make_person(), make_applicant().person):
            answer = client_for(person).get(f"{URL}/leader/customers")
            assert answer.status_code == 403
            assert answer.json()["code"] == "not_an_active_leader"
            assert answer.json()["message"] == "您还不是营业中的团长，无法查看团长数据"

    def test_a_customer_cannot_read_their_leaders_list(self) -> None:
        leader, customer = make_leader(), make_person()
        customer_attach(person=customer, invite_code=leader.invite_code, source="qr")
        assert client_for(customer).get(f"{URL}/leader/customers").status_code == 403


class TestOperatorDecisions:
    def test_a_community_manager_approves_suspends_and_reinstates(self) -> None:
        leader = make_applicant()
        ops = operator(Role.COMMUNITY_MANAGER)
        listed = ops.get(f"{URL}/leaders", {"status": "applied"}).json()
        assert [row["leader_no"] for row in listed["items"]] == [leader.leader_no]
        approved = post(ops, f"/leaders/{leader.leader_no}/approve")
        assert approved.status_code == 200, approved.content
        assert approved.json()["status"] == "active"
        assert approved.json()["decided_by"] == "ops"
        suspended = post(ops, f"/leaders/{leader.leader_no}/suspend", {"reason": "投诉核查"})
        assert suspended.json()["suspended_reason"] == "投诉核查"
        assert post(ops, f"/leaders/{leader.leader_no}/reinstate").json()["status"] == "active"
        level = post(ops, f"/leaders/{leader.leader_no}/level", {"level_code": "regular"})
        assert level.json()["level_name"] == "正式团长"
        assert AuditLog.objects.filter(actor_label="ops").count() == 4

    def test_reject_needs_a_reason_and_a_wrong_state_is_a_409(self) -> None:
        leader = make_applicant()
        ops = operator(Role.COMMUNITY_MANAGER)
        assert post(ops, f"/leaders/{leader.leader_no}/reject", {}).status_code == 422
        rejected = post(ops, f"/leaders/{leader.leader_no}/reject", {"reason": "资料不全"})
        assert rejected.json()["status"] == "rejected"
        again = post(ops, f"/leaders/{leader.leader_no}/approve")
        assert (again.status_code, again.json()["code"]) == (409, "leader_state_invalid")
        missing = post(ops, "/leaders/GL_NOSUCH/approve")
        assert (missing.status_code, missing.json()["code"]) == (404, "leader_not_found")

    def test_without_the_role_operators_and_consumers_are_refused(self) -> None:
        leader = make_applicant()
        marketer = operator(Role.MARKETER, username="marketer")
        assert marketer.get(f"{URL}/leaders").status_code == 403
        assert post(marketer, f"/leaders/{leader.leader_no}/approve").status_code == 403
        assert Client().get(f"{URL}/leaders").status_code == 401
        # a consumer's bearer token is no operator session
        consumer = client_for(make_leader().person)
        assert post(consumer, f"/leaders/{leader.leader_no}/approve").status_code == 401
        leader.refresh_from_db()
        assert leader.status == LeaderStatus.APPLIED
        assert not LeaderCustomer.objects.exists()
