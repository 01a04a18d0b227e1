from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from django.db import transaction

from freshloop.core.events import DomainEvent, publish, subscribe, unsubscribe


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParcelPacked(DomainEvent):
    name = "ParcelPacked"
    parcel_id: int


@pytest.fixture
def received() -> Iterator[list[DomainEvent]]:
    seen: list[DomainEvent] = []

    def handler(event: ParcelPacked) -> None:
        seen.append(event)

    subscribe(ParcelPacked)(handler)
    yield seen
    unsubscribe(ParcelPacked, handler)


@pytest.mark.django_db(transaction=True)
class TestPublish:
    def test_delivered_only_after_commit(self, received: list[DomainEvent]) -> None:
        # given an open transaction that publishes an event
        with transaction.atomic():
            publish(ParcelPacked(parcel_id=1))
            # then nobody hears it while the transaction is open
            assert received == []
        # when it commits, then the handler runs once
        assert [event.parcel_id for event in received] == [1]  # type: ignore[attr-defined]

    def test_not_delivered_on_rollback(self, received: list[DomainEvent]) -> None:
        class Boom(Exception):
            pass

        with pytest.raises(Boom), transaction.atomic():
            publish(ParcelPacked(parcel_id=2))
            raise Boom
        assert received == []

    def test_inner_savepoint_rollback_drops_its_events(self, received: list[DomainEvent]) -> None:
        with transaction.atomic():
            publish(ParcelPacked(parcel_id=3))
            try:
                with transaction.atomic():
                    publish(ParcelPacked(parcel_id=4))
                    raise RuntimeError("inner failure")
            except RuntimeError:
                pass
        assert [event.parcel_id for event in received] == [3]  # type: ignore[attr-defined]

    def test_outside_a_transaction_delivered_at_once(self, received: list[DomainEvent]) -> None:
        publish(ParcelPacked(parcel_id=5))
        assert len(received) == 1

    def test_failing_handler_does_not_stop_others(self, received: list[DomainEvent]) -> None:
        def broken(event: ParcelPacked) -> None:
            raise RuntimeError("listener bug")

        subscribe(ParcelPacked)(broken)
        try:
            publish(ParcelPacked(parcel_id=6))
        finally:
            unsubscribe(ParcelPacked, broken)
        assert len(received) == 1

    def test_base_class_subscribers_hear_every_event(self) -> None:
        everything: list[DomainEvent] = []
        subscribe(DomainEvent)(everything.append)
        try:
            publish(ParcelPacked(parcel_id=7))
        finally:
            unsubscribe(DomainEvent, everything.append)
        assert everything[0].payload()["parcel_id"] == 7
        assert "occurred_at" in everything[0].payload()


@pytest.mark.django_db(transaction=True)
class TestInTransactionHandlers:
    @pytest.fixture
    def written(self) -> Iterator[list[int]]:
        seen: list[int] = []

        def write_row(event: ParcelPacked) -> None:
            # stands for a row written beside the fact (the data hub's buffer)
            seen.append(event.parcel_id)

        subscribe(ParcelPacked, in_transaction=True)(write_row)
        yield seen
        unsubscribe(ParcelPacked, write_row)

    def test_runs_inside_the_publishing_transaction(self, written: list[int]) -> None:
        with transaction.atomic():
            publish(ParcelPacked(parcel_id=5))
            # then it has run before the commit, as part of the transaction
            assert written == [5]

    def test_a_failing_handler_fails_the_transaction(self) -> None:
        def refuse(event: ParcelPacked) -> None:
            raise RuntimeError("buffer full")

        subscribe(ParcelPacked, in_transaction=True)(refuse)
        try:
            with pytest.raises(RuntimeError), transaction.atomic():
                publish(ParcelPacked(parcel_id=6))
        finally:
            unsubscribe(ParcelPacked, refuse)
