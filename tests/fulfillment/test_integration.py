"""ERP / WMS / TMS integration: signed outbound webhooks through the outbox with retries, and
all-or-nothing stock imports with a dry run and per-row errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import outbox_relay
from freshloop.fulfillment import integration, integration_shipments
from freshloop.fulfillment.errors import (
    ImportMalformed,
    ImportRejected,
    ShipmentStateInvalid,
    WebhookEndpointInvalid,
)
from freshloop.fulfillment.events import ShipmentStatusChanged
from freshloop.fulfillment.integration import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_endpoint_create,
    webhook_signature_verify,
)
from freshloop.fulfillment.integration_imports import stock_import, stock_import_csv
from freshloop.fulfillment.integration_shipments import (
    shipment_updates_import,
    shipment_updates_import_csv,
)
from freshloop.fulfillment.models import ImportRun, Shipment, ShipmentEvent, WebhookEndpoint
from freshloop.inventory.models import BatchStock, StockLevel, StockMovement
from tests.factories import make_order, make_person, make_sku, make_warehouse
from tests.fulfillment.factories import event_fields, make_parcel, paid_order
from tests.orders.helpers import pay

pytestmark = pytest.mark.django_db

OPS = Actor(type="user", id="5", label="供应链小王")
Committed = Callable[[], AbstractContextManager[Any]]


class Receiver:
    """A partner's endpoint: answers each POST with the next status and keeps what it got."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> int:
        self.received.append((url, body, headers))
        return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver() -> Any:
    def install(*statuses: int) -> Receiver:
        fake = Receiver(*statuses)
        installed.append(integration.webhook_transport_set(fake))
        return fake

    installed: list[Any] = []
    yield install
    for previous in installed[:1]:
        integration.webhook_transport_set(previous)


def endpoint(*types: str) -> WebhookEndpoint:
    return webhook_endpoint_create(
        spec={
            "name": "金蝶 ERP",
            "url": "https://erp.example.com/hooks",
            "event_types": list(types),
        },
        actor=OPS,
    )


def webhook_rows() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(channel="webhook").order_by("id"))


class TestWebhookEndpoint:
    def test_bad_settings_are_named_per_field(self) -> None:
        with pytest.raises(WebhookEndpointInvalid) as caught:
            webhook_endpoint_create(
                spec={"name": "", "url": "ftp://x", "event_types": ["order.shipped"]}, actor=OPS
            )
        assert [problem["field"] for problem in caught.value.detail] == [
            "name",
            "url",
            "event_types",
        ]

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:8000/admin", "https://localhost/x", "http://10.0.0.5/hook"]
    )
    def test_an_internal_address_is_refused(self, url: str) -> None:
        with pytest.raises(WebhookEndpointInvalid) as caught:
            webhook_endpoint_create(
                spec={"name": "内网", "url": url, "event_types": ["order.paid"]}, actor=OPS
            )
        assert caught.value.detail == [{"field": "url", "message": "不能推送到内网或本机地址"}]

    def test_a_new_endpoint_gets_its_own_secret(self) -> None:
        first, second = endpoint("order.paid"), endpoint("order.paid")
        assert first.secret.startswith("whsec_")
        assert first.secret != second.secret


