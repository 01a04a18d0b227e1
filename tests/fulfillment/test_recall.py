"""Batch recall: a lot flagged unsafe reaches exactly the customers whose parcels carried it
(shipped parcels only), through the after-sales rule set, with a report."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.core.audit import Actor
from freshloop.core.outbox import outbox_relay
from freshloop.fulfillment.aftersales_rules import aftersales_rule_create
from freshloop.fulfillment.errors import RecallExists, RecallInvalid
from freshloop.fulfillment.models import AutoDecision, Recall
from freshloop.fulfillment.recall import (
    batch_ids_recalled,
    recall_create,
    recall_process,
    recall_report,
)
from freshloop.inventory.errors import OutOfStock
from freshloop.inventory.models import BatchStock
from freshloop.inventory.services import stock_receive
from freshloop.messaging.models import MarketingDispatch
from freshloop.orders.models import RefundRequest
from tests.factories import make_order, make_person, make_sku, make_warehouse
from tests.fulfillment.factories import make_batch, make_parcel, paid_order

pytestmark = pytest.mark.django_db

QA = Actor(type="user", id="3", label="品控小陈")
Committed = Callable[[], AbstractContextManager[Any]]


@pytest.fixture
def refund_rule() -> None:
    aftersales_rule_create(
        spec={"name": "召回全额退", "trigger": "lot_recalled", "action": "full_refund"},
        actor=QA,
    )


def recall(batch_id: int, committed: Committed, reason: str = "检出李斯特菌") -> Recall:
    with committed():
        created = recall_create(batch_id=batch_id, reason=reason, actor=QA)
    with committed():
        outbox_relay()  # the recall is worked through on the worker
    return created


class TestRecall:
    def test_exactly_the_customers_who_received_the_lot(
        self, committed: Committed, refund_rule: None
    ) -> None:
        # given one SKU in two lots and four customers
        yogurt = make_sku(price_fen=1500, stock=100)
        bad, good = make_batch(yogurt, "L-BAD"), make_batch(yogurt, "L-OK")
        got_bad, in_transit_bad, got_good, not_shipped = (make_person() for _ in range(4))
        delivered = make_parcel(paid_order(got_bad, (yogurt, 3)), (yogurt, 3, bad))
        travelling = make_parcel(
            paid_order(in_transit_bad, (yogurt, 2)), (yogurt, 2, bad), status="in_transit"
        )
        make_parcel(paid_order(got_good, (yogurt, 2)), (yogurt, 2, good))
        make_parcel(paid_order(not_shipped, (yogurt, 1)), (yogurt, 1, bad), status="picked")
        # and one customer whose parcel mixed both lots
        mixed_buyer = make_person()
        mixed = make_parcel(
            paid_order(mixed_buyer, (yogurt, 4)), (yogurt, 1, bad), (yogurt, 3, good)
        )
        # when the bad lot is recalled
        created = recall(bad.pk, committed)
        # then exactly the three customers whose shipped parcels carried it are reached
        reached = set(
            AutoDecision.objects.filter(recall=created).values_list("person_id", flat=True)
        )
        assert reached == {got_bad.pk, in_transit_bad.pk, mixed_buyer.pk}
        # and each is refunded for the units of that lot only
        refunds = {
            d.shipment_id: RefundRequest.objects.get(refund_no=d.refund_no).amount_fen
            for d in AutoDecision.objects.filter(recall=created)
        }
        assert refunds == {delivered.pk: 4500, travelling.pk: 3000, mixed.pk: 1500}
        # and told why
        message = MarketingDispatch.objects.get(person=got_bad).outbox_message
        assert message is not None
        body = message.payload["body"]
        assert (
            body == "因您收到的鲜牛奶（批次 L-BAD）已被召回（检出李斯特菌），已为您自动退款 ¥45.00"
        )

    def test_the_report_counts_customers_refunds_and_blocked_stock(
        self, committed: Committed, refund_rule: None
    ) -> None:
        # given a lot delivered to two customers and 17 units of it still in two warehouses
        cheese = make_sku(price_fen=2000)
        lot = make_batch(cheese, "C-1")
        stock_receive(sku=cheese, warehouse=make_warehouse(), quantity=10, actor=QA, batch=lot)
        stock_receive(
            sku=cheese,
            warehouse=make_warehouse("bj", province="北京"),
            quantity=7,
            actor=QA,
            batch=lot,
        )
        for units in (1, 2):
            buyer = make_person()
            make_parcel(paid_order(buyer, (cheese, units)), (cheese, units, lot))
        # when it is recalled
        created = recall(lot.pk, committed)
        report = recall_report(recall_id=created.pk)
        # then the report says whom it reached and what it paid
        assert (report.parcels, report.customers, report.units) == (2, 2, 3)
        assert (report.refunds, report.refunded_fen) == (2, 6000)
        # the lot's stock still in warehouses is recorded as blocked, and picking can see it
        assert sorted((row["warehouse"], row["quantity"]) for row in created.blocked_stock) == [
            ("bj", 7),
            ("sh", 10),
        ]
        assert report.blocked_units == 17
        assert lot.pk in batch_ids_recalled()
        # and it is on hold: still on hand, but nobody can buy it any more
        assert set(BatchStock.objects.filter(batch=lot).values_list("on_hold", flat=True)) == {True}
        with pytest.raises(OutOfStock):
            make_order(make_person(), (cheese, 1))

    def test_processing_again_changes_nothing(
        self, committed: Committed, refund_rule: None
    ) -> None:
        milk = make_sku(price_fen=1000, stock=10)
        lot = make_batch(milk, "M-1")
        make_parcel(paid_order(make_person(), (milk, 1)), (milk, 1, lot))
        created = recall(lot.pk, committed)
        with committed():
            recall_process(recall_id=created.pk)
        assert AutoDecision.objects.filter(recall=created).count() == 1
        assert RefundRequest.objects.count() == 1

    def test_without_a_rule_customers_are_still_told_and_service_gets_tasks(
        self, committed: Committed
    ) -> None:
        milk = make_sku(price_fen=1000, stock=10)
        lot = make_batch(milk, "M-2")
        buyer = make_person()
        make_parcel(paid_order(buyer, (milk, 1)), (milk, 1, lot))
        created = recall(lot.pk, committed)
        decision = AutoDecision.objects.get(recall=created)
        assert decision.status == "manual"
        assert decision.tasks.count() == 1
        assert MarketingDispatch.objects.filter(person=buyer).count() == 1

    def test_a_lot_is_recalled_once_and_needs_a_reason(self, committed: Committed) -> None:
        milk = make_sku()
        lot = make_batch(milk, "M-3")
        with pytest.raises(RecallInvalid) as caught:
            recall_create(batch_id=lot.pk, reason="  ", actor=QA)
        assert caught.value.detail == [{"field": "reason", "message": "请填写召回原因"}]
        recall(lot.pk, committed)
        with pytest.raises(RecallExists):
            recall_create(batch_id=lot.pk, reason="再次召回", actor=QA)
