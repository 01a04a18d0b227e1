"""A OneID merge whose recording never reached the event store is applied by the nightly
reconciliation, and merges arriving out of order keep the map flat."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from freshloop.core import clock
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all, person_map_reconcile
from freshloop.datahub.eventstore.store import EVENT_SCHEMA
from freshloop.datahub.eventstore.tasks import person_map_reconcile_job
from freshloop.datahub.models import BufferedEvent
from freshloop.datahub.tags.selectors import person_tags_get
from freshloop.identity.resolver import IdentifierInput, identify
from tests.datahub.helpers import record_server_event

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _paid(person_id: int, order_no: str, days_ago: int) -> None:
    record_server_event(
        "order_paid",
        person_id=person_id,
        occurred_at=NOW - dt.timedelta(days=days_ago),
        properties={"order_no": order_no, "amount_fen": 5000, "lines": []},
        event_id=f"order_paid:{order_no}",
    )


def _owners(store: EventStore) -> set[int]:
    return {pid for (pid,) in store.fetch("SELECT DISTINCT pid FROM events_resolved")}


class TestPersonMapReconcile:
    def test_a_merge_the_recording_missed_is_applied_and_counted_once(
        self, store: EventStore
    ) -> None:
        # given a device guest and a phone customer, each with a paid order in the store
        guest = identify(identifiers=[IdentifierInput(type="device_id", value="g")], source="live")
        member = identify(
            identifiers=[IdentifierInput(type="phone", value="13900139000", verified=True)],
            source="shop",
        )
        _paid(guest.person.pk, "R1", days_ago=3)
        _paid(member.person.pk, "R2", days_ago=2)
        with clock.frozen(NOW):
            buffer_flush_all(store=store)
        # and a merge of the two whose after-commit recording never ran (the process died)
        merged = identify(
            identifiers=[
                IdentifierInput(type="phone", value="13900139000", verified=True),
                IdentifierInput(type="device_id", value="g"),
            ],
            source="live",
        )
        assert merged.merged_from
        assert not BufferedEvent.objects.filter(event_id__startswith="identity_merged:").exists()
        assert len(_owners(store)) == 2

        # when the nightly reconciliation runs
        with clock.frozen(NOW):
            report = person_map_reconcile_job.call_local()

        # then both orders belong to the survivor, whose tags count both
        survivor = merged.person.pk
        assert (report.applied, report.survivors) == (1, frozenset({survivor}))
        assert _owners(store) == {survivor}
        tags = person_tags_get(person_id=survivor, store=store)
        assert tags is not None
        assert tags["frequency"] == 2
        # and a second run finds nothing to do
        assert person_map_reconcile(store=store).applied == 0

    def test_merges_arriving_out_of_order_keep_every_id_on_the_last_survivor(
        self, store: EventStore
    ) -> None:
        # given events of persons 1, 2 and 3
        for pid in (1, 2, 3):
            record_server_event(
                "page_view", person_id=pid, occurred_at=NOW, properties={"path": "/"}
            )
        buffer_flush_all(store=store)
        empty = pa.Table.from_pylist([], schema=EVENT_SCHEMA)

        # when 2→3 is applied first (say by the reconciliation) and 1→2 arrives afterwards
        store.append(empty, merges=[(2, 3, NOW)])
        store.append(empty, merges=[(1, 2, NOW + dt.timedelta(seconds=1))])

        # then every old id points straight at 3
        assert dict(store.fetch("SELECT from_person_id, into_person_id FROM person_map")) == {
            1: 3,
            2: 3,
        }
        assert _owners(store) == {3}


class TestReconcileSchedule:
    def test_runs_nightly_at_0220_shanghai_before_the_tags(self) -> None:
        task = person_map_reconcile_job.s()

        assert task.name == "datahub.person_map_reconcile"
        assert task.validate_datetime(dt.datetime(2025, 6, 30, 18, 20))  # huey checks UTC
        assert not task.validate_datetime(dt.datetime(2025, 6, 30, 18, 40))