class TestWebhookDelivery:
    def test_a_paid_order_reaches_the_erp_signed(self, committed: Committed, receiver: Any) -> None:
        # given an ERP subscribed to paid orders
        erp = endpoint("order.paid")
        fake = receiver()
        # when an order is paid, and the relay runs
        with committed():
            order = pay(make_order(make_person(), (make_sku(stock=5), 1)))
        outbox_relay()
        # then the ERP got one delivery whose signature it can verify with its secret
        [(url, body, headers)] = fake.received
        assert url == "https://erp.example.com/hooks"
        assert json.loads(body)["data"]["order_no"] == order.order_no
        assert headers["X-FreshLoop-Event"] == "order.paid"
        assert webhook_signature_verify(
            secret=erp.secret,
            body=body,
            timestamp=headers[TIMESTAMP_HEADER],
            signature=headers[SIGNATURE_HEADER],
        )
        # and a tampered body, another secret or an old timestamp fail verification
        assert not webhook_signature_verify(
            secret=erp.secret,
            body=body.replace(b"order_no", b"order_nO"),
            timestamp=headers[TIMESTAMP_HEADER],
            signature=headers[SIGNATURE_HEADER],
        )
        assert not webhook_signature_verify(
            secret="whsec_other",
            body=body,
            timestamp=headers[TIMESTAMP_HEADER],
            signature=headers[SIGNATURE_HEADER],
        )
        assert not webhook_signature_verify(
            secret=erp.secret,
            body=body,
            timestamp=headers[TIMESTAMP_HEADER],
            signature=headers[SIGNATURE_HEADER],
            now=int(headers[TIMESTAMP_HEADER]) + 3600,
        )
        assert webhook_rows()[0].status == "sent"

    def test_a_failing_receiver_is_retried_with_back_off_under_one_key(
        self, committed: Committed, receiver: Any
    ) -> None:
        # given an ERP that answers 503 first
        endpoint("order.paid")
        fake = receiver(503)
        with committed():
            pay(make_order(make_person(), (make_sku(stock=5), 1)))
        # when the relay runs
        outbox_relay()
        [row] = webhook_rows()
        # then the delivery waits for a retry
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.next_attempt_at > clock.now()
        # when the back-off has passed, it is sent again with the same idempotency key
        with clock.frozen(clock.now() + dt.timedelta(minutes=5)):
            outbox_relay()
        row.refresh_from_db()
        assert (row.status, row.attempts) == ("sent", 2)
        keys = [headers[IDEMPOTENCY_HEADER] for _, _, headers in fake.received]
        assert len(keys) == 2
        assert keys[0] == keys[1]

    def test_an_unreachable_receiver_is_retried(self, committed: Committed) -> None:
        # given the real HTTP transport and no network (tests block it)
        endpoint("order.paid")
        with committed():
            pay(make_order(make_person(), (make_sku(stock=5), 1)))
        outbox_relay()
        [row] = webhook_rows()
        assert (row.status, row.attempts) == ("pending", 1)
        assert "ConnectError" in row.last_error or "OSError" in row.last_error

    def test_a_refusing_receiver_fails_at_once_and_raises_an_alert(
        self, committed: Committed, receiver: Any
    ) -> None:
        endpoint("order.paid")
        receiver(400)
        with committed():
            pay(make_order(make_person(), (make_sku(stock=5), 1)))
        outbox_relay()
        [row] = webhook_rows()
        assert row.status == "failed"
        assert OutboxMessage.objects.filter(channel="alert").exists()

    def test_only_subscribed_events_are_sent(self, committed: Committed, receiver: Any) -> None:
        # given a TMS subscribed to shipments only
        endpoint("shipment.created", "shipment.status_changed")
        fake = receiver()
        milk = make_sku(stock=5)
        with committed():
            order = paid_order(make_person(), (milk, 1))
        shipment = make_parcel(order, (milk, 1, None), status="created")
        # when a parcel is created
        with committed():
            publish(
                ShipmentStatusChanged(
                    **event_fields(shipment), status="created", previous_status=""
                )
            )
        outbox_relay()
        # then it got the parcel's two events and not the payment
        assert [headers["X-FreshLoop-Event"] for _, _, headers in fake.received] == [
            "shipment.created",
            "shipment.status_changed",
        ]

    def test_nothing_is_queued_without_subscribers(self, committed: Committed) -> None:
        with committed():
            pay(make_order(make_person(), (make_sku(stock=5), 1)))
        assert webhook_rows() == []


def level(sku_id: int, code: str = "sh") -> int:
    row = StockLevel.objects.filter(sku_id=sku_id, warehouse__code=code).first()
    return row.on_hand if row else 0


