"""DH-2: buffered events reach the store with their OneID, survive a crash between accept and
flush, and follow OneID merges without history being rewritten."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from freshloop.core import clock
from freshloop.datahub.eventstore import flush
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush, buffer_flush_all, buffer_prune
from freshloop.datahub.eventstore.store import EVENT_SCHEMA
from freshloop.datahub.ingestion.services import track_accept
from freshloop.datahub.models import BufferedEvent, EventSource
from freshloop.identity.models import Person
from freshloop.identity.resolver import IdentifierInput, identify
from tests.datahub.helpers import make_source, record_server_event, track_event

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _empty_identity_cache() -> None:
    flush.identity_cache.clear()


def _device(value: str) -> list[dict[str, str]]:
    return [{"type": "device_id", "value": value}]


def _accept_page_views(source: EventSource, visits: list[tuple[str, str]]) -> None:
    """Accept one page view per (device, path), at NOW."""
    with clock.frozen(NOW):
        track_accept(
            source=source,
            events=[
                track_event(
                    "page_view",
                    occurred_at=NOW,
                    identifiers=_device(device),
                    properties={"path": path},
                )
                for device, path in visits
            ],
        )


class TestBufferFlush:
    def test_events_land_with_the_person_identify_finds(self, store: EventStore) -> None:
        # given a known phone customer and events from that phone and from two devices
        known = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138000", verified=True)],
            source="shop",
        ).person
        _, source = make_source()
        events = [
            track_event(
                "page_view",
                occurred_at=NOW,
                identifiers=[{"type": "phone", "value": "138 0013 8000"}],
                properties={"path": "/"},
            ),
            track_event(
                "page_view", occurred_at=NOW, identifiers=_device("a"), properties={"path": "/"}
            ),
            track_event(
                "page_view", occurred_at=NOW, identifiers=_device("a"), properties={"path": "/x"}
            ),
            track_event(
                "page_view", occurred_at=NOW, identifiers=_device("b"), properties={"path": "/"}
            ),
            track_event(
                "page_view", occurred_at=NOW, one_id=known.one_id, properties={"path": "/y"}
            ),
        ]
        with clock.frozen(NOW):
            track_accept(source=source, events=events)
        # when the buffer is flushed
        report = buffer_flush(store=store)
        # then every event is in the store: the phone's and the one_id's go to the known person,
        # each device to its own (new) person
        assert (report.read, report.written) == (5, 5)
        rows = store.fetch("SELECT event_id, pid FROM events_resolved ORDER BY event_id")
        by_event = dict(rows)
        ids = [e["event_id"] for e in events]
        assert by_event[ids[0]] == by_event[ids[4]] == known.pk
        assert by_event[ids[1]] == by_event[ids[2]] != by_event[ids[3]]
        assert BufferedEvent.objects.filter(flushed_at__isnull=True).count() == 0

    def test_promoted_columns_and_order_lines(self, store: EventStore) -> None:
        person = identify(
            identifiers=[IdentifierInput(type="device_id", value="d")], source="shop"
        ).person
        record_server_event(
            "order_paid",
            person_id=person.pk,
            occurred_at=NOW,
            channel="live",
            live_session="L9",
            properties={
                "order_no": "O1",
                "amount_fen": 3990,
                "lines": [
                    {
                        "sku_id": 5,
                        "product_id": 2,
                        "product_name": "鲜牛奶",
                        "category": "乳品",
                        "quantity": 2,
                        "amount_fen": 3990,
                    }
                ],
            },
        )
        buffer_flush_all(store=store)
        assert store.fetch(
            "SELECT name, channel, live_session, order_no, amount_fen, day FROM events"
        ) == [("order_paid", "live", "L9", "O1", 3990, dt.date(2026, 11, 20))]
        assert store.fetch(
            "SELECT order_no, category, quantity, amount_fen, pid FROM order_items_resolved"
        ) == [("O1", "乳品", 2, 3990, person.pk)]

    def test_a_wave_of_new_viewers_is_resolved_in_bulk(self, store: EventStore) -> None:
        # given 300 events from 300 devices nobody has seen (a live room filling up)
        _, source = make_source()
        _accept_page_views(source, [(f"wave-{n}", "/m/live") for n in range(300)])

        # when they are flushed
        with CaptureQueriesContext(connection) as queries:
            report = buffer_flush(store=store)

        # then each device became a person of its own, in a bounded number of statements
        # (not a resolution transaction per new person)
        assert report.written == 300
        assert store.fetch("SELECT count(DISTINCT person_id), count(person_id) FROM events") == [
            (300, 300)
        ]
        assert Person.objects.count() == 300
        assert len(queries) < 60

    def test_a_crash_after_the_store_write_loses_and_doubles_nothing(
        self, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given accepted events, and a process that dies right after the store committed them
        _, source = make_source()
        _accept_page_views(source, [("a", str(i)) for i in range(4)])

        def die(*args: Any, **kwargs: Any) -> None:
            raise SystemExit("killed between store commit and buffer mark")

        monkeypatch.setattr(flush, "_mark_flushed", die)
        with pytest.raises(SystemExit):
            buffer_flush(store=store)
        monkeypatch.undo()
        # then the rows are still pending; when the next flush runs, the store holds each once
        assert BufferedEvent.objects.filter(flushed_at__isnull=True).count() == 4
        report = buffer_flush(store=store)
        assert (report.read, report.written) == (4, 0)
        assert store.fetch("SELECT count(*), count(DISTINCT event_id) FROM events") == [(4, 4)]
        assert BufferedEvent.objects.filter(flushed_at__isnull=True).count() == 0

    def test_a_crash_before_the_store_write_keeps_the_events_pending(
        self, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _, source = make_source()
        _accept_page_views(source, [("a", "/")])

        def broken_append(*args: Any, **kwargs: Any) -> int:
            raise OSError("disk full")

        monkeypatch.setattr(EventStore, "append", broken_append)
        with pytest.raises(OSError, match="disk full"):
            buffer_flush(store=store)
        monkeypatch.undo()
        assert buffer_flush(store=store).written == 1

    def test_prune_forgets_only_old_flushed_rows(self, store: EventStore, settings: Any) -> None:
        settings.DATAHUB_DEDUPE_DAYS = 7
        _, source = make_source()
        _accept_page_views(source, [("a", "/")])
        with clock.frozen(NOW):
            buffer_flush_all(store=store)
        _accept_page_views(source, [("a", "/2")])
        assert buffer_prune(now=NOW + dt.timedelta(days=8)) == 1
        assert BufferedEvent.objects.filter(flushed_at__isnull=True).count() == 1


class TestMergeRepointing:
    def test_a_merge_repoints_history_without_rewriting_it(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a guest device and a phone customer, each with events in the store
        _, source = make_source()
        with clock.frozen(NOW):
            track_accept(
                source=source,
                events=[
                    track_event(
                        "live_join",
                        occurred_at=NOW,
                        identifiers=_device("guest"),
                        live_session="L1",
                    ),
                    track_event(
                        "page_view",
                        occurred_at=NOW,
                        identifiers=[{"type": "phone", "value": "13900139000"}],
                        properties={"path": "/"},
                    ),
                ],
            )
        buffer_flush_all(store=store)
        before = dict(store.fetch("SELECT name, person_id FROM events"))
        assert before["live_join"] != before["page_view"]
        # when the guest logs in with that phone on the device (identity merges the two)
        with django_capture_on_commit_callbacks(execute=True):
            result = identify(
                identifiers=[
                    IdentifierInput(type="phone", value="13900139000", verified=True),
                    IdentifierInput(type="device_id", value="guest"),
                ],
                source="live",
            )
        assert result.merged_from
        buffer_flush_all(store=store)
        # then both events belong to the survivor, and the stored rows are unchanged
        assert {
            pid
            for (pid,) in store.fetch(
                "SELECT DISTINCT pid FROM events_resolved WHERE name IN ('live_join','page_view')"
            )
        } == {result.person.pk}
        assert (
            dict(
                store.fetch(
                    "SELECT name, person_id FROM events WHERE name IN ('live_join','page_view')"
                )
            )
            == before
        )

    def test_chained_merges_point_every_old_id_at_the_last_survivor(
        self, store: EventStore
    ) -> None:
        # given events of persons 1, 2, 3 and merges 1→2 then 2→3
        for pid in (1, 2, 3):
            record_server_event(
                "page_view", person_id=pid, occurred_at=NOW, properties={"path": "/"}
            )
        record_server_event(
            "identity_merged",
            person_id=2,
            occurred_at=NOW,
            properties={"from_person_id": 1, "into_person_id": 2},
        )
        buffer_flush_all(store=store)
        record_server_event(
            "identity_merged",
            person_id=3,
            occurred_at=NOW,
            properties={"from_person_id": 2, "into_person_id": 3},
        )
        buffer_flush_all(store=store)
        # then all three people's events resolve to person 3
        assert store.fetch("SELECT DISTINCT pid FROM events_resolved WHERE name = 'page_view'") == [
            (3,)
        ]
        assert sorted(store.fetch("SELECT from_person_id, into_person_id FROM person_map")) == [
            (1, 3),
            (2, 3),
        ]


class TestStoreExport:
    def test_parquet_export_is_partitioned_by_day(self, store: EventStore, tmp_path: Path) -> None:
        for day in (1, 2):
            record_server_event(
                "page_view",
                person_id=1,
                occurred_at=dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC),
                properties={"path": "/"},
            )
        buffer_flush_all(store=store)
        files = store.export_parquet(tmp_path / "lake")
        days = sorted(
            p.parent.name for p in files if "events" in p.parts and "order_items" not in p.parts
        )
        assert days == ["day=2026-11-01", "day=2026-11-02"]

    def test_the_merge_map_travels_with_the_events(self, store: EventStore, tmp_path: Path) -> None:
        # given person 1 merged into person 2 in the store
        store.append(pa.Table.from_pylist([], schema=EVENT_SCHEMA), merges=[(1, 2, NOW)])

        # when the store is exported
        files = store.export_parquet(tmp_path / "lake")

        # then the lake holds the map a reader needs to resolve merged people
        (map_file,) = [p for p in files if p.name == "person_map.parquet"]
        assert pq.read_table(map_file).select(["from_person_id", "into_person_id"]).to_pylist() == [
            {"from_person_id": 1, "into_person_id": 2}
        ]


class TestInProcessFlusher:
    def test_stop_ends_the_thread_before_the_interpreter_exits(self, settings: Any) -> None:
        # given a running flusher waiting out its interval
        settings.DATAHUB_AUTOFLUSH = True
        settings.DATAHUB_FLUSH_INTERVAL_SECONDS = 30.0
        flusher = flush._Flusher()
        flusher.nudge()
        assert flusher.thread is not None
        assert flusher.thread.is_alive()

        # when the process stops it (what the exit hook does)
        flusher.stop(timeout=5)

        # then the thread has ended instead of being killed mid-flush at shutdown
        assert not flusher.thread.is_alive()


class TestFlusherCommand:
    def test_once_moves_the_buffer_into_the_store(self, store: EventStore) -> None:
        # given an accepted event still in the buffer
        record_server_event(
            "page_view",
            person_id=1,
            occurred_at=NOW,
            properties={"path": "/"},
        )
        assert BufferedEvent.objects.filter(flushed_at__isnull=True).count() == 1

        # when the flusher runs once
        out = io.StringIO()
        call_command("datahub_flusher", "--once", stdout=out)

        # then the event is in the store and marked flushed
        assert store.fetch("SELECT name FROM events") == [("page_view",)]
        assert not BufferedEvent.objects.filter(flushed_at__isnull=True).exists()
        assert out.getvalue().strip() == "flushed 1 events"

    def test_a_non_positive_interval_is_refused(self, store: EventStore) -> None:
        with pytest.raises(SystemExit) as stopped:
            call_command("datahub_flusher", "--interval", "-1", stderr=io.StringIO())

        assert stopped.value.code == 2
