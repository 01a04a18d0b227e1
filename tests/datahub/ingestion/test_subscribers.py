"""Domain events of the other modules are recorded without code in those modules."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from freshloop.core.events import publish
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.ingestion.services import order_event_id
from freshloop.datahub.ingestion.subscribers import event_name_for
from freshloop.datahub.models import BufferedEvent
from freshloop.live.events import LiveViewerEvent
from tests.factories import make_person, make_sku
from tests.orders.helpers import buy, pay

pytestmark = pytest.mark.django_db


class TestEventNameFor:
    def test_camel_case_becomes_snake_case(self) -> None:
        assert event_name_for("OrderPaid") == "order_paid"
        assert event_name_for("FlashSaleClaimClosed") == "flash_sale_claim_closed"


class TestOrderEventId:
    def test_refund_facts_fit_the_buffer_with_the_longest_numbers(self) -> None:
        # given the longest order and refund numbers the order tables allow (40 characters)
        order_no, refund_no = "N" * 40, "R" * 40
        max_length = BufferedEvent._meta.get_field("event_id").max_length
        assert max_length is not None

        # when each refund fact gets its id
        ids = [
            order_event_id(name, order_no, refund_no)
            for name in ("order_refund_requested", "order_refund_approved", "order_refunded")
        ]

        # then every id fits, and they differ per fact
        assert all(len(event_id) <= max_length for event_id in ids)
        assert len(set(ids)) == 3

    def test_one_id_per_fact_and_order(self) -> None:
        assert order_event_id("order_paid", "N1") == "order_paid:N1"
        assert order_event_id("order_paid", "N1") != order_event_id("order_created", "N1")


class TestRecordDomainEvent:
    def test_an_order_fact_is_written_with_the_order_and_rolls_back_with_it(self) -> None:
        # given a checkout whose transaction fails after the order was written
        person, milk = make_person(), make_sku(stock=5)
        with pytest.raises(RuntimeError), transaction.atomic():
            order = buy(person, (milk, 1))
            # then, inside the transaction, its fact is already in the buffer beside it
            assert BufferedEvent.objects.filter(event_id=f"order_created:{order.order_no}").exists()
            raise RuntimeError("the payment step failed")
        # and the rollback took the fact away with the order
        assert not BufferedEvent.objects.filter(event_id__startswith="order_created:").exists()

    def test_a_paid_order_is_recorded_with_its_lines_and_region(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a customer buying two milks in the shop
        person = make_person()
        milk = make_sku(stock=5, price_fen=1500, name="鲜牛奶", category_code="dairy")
        with django_capture_on_commit_callbacks(execute=True):
            order = buy(person, (milk, 2))
        with django_capture_on_commit_callbacks(execute=True):
            pay(order)
        # when the buffer is flushed
        buffer_flush_all(store=store)
        # then order_created and order_paid are in the store under deterministic ids
        rows = store.fetch(
            "SELECT event_id, name, channel, pid, amount_fen FROM events_resolved ORDER BY name"
        )
        assert rows == [
            (
                f"order_created:{order.order_no}",
                "order_created",
                "shop",
                person.pk,
                order.total_fen,
            ),
            (f"order_paid:{order.order_no}", "order_paid", "shop", person.pk, order.total_fen),
        ]
        assert store.fetch("SELECT product_name, quantity, amount_fen FROM order_items") == [
            ("鲜牛奶", 2, 3000)
        ]
        province = store.fetch(
            "SELECT json_extract_string(properties, '$.province') FROM events WHERE name = 'order_paid'"
        )
        assert province == [("上海",)]

    def test_the_backfill_meets_the_recorded_events_as_one(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given an order recorded live
        person = make_person()
        with django_capture_on_commit_callbacks(execute=True):
            order = buy(person, (make_sku(stock=5), 1))
        with django_capture_on_commit_callbacks(execute=True):
            pay(order)
        buffer_flush_all(store=store)
        # when the backfill runs over the same orders, twice
        call_command("datahub_backfill", verbosity=0)
        call_command("datahub_backfill", verbosity=0)
        buffer_flush_all(store=store)
        # then the store still holds each fact once
        assert store.fetch("SELECT name, count(*) FROM events GROUP BY name ORDER BY name") == [
            ("order_created", 1),
            ("order_paid", 1),
        ]

    def test_live_viewer_events_carry_the_session(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        person = make_person()
        with django_capture_on_commit_callbacks(execute=True):
            publish(
                LiveViewerEvent(
                    session_code="L7",
                    action="add_to_cart",
                    person_id=person.pk,
                    one_id=person.one_id,
                    sku_id=9,
                )
            )
        buffer_flush_all(store=store)
        assert store.fetch(
            "SELECT name, channel, live_session, sku_id, pid FROM events_resolved"
        ) == [("live_add_to_cart", "live", "L7", 9, person.pk)]

    def test_nothing_is_recorded_when_the_transaction_rolls_back(self, store: EventStore) -> None:
        from django.db import transaction

        person = make_person()
        with pytest.raises(RuntimeError), transaction.atomic():
            publish(
                LiveViewerEvent(
                    session_code="L7", action="join", person_id=person.pk, one_id=person.one_id
                )
            )
            raise RuntimeError("rolled back")
        assert BufferedEvent.objects.count() == 0