class TestStockImport:
    def test_a_csv_updates_stock_through_inventory(self) -> None:
        # given a warehouse and two SKUs
        make_warehouse()
        milk, cheese = make_sku(), make_sku()
        milk.refresh_from_db()
        content = (
            "warehouse,sku,mode,quantity,batch_no,produced_on,reason\n"
            f"sh,{milk.code},receive,20,LOT-9,2026-12-01,\n"
            f"sh,{cheese.code},count,8,,,月末盘点\n"
            f"sh,{milk.code},adjust,-2,,,破损\n"
        ).encode()
        # when it is imported
        outcome = stock_import_csv(content=content, actor=OPS)
        # then every row was applied through the inventory services, with movements
        assert outcome.applied
        assert (level(milk.pk), level(cheese.pk)) == (18, 8)
        assert BatchStock.objects.get(batch__batch_no="LOT-9").quantity == 20
        assert StockMovement.objects.filter(stock__sku=milk).count() == 2

    def test_row_errors_are_reported_and_nothing_is_applied(self) -> None:
        make_warehouse()
        milk = make_sku()
        content = (
            "仓库编码,SKU编码,类型,数量,原因\n"
            f"sh,{milk.code},receive,20,\n"
            "sh,nope,receive,5,\n"
            f"xx,{milk.code},adjust,3,\n"
            f"sh,{milk.code},receive,abc,\n"
        ).encode()
        with pytest.raises(ImportRejected) as caught:
            stock_import_csv(content=content, actor=OPS)
        # then each problem names its row (the header is row 1), field and reason in Chinese
        assert caught.value.detail["errors"] == [
            {"row": 3, "field": "sku", "message": "SKU 编码不存在"},
            {"row": 4, "field": "reason", "message": "调整库存请填写原因"},
            {"row": 4, "field": "warehouse", "message": "仓库编码不存在"},
            {"row": 5, "field": "quantity", "message": "数量必须是整数"},
        ]
        # and the good first row was not applied either
        assert level(milk.pk) == 0
        assert ImportRun.objects.get().applied is False

    def test_a_refusal_while_applying_rolls_back_every_row(self) -> None:
        # given 5 units on hand of which 3 are reserved by an order
        warehouse = make_warehouse()
        milk = make_sku(stock=5, warehouse=warehouse)
        cheese = make_sku()
        make_order(make_person(), (milk, 3))
        # when an import receives cheese and then counts milk below what is reserved
        with pytest.raises(ImportRejected) as caught:
            stock_import(
                rows=[
                    {"warehouse": "sh", "sku": cheese.code, "mode": "receive", "quantity": 10},
                    {"warehouse": "sh", "sku": milk.code, "mode": "count", "quantity": 1},
                ],
                actor=OPS,
            )
        # then the second row's refusal is reported and the first row is undone too
        [problem] = caught.value.detail["errors"]
        assert (problem["row"], problem["field"]) == (2, "quantity")
        assert (level(cheese.pk), level(milk.pk)) == (0, 5)

    def test_a_dry_run_reports_but_writes_nothing(self) -> None:
        make_warehouse()
        milk = make_sku()
        outcome = stock_import(
            rows=[{"warehouse": "sh", "sku": milk.code, "mode": "receive", "quantity": 12}],
            actor=OPS,
            dry_run=True,
        )
        assert (outcome.applied, outcome.errors) == (False, [])
        assert outcome.changes[0]["on_hand"] == 12
        assert level(milk.pk) == 0
        assert not StockMovement.objects.exists()

    def test_a_dry_run_lists_row_errors_without_raising(self) -> None:
        make_warehouse()
        outcome = stock_import(
            rows=[{"warehouse": "sh", "sku": "nope", "mode": "receive", "quantity": 1}],
            actor=OPS,
            dry_run=True,
        )
        assert outcome.errors == [{"row": 1, "field": "sku", "message": "SKU 编码不存在"}]

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "文件是空的"),
            (b"sku,quantity\nx,1\n", "缺少列：warehouse、mode"),
            (b"\xff\xfe\x00garbage\x81", "无法识别文件编码，请另存为 UTF-8 CSV"),
        ],
    )
    def test_a_malformed_file_is_refused(self, content: bytes, message: str) -> None:
        with pytest.raises(ImportMalformed) as caught:
            stock_import_csv(content=content, actor=OPS)
        assert caught.value.text == message


