"""DH-1: the track door — write keys, per-event validation, idempotency by event id."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.core.models import AuditLog
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.ingestion.errors import BatchTooLarge, WriteKeyInvalid
from freshloop.datahub.ingestion.selectors import registered_schemas
from freshloop.datahub.ingestion.services import (
    event_definition_save,
    event_source_authenticate,
    event_source_create,
    event_source_set_active,
    track_accept,
)
from freshloop.datahub.models import BufferedEvent, EventDefinition
from tests.datahub.helpers import make_source, track_event

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
DEVICE = [{"type": "device_id", "value": "dev-1"}]


def _errors_of(result: object, index: int) -> dict[str, str]:
    entry = next(e for e in result.errors if e["index"] == index)  # type: ignore[attr-defined]
    return {error["field"]: error["code"] for error in entry["errors"]}


class TestEventSourceCreate:
    def test_the_key_authenticates_and_only_its_hash_is_stored(self) -> None:
        # given a new source
        raw, source = event_source_create(
            actor=Actor.system("tests"), name="直播间", channel="live"
        )
        # then the key finds it, and the raw key is nowhere in the row
        assert event_source_authenticate(raw).pk == source.pk
        assert raw not in (source.key_hash, source.key_prefix)

    def test_a_wrong_or_disabled_key_is_refused(self) -> None:
        raw, source = event_source_create(actor=Actor.system("tests"), name="商城", channel="shop")
        with pytest.raises(WriteKeyInvalid):
            event_source_authenticate(raw[:-2] + "xx")
        source.is_active = False
        source.save()
        with pytest.raises(WriteKeyInvalid):
            event_source_authenticate(raw)

    def test_the_server_channel_and_duplicate_names_are_refused(self) -> None:
        event_source_create(actor=Actor.system("tests"), name="门店", channel="store")
        with pytest.raises(InvalidInput):
            event_source_create(actor=Actor.system("tests"), name="系统", channel="server")
        with pytest.raises(InvalidInput):
            event_source_create(actor=Actor.system("tests"), name="门店", channel="store")


class TestEventSourceSetActive:
    def test_a_deactivated_key_is_refused_from_the_next_request_and_audited(self) -> None:
        # given a source whose key works
        raw, source = event_source_create(actor=Actor.system("tests"), name="门店", channel="store")
        assert event_source_authenticate(raw).pk == source.pk
        # when an operator switches it off
        event_source_set_active(source=source, is_active=False, actor=Actor.system("tests"))
        # then the key is refused, and the change is in the audit log
        with pytest.raises(WriteKeyInvalid):
            event_source_authenticate(raw)
        entry = AuditLog.objects.get(action="datahub.source_update")
        assert entry.after == {"is_active": False}

    def test_switching_it_back_on_lets_the_key_in_again(self) -> None:
        raw, source = event_source_create(actor=Actor.system("tests"), name="企微", channel="wecom")
        event_source_set_active(source=source, is_active=False, actor=Actor.system("tests"))
        event_source_set_active(source=source, is_active=True, actor=Actor.system("tests"))
        assert event_source_authenticate(raw).pk == source.pk
        assert AuditLog.objects.filter(action="datahub.source_update").count() == 2


class TestEventDefinitionSave:
    def test_a_saved_definition_is_in_force_at_once_and_audited(self) -> None:
        # given the schemas were read (and cached) before the operator registers a new event
        assert "recipe_rated" not in registered_schemas()
        # when the operator saves its definition
        with clock.frozen(NOW):
            saved = event_definition_save(
                definition=EventDefinition(
                    name="recipe_rated", fields={"stars": {"type": "integer", "required": True}}
                ),
                actor=Actor.system("tests"),
            )
        # then the next batch is checked against it, without waiting for the cache to expire
        _, source = make_source()
        event = track_event("recipe_rated", occurred_at=NOW, identifiers=DEVICE, properties={})
        with clock.frozen(NOW):
            result = track_accept(source=source, events=[event])
        assert _errors_of(result, 0) == {"properties.stars": "required"}
        assert saved.updated_at == NOW
        entry = AuditLog.objects.get(action="datahub.event_definition_save")
        assert entry.after["name"] == "recipe_rated"


class TestTrackAccept:
    def test_good_events_are_buffered_with_the_sources_channel(self) -> None:
        # given a live-room source
        _, source = make_source("live")
        events = [
            track_event("live_join", occurred_at=NOW, identifiers=DEVICE, live_session="L1"),
            track_event(
                "live_click_product",
                occurred_at=NOW,
                identifiers=DEVICE,
                live_session="L1",
                properties={"sku_id": 3},
            ),
        ]
        # when the batch arrives
        with clock.frozen(NOW):
            result = track_accept(source=source, events=events)
        # then both are buffered, stamped with the source and its channel
        assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 0)
        rows = list(BufferedEvent.objects.order_by("pk"))
        assert [r.source for r in rows] == [source.name] * 2
        assert all('"channel":"live"' in r.payload for r in rows)

    def test_identifiers_are_sealed_in_the_buffer(self) -> None:
        _, source = make_source()
        with clock.frozen(NOW):
            track_accept(
                source=source,
                events=[
                    track_event(
                        "page_view",
                        occurred_at=NOW,
                        identifiers=[{"type": "phone", "value": "13800138000"}],
                        properties={"path": "/m/"},
                    )
                ],
            )
        payload = BufferedEvent.objects.get().payload
        assert "13800138000" not in payload
        assert "+8613800138000" not in payload

    def test_a_replayed_batch_is_not_counted_twice(self, store: EventStore) -> None:
        # given a batch that was accepted and flushed
        _, source = make_source()
        events = [
            track_event(
                "page_view", occurred_at=NOW, identifiers=DEVICE, properties={"path": f"/m/{i}"}
            )
            for i in range(3)
        ]
        with clock.frozen(NOW):
            first = track_accept(source=source, events=events)
            buffer_flush_all(store=store)
            # when the client retries the same batch (it never saw the response)
            again = track_accept(source=source, events=events)
        buffer_flush_all(store=store)
        # then the retry is all duplicates and the store holds each event once
        assert (first.accepted, again.accepted, again.duplicates) == (3, 0, 3)
        assert store.fetch("SELECT count(*) FROM events")[0][0] == 3

    def test_an_id_repeated_inside_one_batch_counts_once(self) -> None:
        _, source = make_source()
        event = track_event(
            "page_view", occurred_at=NOW, identifiers=DEVICE, properties={"path": "/"}
        )
        with clock.frozen(NOW):
            result = track_accept(source=source, events=[event, dict(event)])
        assert (result.accepted, result.duplicates) == (1, 1)

    def test_bad_events_come_back_with_field_errors_and_good_ones_are_kept(self) -> None:
        # given a batch mixing one good event and five bad ones
        _, source = make_source()
        events = [
            track_event(
                "add_to_cart",
                occurred_at=NOW,
                identifiers=DEVICE,
                properties={"sku_id": 1, "quantity": 2},
            ),
            track_event(
                "add_to_cart", occurred_at=NOW, identifiers=DEVICE, properties={"sku_id": "one"}
            ),
            {
                "event_id": "no-time",
                "name": "page_view",
                "identifiers": DEVICE,
                "properties": {"path": "/"},
            },
            track_event("page_view", occurred_at=NOW, properties={"path": "/"}),
            track_event("live_join", occurred_at=NOW, identifiers=DEVICE),
            "not an object",
            track_event(
                "page_view",
                occurred_at=NOW + dt.timedelta(days=1),
                identifiers=DEVICE,
                properties={"path": "/"},
            ),
            track_event(
                "page_view",
                occurred_at=NOW,
                identifiers=[{"type": "phone", "value": "12345"}],
                properties={"path": "/"},
            ),
        ]
        # when it is accepted
        with clock.frozen(NOW):
            result = track_accept(source=source, events=events)
        # then the good event is buffered and every bad one says what is wrong, field by field
        assert (result.accepted, result.rejected) == (1, 7)
        assert _errors_of(result, 1) == {"properties.sku_id": "type"}
        assert _errors_of(result, 2) == {"occurred_at": "required"}
        assert _errors_of(result, 3) == {"identifiers": "required"}
        assert _errors_of(result, 4) == {"live_session": "required"}
        assert _errors_of(result, 5) == {"": "not_object"}
        assert _errors_of(result, 6) == {"occurred_at": "in_future"}
        assert _errors_of(result, 7) == {"identifiers": "invalid_identifier"}
        assert BufferedEvent.objects.count() == 1

    def test_values_the_store_cannot_hold_are_refused_at_the_door(self, store: EventStore) -> None:
        # given events the door used to accept and the flush then failed on, for the whole
        # buffer (an integer beyond int64 anywhere; on PostgreSQL a NUL in one_id or an
        # identifier, an identifier scope over its 64-character column)
        _, source = make_source()
        good = track_event(
            "page_view", occurred_at=NOW, identifiers=DEVICE, properties={"path": "/"}
        )
        openid = {"type": "wechat_openid", "value": "o-1"}
        events = [
            good,
            track_event(
                "order_paid",
                occurred_at=NOW,
                identifiers=DEVICE,
                properties={"order_no": "O1", "amount_fen": 2**63},
            ),
            {
                **track_event("recipe_saved", occurred_at=NOW, identifiers=DEVICE),
                "custom": True,
                "properties": {"steps": [{"seconds": 2**64 - 1}]},
            },
            track_event("page_view", occurred_at=NOW, one_id="P_\x00", properties={"path": "/"}),
            track_event(
                "page_view",
                occurred_at=NOW,
                identifiers=[{**openid, "scope": "w" * 65}],
                properties={"path": "/"},
            ),
            track_event(
                "page_view",
                occurred_at=NOW,
                identifiers=[DEVICE[0], {**openid, "scope": "wx\x00"}],
                properties={"path": "/"},
            ),
            track_event(
                "page_view",
                occurred_at=NOW,
                identifiers=[{"type": 7, "value": ["x"]}],
                properties={"path": "/"},
            ),
        ]
        # when the batch is accepted and flushed
        with clock.frozen(NOW):
            result = track_accept(source=source, events=events)
            flushed = buffer_flush_all(store=store)
        # then each is refused naming the field, and the good event reaches the store
        assert (result.accepted, result.rejected) == (1, 6)
        assert _errors_of(result, 1) == {"properties": "out_of_range"}
        assert _errors_of(result, 2) == {"properties": "out_of_range"}
        assert _errors_of(result, 3) == {"one_id": "format", "identifiers": "required"}
        assert _errors_of(result, 4) == {"identifiers[0].scope": "too_long"}
        assert _errors_of(result, 5) == {"identifiers[1].scope": "format"}
        assert _errors_of(result, 6) == {
            "identifiers[0].type": "type",
            "identifiers[0].value": "type",
        }
        assert flushed == 1

    def test_unknown_names_pass_only_as_custom_events(self) -> None:
        _, source = make_source()
        unknown = track_event(
            "recipe_saved", occurred_at=NOW, identifiers=DEVICE, properties={"recipe": "红烧肉"}
        )
        custom = {
            **track_event(
                "recipe_saved",
                occurred_at=NOW,
                identifiers=DEVICE,
                properties={"recipe": {"id": 1}},
            ),
            "custom": True,
        }
        with clock.frozen(NOW):
            result = track_accept(source=source, events=[unknown, custom])
        assert (result.accepted, result.rejected) == (1, 1)
        assert _errors_of(result, 0) == {"name": "unknown_event"}

    def test_an_operator_registered_schema_is_enforced(self) -> None:
        # given an operator registered "recipe_saved" with a required integer recipe_id
        EventDefinition.objects.create(
            name="recipe_saved",
            fields={"recipe_id": {"type": "integer", "required": True}},
            updated_at=NOW,
        )
        from freshloop.datahub.ingestion.selectors import definitions_changed

        definitions_changed()
        _, source = make_source()
        events = [
            track_event(
                "recipe_saved", occurred_at=NOW, identifiers=DEVICE, properties={"recipe_id": 7}
            ),
            track_event("recipe_saved", occurred_at=NOW, identifiers=DEVICE, properties={}),
        ]
        with clock.frozen(NOW):
            result = track_accept(source=source, events=events)
        assert (result.accepted, result.rejected) == (1, 1)
        assert _errors_of(result, 1) == {"properties.recipe_id": "required"}

    def test_a_batch_over_one_thousand_is_refused_whole(self) -> None:
        _, source = make_source()
        events = [
            track_event("page_view", occurred_at=NOW, identifiers=DEVICE, properties={"path": "/"})
            for _ in range(1001)
        ]
        with pytest.raises(BatchTooLarge):
            track_accept(source=source, events=events)
        assert BufferedEvent.objects.count() == 0

    def test_a_time_without_offset_is_beijing_time(self, store: EventStore) -> None:
        _, source = make_source()
        event = track_event(
            "page_view", occurred_at=NOW, identifiers=DEVICE, properties={"path": "/"}
        )
        event["occurred_at"] = "2026-11-20T08:30:00"
        with clock.frozen(NOW):
            track_accept(source=source, events=[event])
        buffer_flush_all(store=store)
        assert store.fetch("SELECT occurred_at, day FROM events")[0] == (
            dt.datetime(2026, 11, 20, 0, 30),
            dt.date(2026, 11, 20),
        )
