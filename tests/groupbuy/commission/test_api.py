"""The commission API: leaders read and act on their own orders, money and statements only
(tried with another leader's codes and numbers); operators manage rules and settlement runs
with a second operator approving."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.groupbuy.commission.models import PickupStatus
from freshloop.groupbuy.commission.services import accruals_mature, settlement_run_create
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from tests.factories import make_person, make_staff_user
from tests.groupbuy.commission.helpers import (
    Committed,
    attributed,
    committed,
    customer_of,
    paid_order,
    rule,
    sku,
)
from tests.groupbuy.commission.test_settlement import CREATOR
from tests.groupbuy.factories import make_applicant, make_leader

pytestmark = pytest.mark.django_db
__all__ = ["committed"]
URL = "/api/v1/groupbuy"
MONDAY = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def operator(*roles: Role, username: str = "ops") -> Client:
    client = Client()
    client.force_login(make_staff_user(username, *roles))
    return client


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(f"{URL}{url}", data=json.dumps(body or {}), content_type="application/json")


def _statement_for_a(committed: Committed) -> tuple[Any, Any, str]:
    """Leaders A and B; A has a settled-up statement; returns (a, b, statement_no)."""
    with clock.frozen(MONDAY):
        a, b = make_leader(), make_leader()
        rule(1, 1_000)
        paid_order(committed, customer_of(a), (sku(10_000), 1))
        clock.advance(dt.timedelta(days=9))
        accruals_mature()
        clock.advance(dt.timedelta(days=1))
        run = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 11, 11))
    return a, b, run.statements.get().statement_no


class TestLeaderEndpointsNeedAnActiveLeader:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/leader/orders"),
            ("get", "/leader/orders/to-hand-out"),
            ("post", "/leader/orders/pickup"),
            ("get", "/leader/sales"),
            ("get", "/leader/commission"),
            ("get", "/leader/statements"),
            ("get", "/leader/statements/ST_X"),
            ("get", "/leader/statements/ST_X/pdf"),
        ],
    )
    def test_a_customer_and_an_applicant_get_403(self, method: str, path: str) -> None:
        for person in (make_person(), make_applicant().person):
            client = client_for(person)
            if method == "post":
                answer = post(client, path, {"pickup_code": "12345678"})
            else:
                answer = client.get(f"{URL}{path}")
            assert (answer.status_code, answer.json()["code"]) == (403, "not_an_active_leader")

    def test_anonymous_callers_get_401(self) -> None:
        assert Client().get(f"{URL}/leader/orders").status_code == 401


class TestLeaderOrdersAndPickup:
    def test_a_leader_hands_out_their_order_and_sees_it_picked_up(
        self, committed: Committed
    ) -> None:
        leader = make_leader()
        order = paid_order(committed, customer_of(leader), (sku(), 1))
        client = client_for(leader.person)
        today = client.get(f"{URL}/leader/orders/to-hand-out")
        assert [row["order_no"] for row in today.json()] == [order.order_no]
        done = post(client, "/leader/orders/pickup", {"pickup_code": attributed(order).pickup_code})
        assert (done.status_code, done.json()["pickup_status"]) == (200, "picked_up")
        again = post(
            client, "/leader/orders/pickup", {"pickup_code": attributed(order).pickup_code}
        )
        assert (again.status_code, again.json()["code"]) == (409, "pickup_already_done")
        listed = client.get(f"{URL}/leader/orders?pickup_status=picked_up").json()
        assert listed["total"] == 1

    def test_leader_b_cannot_use_or_see_leader_as_orders(self, committed: Committed) -> None:
        a, b = make_leader(), make_leader()
        order = paid_order(committed, customer_of(a), (sku(), 1))
        as_b = client_for(b.person)
        # B tries A's pickup code: the same 404 as an unknown code, and A's order is untouched
        tried = post(as_b, "/leader/orders/pickup", {"pickup_code": attributed(order).pickup_code})
        unknown = post(as_b, "/leader/orders/pickup", {"pickup_code": "00000000"})
        assert (tried.status_code, tried.json()) == (unknown.status_code, unknown.json())
        assert tried.json()["code"] == "pickup_code_unknown"
        assert attributed(order).pickup_status == PickupStatus.AWAITING
        # B's lists, sales and money show nothing of A's
        assert as_b.get(f"{URL}/leader/orders").json() == {"total": 0, "items": []}
        assert as_b.get(f"{URL}/leader/orders/to-hand-out").json() == []
        assert all(day["orders"] == 0 for day in as_b.get(f"{URL}/leader/sales").json())
        assert order.order_no not in as_b.get(f"{URL}/leader/commission").content.decode()

    def test_sales_are_daily_rows(self, committed: Committed) -> None:
        leader = make_leader()
        paid_order(committed, customer_of(leader), (sku(10_000), 1))
        today = clock.to_shanghai(clock.now()).date()
        rows = client_for(leader.person).get(
            f"{URL}/leader/sales?since={today - dt.timedelta(days=2)}&until={today}"
        )
        assert [r["gmv_fen"] for r in rows.json()] == [0, 0, 10_000]


class TestLeaderStatements:
    def test_a_leader_reads_and_downloads_their_own_statement_only(
        self, committed: Committed
    ) -> None:
        a, b, statement_no = _statement_for_a(committed)
        as_a, as_b = client_for(a.person), client_for(b.person)
        assert as_a.get(f"{URL}/leader/statements").json()["total"] == 1
        detail = as_a.get(f"{URL}/leader/statements/{statement_no}").json()
        assert (detail["amount_fen"], len(detail["lines"])) == (1_000, 1)
        pdf = as_a.get(f"{URL}/leader/statements/{statement_no}/pdf")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
        assert as_b.get(f"{URL}/leader/statements").json() == {"total": 0, "items": []}
        for path in (
            f"/leader/statements/{statement_no}",
            f"/leader/statements/{statement_no}/pdf",
        ):
            refused = as_b.get(f"{URL}{path}")
            assert (refused.status_code, refused.json()["code"]) == (404, "statement_not_found")

    def test_balances_come_with_the_entries(self, committed: Committed) -> None:
        a, _, _ = _statement_for_a(committed)
        body = client_for(a.person).get(f"{URL}/leader/commission").json()
        assert body["balances"] == {
            "pending_fen": 0,
            "settleable_fen": 1_000,
            "payable_fen": 0,
            "paid_fen": 0,
        }
        assert [e["kind"] for e in body["entries"]] == ["mature", "accrue"]


class TestOperatorRules:
    def test_create_list_and_end_a_rule(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        item = sku()
        created = post(
            client,
            "/commission/rules",
            {"depth": 1, "rate_bp": 800, "product_code": item.product.code, "cap_fen": 1_000},
        )
        assert created.status_code == 201, created.content
        rule_id = created.json()["id"]
        assert client.get(f"{URL}/commission/rules?in_force=true").json()["total"] == 1
        ended = post(client, f"/commission/rules/{rule_id}/end")
        assert ended.status_code == 200
        assert client.get(f"{URL}/commission/rules?in_force=true").json()["total"] == 0
        missing = post(client, "/commission/rules/999999/end")
        assert (missing.status_code, missing.json()["code"]) == (404, "commission_rule_not_found")

    def test_a_bad_rule_is_a_422(self) -> None:
        answer = post(
            operator(Role.COMMUNITY_MANAGER), "/commission/rules", {"depth": 1, "rate_bp": 9_000}
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "commission_input_invalid")

    def test_staff_without_the_role_and_consumers_are_refused(self) -> None:
        assert operator(Role.MARKETER).get(f"{URL}/commission/rules").status_code == 403
        consumer = client_for(make_leader().person)
        assert consumer.get(f"{URL}/commission/settlement-runs").status_code == 401


class TestOperatorSettlement:
    def test_create_approve_by_another_pay_and_download(self, committed: Committed) -> None:
        with clock.frozen(MONDAY):
            leader = make_leader()
            rule(1, 1_000)
            paid_order(committed, customer_of(leader), (sku(10_000), 1))
            clock.advance(dt.timedelta(days=9))
            accruals_mature()
            clock.advance(dt.timedelta(days=1))
            lily = operator(Role.COMMUNITY_MANAGER, username="lily")
            wang = operator(Role.ADMIN, username="wang")
            created = post(lily, "/commission/settlement-runs", {"period_end": "2026-11-11"})
            assert created.status_code == 201, created.content
            run = created.json()
            assert (run["total_fen"], run["statement_count"]) == (1_000, 1)
            own = post(lily, f"/commission/settlement-runs/{run['run_no']}/approve")
            assert (own.status_code, own.json()["code"]) == (403, "settlement_self_approval")
            approved = post(wang, f"/commission/settlement-runs/{run['run_no']}/approve")
            assert approved.json()["status"] == "approved"
            statement_no = approved.json()["statements"][0]["statement_no"]
            csv = lily.get(f"{URL}/commission/statements/{statement_no}/csv")
            assert csv["Content-Type"].startswith("text/csv")
            assert "10.00" in csv.content.decode("utf-8")
            pdf = lily.get(f"{URL}/commission/statements/{statement_no}/pdf")
            assert pdf.content.startswith(b"%PDF")
            paid = post(lily, f"/commission/statements/{statement_no}/paid", {"payment_ref": "B1"})
            assert paid.json()["status"] == "paid"
            detail = lily.get(f"{URL}/commission/settlement-runs/{run['run_no']}").json()
            assert detail["status"] == "paid"

    def test_a_second_draft_is_a_409_and_a_cancel_frees_it(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        first = post(client, "/commission/settlement-runs", {"period_end": "2026-01-01"}).json()
        second = post(client, "/commission/settlement-runs", {"period_end": "2026-01-02"})
        assert (second.status_code, second.json()["code"]) == (409, "settlement_run_open")
        cancelled = post(client, f"/commission/settlement-runs/{first['run_no']}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        assert (
            post(client, "/commission/settlement-runs", {"period_end": "2026-01-02"}).status_code
            == 201
        )

    def test_unknown_numbers_are_404(self) -> None:
        client = operator(Role.COMMUNITY_MANAGER)
        assert post(client, "/commission/settlement-runs/CS_X/approve").json()["code"] == (
            "settlement_run_not_found"
        )
        assert client.get(f"{URL}/commission/statements/ST_X/csv").json()["code"] == (
            "statement_not_found"
        )
