"""PIPL erasure in the event store: an erased person's events stay under their person id (the
tombstone) with every personal or free-text property gone — in the store, in the write-ahead
buffer, for events still pending and for any arriving later — while everyone else's events
stay exactly as they were; and the scrub is safe with a flush running."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import pytest
from django.db import connections

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import OutboxMessage
from freshloop.datahub.eventstore import flush
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import (
    buffer_flush,
    buffer_flush_all,
    event_store_erase_person,
    properties_scrub,
)
from freshloop.datahub.ingestion.services import track_accept
from freshloop.datahub.models import BufferedEvent
from freshloop.datahub.tags.services import tags_recompute_all
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.privacy import person_erase
from tests.datahub.helpers import make_source, record_server_event, track_event
from tests.factories import make_person

CS = Actor(type="user", id="9", label="客服小李")
PHONE = "13800138000"
OTHER_PHONE = "13900139000"


@pytest.fixture(autouse=True)
def _empty_identity_cache() -> None:
    # The flush caches identifier sets → person ids per process; a person of an earlier test
    # (rolled back, and on PostgreSQL its id never reused) must not be handed out again.
    flush.identity_cache.clear()


class TestPropertiesScrub:
    def test_keeps_numbers_flags_codes_and_catalogue_facts(self) -> None:
        kept = {
            "order_no": "O_01JD2ZQ8",
            "amount_fen": 5990,
            "discount_fen": 0,
            "coupon_used": True,
            "channel": "live",
            "province": "上海",
            "sku_id": 5,
            "dwell_seconds": 30,
            "one_id": "P_01ABC",
            "lines": [{"product_name": "牧场鲜牛奶", "category": "鲜奶", "quantity": 2}],
        }
        assert properties_scrub(kept) == kept

    @pytest.mark.parametrize(
        "personal",
        [
            {"phone": PHONE},
            {"receiverPhone": 13800138000},
            {"mobile_no": "+86 13800138000"},
            {"name": "王小明"},
            {"nickname": "小明"},
            {"address": {"detail": "张江路 88 号"}},
            {"city": "上海"},
            {"district": "浦东新区"},
            {"id_card": "110101199003074477"},
            {"birthday": 19900307},
            {"openid": "o-abc"},
            {"text": "好吃"},
            {"query": "牛奶 送到张江路"},
            {"reason": "不想要了，打 13800138000"},
            {"path": "/m/orders?phone=13800138000"},
            {"title": "王小明的订单"},
            {"recipe": "番茄炒蛋"},  # text under a name the system does not write: free text
            {"anything": 13800138000},  # a number shaped like a mobile
            {"order_no": "13800138000"},  # even under a code's name
            {"13800138000": 1},  # a key that is itself data
            {"lat": 31.2, "lng": 121.5},
        ],
    )
    def test_drops_what_is_personal_or_free_text(self, personal: dict[str, Any]) -> None:
        assert properties_scrub({**personal, "amount_fen": 100}) == {"amount_fen": 100}

    def test_nested_lines_lose_personal_fields_and_keep_the_rest(self) -> None:
        lines = [{"product_name": "鲜奶", "sku_id": 1, "receiver": "王小明", "note": "放门口"}]
        assert properties_scrub({"lines": lines}) == {
            "lines": [{"product_name": "鲜奶", "sku_id": 1}]
        }


def _store_rows(store: EventStore, person_id: int) -> list[dict[str, Any]]:
    """The person's events, but the record of the erasure itself (`person_erased`)."""
    return store.fetch_dicts(
        "SELECT * FROM events WHERE person_id = $pid AND name <> 'person_erased' ORDER BY event_id",
        {"pid": person_id},
    )


def _store_text(store: EventStore) -> str:
    """Everything the store holds, as text (every table)."""
    parts = []
    for table in ("events", "order_items", "person_map", "person_tags"):
        parts += [str(row) for row in store.fetch(f"SELECT * FROM {table}")]  # noqa: S608
    return "\n".join(parts)


def _buffer_text() -> str:
    return "\n".join(BufferedEvent.objects.values_list("payload", flat=True))


SECRETS = (PHONE, "王小明", "张江路", "浦东", "番茄炒蛋", "放门口")