def _parcel(status: str = "handed_over") -> Shipment:
    milk = make_sku(stock=5)
    return make_parcel(paid_order(make_person(), (milk, 1)), (milk, 1, None), status=status)


class TestShipmentUpdatesImport:
    def test_a_tms_csv_moves_parcels_through_the_state_service(self) -> None:
        first, second = _parcel(), _parcel()
        content = (
            "包裹号,状态,时间,地点,外部编号\n"
            f"{first.shipment_no},in_transit,2026-12-01T10:00:00,上海转运中心,E1\n"
            f"{second.shipment_no},out_for_delivery,2026-12-01T11:00:00+08:00,杭州,E2\n"
        ).encode()
        outcome = shipment_updates_import_csv(content=content, actor=OPS)
        assert outcome.applied
        event = ShipmentEvent.objects.get(shipment=first)
        assert (event.status, event.location, event.external_id) == (
            "in_transit",
            "上海转运中心",
            "E1",
        )
        # a time without an offset is Shanghai time
        assert event.occurred_at == dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)

    def test_row_errors_name_the_row_and_nothing_is_applied(self) -> None:
        good = _parcel()
        rows = [
            {
                "shipment_no": good.shipment_no,
                "status": "in_transit",
                "occurred_at": "2026-12-01T10:00:00",
            },
            {"shipment_no": "PK-NOPE", "status": "flying", "occurred_at": "yesterday"},
        ]
        with pytest.raises(ImportRejected) as caught:
            shipment_updates_import(rows=rows, actor=OPS)
        assert caught.value.detail["errors"] == [
            {"row": 2, "field": "occurred_at", "message": "时间格式应为 ISO 8601"},
            {"row": 2, "field": "shipment_no", "message": "包裹号不存在"},
            {"row": 2, "field": "status", "message": "包裹状态不正确"},
        ]
        assert not ShipmentEvent.objects.exists()

    def test_a_step_the_state_service_refuses_rolls_back_every_row(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the state service refusing to move a delivered parcel (it never does today:
        # a late step is recorded without moving it; a future rule may refuse, and the import
        # must then roll back every row)
        real = integration_shipments.shipment_advance

        def refusing(**step: Any) -> Any:
            if Shipment.objects.get(pk=step["shipment_id"]).status == "delivered":
                raise ShipmentStateInvalid("包裹已签收，不能再变更状态")
            return real(**step)

        monkeypatch.setattr(integration_shipments, "shipment_advance", refusing)
        moving, delivered = _parcel(), _parcel(status="delivered")
        rows = [
            {
                "shipment_no": moving.shipment_no,
                "status": "in_transit",
                "occurred_at": "2026-12-01T10:00:00",
            },
            {
                "shipment_no": delivered.shipment_no,
                "status": "in_transit",
                "occurred_at": "2026-12-01T10:00:00",
            },
        ]
        with pytest.raises(ImportRejected) as caught:
            shipment_updates_import(rows=rows, actor=OPS)
        assert caught.value.detail["errors"] == [
            {"row": 2, "field": "status", "message": "包裹已签收，不能再变更状态"}
        ]
        assert not ShipmentEvent.objects.exists()

    def test_a_dry_run_writes_nothing(self) -> None:
        parcel = _parcel()
        outcome = shipment_updates_import(
            rows=[
                {
                    "shipment_no": parcel.shipment_no,
                    "status": "in_transit",
                    "occurred_at": "2026-12-01T10:00:00",
                }
            ],
            actor=OPS,
            dry_run=True,
        )
        assert (outcome.applied, len(outcome.changes), outcome.errors) == (False, 1, [])
        assert not ShipmentEvent.objects.exists()
