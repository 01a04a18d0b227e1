"""The console API of automated after-sales, recalls and integration: staff roles only, field
errors as 422 with Chinese messages, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from freshloop.core.apikeys import api_key_create
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.outbox import outbox_relay
from freshloop.core.permissions import Role
from freshloop.fulfillment.events import ExcursionDetected
from freshloop.fulfillment.models import AfterSalesRule, AutoDecision
from freshloop.identity.services import consumer_token_issue
from freshloop.inventory.models import StockLevel
from tests.factories import make_person, make_sku, make_staff_user, make_warehouse
from tests.fulfillment.factories import (
    event_fields,
    make_batch,
    make_parcel,
    paid_order,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/fulfillment"
Committed = Callable[[], AbstractContextManager[Any]]


def operator(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(f"{BASE}{url}", data=data, content_type="application/json")


RULE = {"name": "超温全额退", "trigger": "excursion", "action": "full_refund"}


class TestRulesApi:
    def test_customer_service_manages_rules(self) -> None:
        service = operator(Role.CUSTOMER_SERVICE)
        # create
        created = send(service, "post", "/aftersales/rules", {**RULE, "approval_above_fen": 5000})
        assert created.status_code == 201, created.content
        rule_id = created.json()["id"]
        # update (whole replacement)
        updated = send(service, "put", f"/aftersales/rules/{rule_id}", {**RULE, "priority": 5})
        assert updated.json()["priority"] == 5
        assert updated.json()["approval_above_fen"] is None
        # list and delete
        assert [r["id"] for r in send(service, "get", "/aftersales/rules").json()["items"]] == [
            rule_id
        ]
        assert send(service, "delete", f"/aftersales/rules/{rule_id}").status_code == 204
        assert not AfterSalesRule.objects.exists()

    def test_wrong_fields_are_422_per_field(self) -> None:
        service = operator(Role.CUSTOMER_SERVICE)
        answer = send(
            service,
            "post",
            "/aftersales/rules",
            {**RULE, "trigger": "rain", "action": "partial_refund"},
        )
        assert answer.status_code == 422
        body = answer.json()
        assert body["code"] == "aftersales_rule_invalid"
        assert {p["field"] for p in body["detail"]} == {"trigger", "refund_percent"}

    def test_a_mistyped_body_is_422_not_500(self) -> None:
        service = operator(Role.CUSTOMER_SERVICE)
        answer = send(service, "post", "/aftersales/rules", {**RULE, "priority": "high"})
        assert answer.status_code == 422
        assert answer.json()["code"] == "validation_error"

    def test_other_roles_and_visitors_are_refused(self) -> None:
        assert send(operator(Role.MARKETER), "get", "/aftersales/rules").status_code == 403
        assert send(Client(), "get", "/aftersales/rules").status_code == 401

    def test_an_unknown_rule_is_404(self) -> None:
        answer = send(operator(Role.CUSTOMER_SERVICE), "put", "/aftersales/rules/999", RULE)
        assert (answer.status_code, answer.json()["code"]) == (404, "aftersales_rule_not_found")


class TestDecisionsApi:
    def test_a_held_decision_is_listed_and_approved(self, committed: Committed) -> None:
        # given a rule holding everything above ¥10 and an excursion on a ¥25.90 parcel
        service = operator(Role.CUSTOMER_SERVICE)
        send(service, "post", "/aftersales/rules", {**RULE, "approval_above_fen": 1000})
        milk = make_sku(price_fen=2590, stock=5)
        shipment = make_parcel(paid_order(make_person(), (milk, 1)), (milk, 1, None))
        with committed():
            publish(
                ExcursionDetected(
                    **event_fields(shipment),
                    excursion_id=1,
                    storage="chilled",
                    minutes=45,
                    peak_celsius=8.0,
                )
            )
        with committed():
            outbox_relay()
        # when customer service lists what waits and approves it
        listed = send(service, "get", "/aftersales/decisions?status=pending_approval").json()
        [item] = listed["items"]
        assert item["shipment_no"] == shipment.shipment_no
        with committed():
            approved = send(service, "post", f"/aftersales/decisions/{item['id']}/approve")
        # then it ran and says so
        assert approved.status_code == 200
        assert approved.json()["status"] == "executed"
        assert approved.json()["explanation"].endswith("已为您自动退款 ¥25.90")
        # and a second approval is a 409
        again = send(service, "post", f"/aftersales/decisions/{item['id']}/approve")
        assert (again.status_code, again.json()["code"]) == (
            409,
            "aftersales_decision_not_pending",
        )

    def test_a_rejection_needs_a_note(self) -> None:
        answer = send(
            operator(Role.CUSTOMER_SERVICE), "post", "/aftersales/decisions/1/reject", {"note": ""}
        )
        assert answer.status_code == 422


class TestRecallApi:
    def test_supply_chain_recalls_a_lot_and_reads_the_report(self, committed: Committed) -> None:
        chain = operator(Role.SUPPLY_CHAIN)
        send(
            operator(Role.CUSTOMER_SERVICE),
            "post",
            "/aftersales/rules",
            {"name": "召回退款", "trigger": "lot_recalled", "action": "full_refund"},
        )
        milk = make_sku(price_fen=1200, stock=5)
        lot = make_batch(milk, "R-1")
        make_parcel(paid_order(make_person(), (milk, 2)), (milk, 2, lot))
        with committed():
            created = send(chain, "post", "/recalls", {"batch_id": lot.pk, "reason": "包装漏气"})
        assert created.status_code == 201, created.content
        with committed():
            outbox_relay()
        report = send(chain, "get", f"/recalls/{created.json()['id']}").json()
        assert (report["customers"], report["refunds"], report["refunded_fen"]) == (1, 1, 2400)
        # a second recall of the lot is a conflict; an unknown lot a field error
        again = send(chain, "post", "/recalls", {"batch_id": lot.pk, "reason": "再次"})
        assert (again.status_code, again.json()["code"]) == (409, "recall_exists")
        unknown = send(chain, "post", "/recalls", {"batch_id": 99999, "reason": "x"})
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == [{"field": "batch_id", "message": "批次不存在"}]

    def test_an_unknown_report_is_404(self) -> None:
        answer = send(operator(Role.SUPPLY_CHAIN), "get", "/recalls/12345")
        assert answer.status_code == 404


class TestIntegrationApi:
    def test_webhook_crud_and_field_errors(self) -> None:
        chain = operator(Role.SUPPLY_CHAIN)
        body = {"name": "WMS", "url": "https://wms.example.com/in", "event_types": ["order.paid"]}
        created = send(chain, "post", "/integration/webhooks", body)
        assert created.status_code == 201
        assert created.json()["secret"].startswith("whsec_")
        endpoint_id = created.json()["id"]
        listed = send(chain, "get", "/integration/webhooks").json()
        assert "secret" not in listed["items"][0]
        assert "refund.succeeded" in listed["event_types"]
        bad = send(chain, "put", f"/integration/webhooks/{endpoint_id}", {**body, "url": "x"})
        assert (bad.status_code, bad.json()["detail"][0]["field"]) == (422, "url")
        assert send(chain, "delete", f"/integration/webhooks/{endpoint_id}").status_code == 204
        assert send(chain, "delete", f"/integration/webhooks/{endpoint_id}").status_code == 404

    def test_a_csv_upload_with_dry_run_then_for_real(self) -> None:
        chain = operator(Role.SUPPLY_CHAIN)
        make_warehouse()
        milk = make_sku()
        content = f"warehouse,sku,mode,quantity\nsh,{milk.code},receive,9\n".encode()

        def upload(dry_run: bool) -> Any:
            return chain.post(
                f"{BASE}/integration/stock/csv?dry_run={'true' if dry_run else 'false'}",
                {"file": SimpleUploadedFile("stock.csv", content, content_type="text/csv")},
            )

        dry = upload(True)
        assert dry.status_code == 200, dry.content
        assert (dry.json()["applied"], dry.json()["changes"][0]["on_hand"]) == (False, 9)
        assert not StockLevel.objects.filter(sku=milk, on_hand__gt=0).exists()
        real = upload(False)
        assert real.json()["applied"] is True
        assert StockLevel.objects.get(sku=milk).on_hand == 9

    def test_rejected_rows_are_422_with_row_numbers(self) -> None:
        chain = operator(Role.SUPPLY_CHAIN)
        make_warehouse()
        content = b"warehouse,sku,mode,quantity\nsh,nope,receive,1\n"
        answer = chain.post(
            f"{BASE}/integration/stock/csv",
            {"file": SimpleUploadedFile("s.csv", content, content_type="text/csv")},
        )
        assert answer.status_code == 422
        assert answer.json()["code"] == "import_rejected"
        assert answer.json()["detail"]["errors"] == [
            {"row": 2, "field": "sku", "message": "SKU 编码不存在"}
        ]

    def test_an_integration_client_pushes_stock_with_its_api_key(self) -> None:
        raw, _ = api_key_create(
            actor=Actor.system("tests"), name="WMS", scopes=["fulfillment:integration"]
        )
        make_warehouse()
        milk = make_sku()
        answer = Client().post(
            f"{BASE}/integration/stock",
            data=json.dumps(
                {"rows": [{"warehouse": "sh", "sku": milk.code, "mode": "receive", "quantity": 4}]}
            ),
            content_type="application/json",
            HTTP_X_API_KEY=raw,
        )
        assert answer.status_code == 200, answer.content
        assert StockLevel.objects.get(sku=milk).on_hand == 4
        # a wrong key is 401, a marketer 403
        wrong = Client().post(
            f"{BASE}/integration/stock",
            data="{}",
            content_type="application/json",
            HTTP_X_API_KEY="flk_abc_def",
        )
        assert wrong.status_code == 401
        marketer = send(operator(Role.MARKETER), "post", "/integration/stock", {"rows": []})
        assert marketer.status_code == 403

    def test_decisions_are_listed_for_customer_service_only(self) -> None:
        assert send(operator(Role.SUPPLY_CHAIN), "get", "/aftersales/decisions").status_code == 403
        assert AutoDecision.objects.count() == 0


class TestShipmentUpdatesApi:
    def test_unknown_parcels_are_422_and_known_ones_move(self) -> None:
        chain = operator(Role.SUPPLY_CHAIN)
        bad = send(
            chain,
            "post",
            "/integration/shipments",
            {
                "rows": [
                    {
                        "shipment_no": "PK-NOPE",
                        "status": "in_transit",
                        "occurred_at": "2026-12-01T10:00:00",
                    }
                ]
            },
        )
        assert (bad.status_code, bad.json()["detail"]["errors"][0]["field"]) == (422, "shipment_no")
        milk = make_sku(stock=5)
        parcel = make_parcel(
            paid_order(make_person(), (milk, 1)), (milk, 1, None), status="handed_over"
        )
        answer = send(
            chain,
            "post",
            "/integration/shipments",
            {
                "rows": [
                    {
                        "shipment_no": parcel.shipment_no,
                        "status": "in_transit",
                        "occurred_at": "2026-12-01T10:00:00",
                        "external_id": "TMS-1",
                    }
                ]
            },
        )
        assert answer.status_code == 200, answer.content
        parcel.refresh_from_db()
        assert parcel.status == "in_transit"


class TestBuyerDecisionsApi:
    def test_the_buyer_reads_why_they_were_refunded(self, committed: Committed) -> None:
        # given an automatic refund after an excursion on the buyer's parcel
        send(operator(Role.CUSTOMER_SERVICE), "post", "/aftersales/rules", RULE)
        buyer = make_person()
        milk = make_sku(price_fen=2590, stock=5)
        shipment = make_parcel(paid_order(buyer, (milk, 1)), (milk, 1, None))
        with committed():
            publish(
                ExcursionDetected(
                    **event_fields(shipment),
                    excursion_id=1,
                    storage="chilled",
                    minutes=45,
                    peak_celsius=8.0,
                )
            )
        with committed():
            outbox_relay()
        token, _ = consumer_token_issue(person=buyer, method="test")
        mine = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        # when the buyer opens the order
        answer = mine.get(f"{BASE}/orders/{shipment.order.order_no}/aftersales-decisions")
        # then the explanation is there
        [item] = answer.json()["items"]
        assert item["explanation"] == "因运输途中温度超出 0–4℃ 达 45 分钟，已为您自动退款 ¥25.90"
        assert item["trigger_label"] == "运输温度超标"
        # and another buyer gets a 404 for the same order
        other, _ = consumer_token_issue(person=make_person(), method="test")
        stranger = Client(HTTP_AUTHORIZATION=f"Bearer {other}")
        answer = stranger.get(f"{BASE}/orders/{shipment.order.order_no}/aftersales-decisions")
        assert answer.status_code == 404