def _a_persons_history(
    person: Person,
    phone: str,
    name: str,
    street: str,
    *,
    district: str = "浦东新区",
    note: str = "放门口",
    recipe: str = "番茄炒蛋",
) -> None:
    """A paid order (address, lines), a search, a page view and a custom event, from the
    server and from a client that knows them by phone and device."""
    earlier = clock.now() - dt.timedelta(days=2)
    record_server_event(
        "order_paid",
        person_id=person.pk,
        occurred_at=earlier,
        properties={
            "order_no": f"O_{person.pk}",
            "amount_fen": 5990,
            "province": "上海",
            "city": "上海",
            "district": district,
            "receiver_name": name,
            "lines": [{"product_name": "牧场鲜牛奶", "sku_id": 1, "note": note}],
        },
    )
    _, source = make_source("shop")
    identifiers = [{"type": "phone", "value": phone}, {"type": "device_id", "value": f"d-{phone}"}]
    result = track_accept(
        source=source,
        events=[
            track_event(
                "search",
                occurred_at=earlier,
                identifiers=identifiers,
                properties={"query": f"牛奶 送到{street}"},
            ),
            track_event(
                "page_view",
                occurred_at=earlier,
                identifiers=identifiers,
                properties={"path": f"/m/orders?phone={phone}", "title": name},
            ),
            track_event(
                "recipe_saved",
                occurred_at=earlier,
                identifiers=identifiers,
                properties={"recipe": recipe, "servings": 2, "contact_phone": phone},
            )
            | {"custom": True, "session_id": f"s-{phone}"},
        ],
    )
    assert result.rejected == 0, result.errors


@pytest.fixture
def two_people(store: EventStore) -> tuple[Person, Person]:
    erased = make_person(phone=PHONE)
    other = make_person(phone=OTHER_PHONE)
    _a_persons_history(erased, PHONE, "王小明", "张江路")
    _a_persons_history(
        other, OTHER_PHONE, "李大姐", "淮海路", district="徐汇区", note="敲门", recipe="红烧肉"
    )
    buffer_flush_all(store=store)
    tags_recompute_all(store=store)
    return erased, other


@pytest.mark.django_db
class TestErasureScrubsTheStore:
    def test_nothing_personal_of_theirs_is_left_in_the_store_or_the_buffer(
        self,
        store: EventStore,
        two_people: tuple[Person, Person],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        erased, _ = two_people
        assert all(secret in _store_text(store) + _buffer_text() for secret in SECRETS)
        # when the person is erased (the subscriber runs as the worker would)
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        # then no trace of their phone, name, address or words is left anywhere
        everything = _store_text(store) + _buffer_text()
        for secret in SECRETS:
            assert secret not in everything, secret
        # and their buffered copies no longer carry their sealed identifiers
        rows = BufferedEvent.objects.filter(
            event_id__in=[row["event_id"] for row in _store_rows(store, erased.pk)]
        )
        assert rows.count() == 4
        assert all(
            '"identity":null' in payload for payload in rows.values_list("payload", flat=True)
        )

    def test_their_events_stay_under_their_person_id_with_the_anonymous_facts(
        self,
        store: EventStore,
        two_people: tuple[Person, Person],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        erased, _ = two_people
        names = [row["name"] for row in _store_rows(store, erased.pk)]
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        after = _store_rows(store, erased.pk)
        assert [row["name"] for row in after] == names
        paid = next(row for row in after if row["name"] == "order_paid")
        assert paid["amount_fen"] == 5990
        assert paid["order_no"] == f"O_{erased.pk}"
        assert json.loads(paid["properties"]) == {
            "order_no": f"O_{erased.pk}",
            "amount_fen": 5990,
            "province": "上海",
            "lines": [{"product_name": "牧场鲜牛奶", "sku_id": 1}],
        }
        custom = next(row for row in after if row["name"] == "recipe_saved")
        assert custom["properties"] == '{"servings":2}'
        assert custom["session_id"] is None
        assert not store.fetch("SELECT 1 FROM person_tags WHERE person_id = $p", {"p": erased.pk})

    def test_everyone_elses_events_are_untouched(
        self,
        store: EventStore,
        two_people: tuple[Person, Person],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        erased, other = two_people
        before = _store_rows(store, other.pk)
        buffered = dict(BufferedEvent.objects.values_list("event_id", "payload"))
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        assert _store_rows(store, other.pk) == before
        for theirs in ("李大姐", "淮海路", "徐汇区", "敲门", "红烧肉", OTHER_PHONE):
            assert theirs in _store_text(store) + _buffer_text(), theirs
        others = {row["event_id"] for row in before}
        assert {
            event_id: payload
            for event_id, payload in BufferedEvent.objects.values_list("event_id", "payload")
            if event_id in others
        } == {event_id: buffered[event_id] for event_id in others}

    def test_a_person_merged_into_them_is_scrubbed_too(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given an old account whose events the store files under it, merged into the person
        erased, twin = make_person(phone=PHONE), make_person(phone="13700137000")
        _a_persons_history(twin, "13700137000", "王小明", "张江路")
        buffer_flush_all(store=store)
        Person.objects.filter(pk=twin.pk).update(merged_into=erased, status=PersonStatus.MERGED)
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        text = _store_text(store)
        assert "王小明" not in text
        assert "13700137000" not in text
        assert len(_store_rows(store, twin.pk)) == 4  # still filed under the old id

    def test_it_is_a_durable_job_for_the_worker(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        person = make_person()
        with django_capture_on_commit_callbacks(execute=False):
            person_erase(actor=CS, one_id=person.one_id, reason="用户申请注销")
        effect = OutboxMessage.objects.get(
            payload__effect="event:freshloop.datahub.eventstore.subscribers.events_erased"
        )
        assert effect.payload["data"]["fields"]["person_id"] == person.pk

    def test_running_it_again_changes_nothing(
        self,
        store: EventStore,
        two_people: tuple[Person, Person],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        erased, _ = two_people
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=erased.one_id, reason="用户申请注销")
        rows = _store_rows(store, erased.pk)
        again = event_store_erase_person(person_id=erased.pk, store=store)
        assert (again.events, again.buffered, again.tags) == (0, 0, 0)
        assert _store_rows(store, erased.pk) == rows


@pytest.mark.django_db
class TestEventsAfterTheErasure:
    def test_a_fact_still_pending_in_the_buffer_is_scrubbed_before_it_lands(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a server fact recorded for the person that no flush has taken yet
        person = make_person(phone=PHONE)
        record_server_event(
            "order_refunded",
            person_id=person.pk,
            occurred_at=clock.now() - dt.timedelta(hours=1),
            properties={"order_no": "O_1", "amount_fen": 100, "reason": "王小明 不要了"},
        )
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=person.one_id, reason="用户申请注销")
        assert "王小明" not in _buffer_text()
        buffer_flush_all(store=store)
        refunds = [r for r in _store_rows(store, person.pk) if r["name"] == "order_refunded"]
        assert refunds[0]["properties"] == '{"order_no":"O_1","amount_fen":100}'

    def test_an_event_naming_the_erased_oneid_later_is_stored_scrubbed(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        person = make_person(phone=PHONE)
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=person.one_id, reason="用户申请注销")
        _, source = make_source("shop")
        track_accept(
            source=source,
            events=[
                track_event(
                    "recipe_saved",
                    occurred_at=clock.now() - dt.timedelta(minutes=1),
                    one_id=person.one_id,
                    properties={"recipe": "番茄炒蛋", "phone": PHONE, "servings": 3},
                )
                | {"custom": True}
            ],
        )
        buffer_flush_all(store=store)
        (row,) = _store_rows(store, person.pk)
        assert row["properties"] == '{"servings":3}'
        assert PHONE not in _store_text(store)


@pytest.mark.django_db(transaction=True)
class TestSafeWithTheFlusherRunning:
    def test_a_flush_half_way_through_cannot_write_unscrubbed_events_after_the_scrub(
        self, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a flush that has read and resolved the person's pending events (the person was
        # not erased yet) and is about to write them into the store
        person = make_person(phone=PHONE)
        record_server_event(
            "order_paid",
            person_id=person.pk,
            occurred_at=clock.now() - dt.timedelta(hours=1),
            properties={"order_no": "O_9", "amount_fen": 990, "receiver_name": "王小明"},
        )
        reading_done = threading.Event()
        real_append = EventStore.append

        def slow_append(self: EventStore, *args: Any, **kwargs: Any) -> int:
            reading_done.set()
            time.sleep(1.0)  # the erasure commits meanwhile
            return real_append(self, *args, **kwargs)

        monkeypatch.setattr(EventStore, "append", slow_append)

        def flush_once() -> None:
            try:
                buffer_flush(store=store)
            finally:
                connections.close_all()

        flusher = threading.Thread(target=flush_once)
        flusher.start()
        assert reading_done.wait(10)
        # when the person is erased right then (the worker's scrub runs at once)
        started = time.monotonic()
        person_erase(actor=CS, one_id=person.one_id, reason="用户申请注销")
        event_store_erase_person(person_id=person.pk, store=store)
        waited = time.monotonic() - started
        flusher.join(10)
        # then what that flush wrote was scrubbed too: the scrub waited for it to finish
        (row,) = [r for r in _store_rows(store, person.pk) if r["name"] == "order_paid"]
        assert row["properties"] == '{"order_no":"O_9","amount_fen":990}'
        assert "王小明" not in _store_text(store) + _buffer_text()
        assert waited > 0.3
