"""The real-time brokers: ids, ordering, replay, bounded buffers, slow subscribers, threads.

Every behaviour runs against both brokers: the in-process one and the real Redis (database 15).
Async code runs in `asyncio.run` inside plain tests (a fresh loop per test, as uvicorn's would be).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis
from django.conf import settings

from freshloop.core import clock, realtime
from freshloop.core.realtime import (
    Event,
    InProcessBroker,
    RedisBroker,
    SubscriberDropped,
    Subscription,
)
from freshloop.core.realtime import subscription as realtime_subscription

T = TypeVar("T")
Broker = InProcessBroker | RedisBroker


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


async def take(subscription: Subscription, count: int, timeout: float = 5.0) -> list[Event]:
    events = []
    for _ in range(count):
        event = await subscription.receive(timeout=timeout)
        assert event is not None, f"only {len(events)} of {count} events arrived"
        events.append(event)
    return events


async def nothing_more(subscription: Subscription, wait: float = 0.2) -> bool:
    return await subscription.receive(timeout=wait) is None


@pytest.fixture(params=["memory", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    if request.param == "memory":
        yield InProcessBroker(buffer_size=realtime.BUFFER_SIZE)
    else:
        url = request.getfixturevalue("redis_url")
        yield RedisBroker(url)


def _pubsub_clients(url: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url)
    return [
        entry
        for entry in client.client_list()
        if str(entry.get("name", "")).startswith("freshloop-realtime")
    ]


class TestChannelName:
    def test_one_spelling_per_namespace_and_key(self) -> None:
        assert realtime.channel_name("live", "L_01ABC") == "live:L_01ABC"
        assert realtime.channel_name("group_deal", "42") == "group_deal:42"

    @pytest.mark.parametrize(
        ("namespace", "key"),
        [("", "x"), ("Live", "x"), ("live:room", "x"), ("live", "a b"), ("live", "x" * 128)],
    )
    def test_refuses_what_would_not_be_a_safe_channel(self, namespace: str, key: str) -> None:
        with pytest.raises(ValueError, match="invalid realtime"):
            realtime.channel_name(namespace, key)


class TestPublish:
    def test_ids_increase_per_channel_from_one(self, broker: Broker) -> None:
        # when events are published on two channels
        first = [broker.publish("live:a", "comment", {"n": n}) for n in range(3)]
        other = broker.publish("live:b", "comment", {"n": 0})
        # then each channel counts on its own
        assert first == ["1", "2", "3"]
        assert other == "1"

    def test_data_round_trips_as_json(self, broker: Broker) -> None:
        broker.publish("live:json", "comment", {"text": "螺蛳粉好吃", "fen": 990})
        [event] = broker.buffered("live:json")
        assert (event.id, event.event, event.data) == (
            "1",
            "comment",
            {"text": "螺蛳粉好吃", "fen": 990},
        )
        assert event.published_at.tzinfo is not None
        assert b'"text":"\xe8\x9e\xba' in event.frame  # UTF-8, not \\u escapes

    @pytest.mark.parametrize(
        ("channel", "event"),
        [("live room", "comment"), ("live:a", "bad\nname"), ("", "comment"), ("x" * 129, "c")],
    )
    def test_refuses_unsafe_names(self, broker: Broker, channel: str, event: str) -> None:
        with pytest.raises(ValueError, match="invalid realtime"):
            broker.publish(channel, event, {})

    def test_refuses_data_that_is_not_json(self, broker: Broker) -> None:
        with pytest.raises(TypeError):
            broker.publish("live:a", "comment", {"blob": object()})
        assert broker.buffered("live:a") == []

    def test_concurrent_publisher_threads_are_delivered_in_id_order(self, broker: Broker) -> None:
        # given one subscriber and 8 threads publishing 50 events each
        async def scenario() -> tuple[list[str], list[int]]:
            async with Subscription(broker, "live:threads", None) as subscription:
                ids: list[str] = []
                lock = threading.Lock()

                def publisher(worker: int) -> None:
                    for n in range(50):
                        event_id = broker.publish("live:threads", "like", {"w": worker, "n": n})
                        with lock:
                            ids.append(event_id)

                threads = [threading.Thread(target=publisher, args=(w,)) for w in range(8)]
                for thread in threads:
                    thread.start()
                received = await take(subscription, 400)
                for thread in threads:
                    thread.join()
                assert await nothing_more(subscription)
                return ids, [event.seq for event in received]

        ids, received = run(scenario)
        # then every id was handed out once and the subscriber saw them all, in order
        assert sorted(int(event_id) for event_id in ids) == list(range(1, 401))
        assert received == list(range(1, 401))


class TestRedact:
    def test_buffered_events_are_rewritten_in_place_and_replayed_so(self, broker: Broker) -> None:
        # given a comment that must go (PIPL) between two that stay
        broker.publish("live:redact", "comment", {"id": 1, "text": "牛奶真新鲜"})
        gone = broker.publish("live:redact", "comment", {"id": 2, "text": "我住张江路 88 号"})
        broker.publish("live:redact", "like", {"count": 3})

        # when the buffer is redacted
        def rewrite(event: str, data: dict[str, Any]) -> dict[str, Any] | None:
            return {**data, "text": ""} if data.get("id") == 2 else None

        assert broker.redact("live:redact", rewrite) == 1

        # then a page catching up from the start gets the same ids, without the text
        async def catch_up() -> list[Event]:
            async with Subscription(broker, "live:redact", "0") as subscription:
                return await take(subscription, 3)

        replayed = run(catch_up)
        assert [event.id for event in replayed][1] == gone
        assert [event.data.get("text") for event in replayed] == ["牛奶真新鲜", "", None]
        assert "张江路" not in replayed[1].data_json
        # and a second redaction finds nothing left to change
        assert broker.redact("live:redact", rewrite) == 0

    def test_an_unknown_channel_has_nothing_to_redact(self, broker: Broker) -> None:
        assert broker.redact("live:nobody", lambda event, data: {}) == 0


class TestSubscribe:
    def test_live_events_arrive_in_order_after_subscribing(self, broker: Broker) -> None:
        broker.publish("live:s", "comment", {"n": 0})  # before: not wanted without an id

        async def scenario() -> list[Event]:
            async with Subscription(broker, "live:s", None) as subscription:
                for n in range(1, 4):
                    broker.publish("live:s", "comment", {"n": n})
                events = await take(subscription, 3)
                assert await nothing_more(subscription)
                return events

        events = run(scenario)
        assert [(e.id, e.data["n"]) for e in events] == [("2", 1), ("3", 2), ("4", 3)]

    def test_replays_exactly_the_events_after_last_event_id(self, broker: Broker) -> None:
        # given 6 published events, the client saw up to id 4
        for n in range(1, 7):
            broker.publish("live:r", "comment", {"n": n})

        async def scenario() -> list[str]:
            async with Subscription(broker, "live:r", "4") as subscription:
                broker.publish("live:r", "comment", {"n": 7})
                events = await take(subscription, 3)
                assert await nothing_more(subscription)
                return [event.id for event in events]

        # then it gets 5 and 6 from the buffer, then 7 live, with no duplicates
        assert run(scenario) == ["5", "6", "7"]

    def test_last_event_id_ahead_of_the_counter_replays_the_whole_buffer(
        self, broker: Broker
    ) -> None:
        # given a client that saw id 900 before the counter was reset (restart, expired keys)
        broker.publish("live:reset", "comment", {"n": 1})
        broker.publish("live:reset", "comment", {"n": 2})

        async def scenario() -> list[str]:
            async with Subscription(broker, "live:reset", "900") as subscription:
                return [event.id for event in await take(subscription, 2)]

        # then every buffered event is new to it
        assert run(scenario) == ["1", "2"]

    def test_garbage_last_event_id_means_live_only(self, broker: Broker) -> None:
        broker.publish("live:g", "comment", {})

        async def scenario() -> bool:
            async with Subscription(broker, "live:g", "abc") as subscription:
                return await nothing_more(subscription)

        assert run(scenario)

    def test_buffer_keeps_only_the_last_events(self, broker: Broker) -> None:
        # given more events than the buffer holds
        total = realtime.BUFFER_SIZE + 25
        for n in range(total):
            broker.publish("live:big", "like", {"n": n})
        # then only the newest BUFFER_SIZE are kept, and a replay from 0 starts there
        buffered = broker.buffered("live:big")
        assert len(buffered) == realtime.BUFFER_SIZE
        assert buffered[0].seq == 26
        assert buffered[-1].seq == total

        async def scenario() -> list[int]:
            async with Subscription(broker, "live:big", "0") as subscription:
                return [event.seq for event in await take(subscription, realtime.BUFFER_SIZE)]

        assert run(scenario) == list(range(26, total + 1))

    def test_slow_subscriber_is_dropped_without_holding_back_the_others(
        self, broker: Broker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(realtime_subscription, "SUBSCRIBER_QUEUE_SIZE", 5)

        async def scenario() -> tuple[list[int], bool, list[int]]:
            slow = Subscription(broker, "live:slow", None)
            fast = Subscription(broker, "live:slow", None)
            await slow.start()
            await fast.start()
            fast_seen: list[int] = []
            # when 12 events are published while the fast reader keeps up and the slow one sleeps
            for n in range(12):
                started = time.perf_counter()
                broker.publish("live:slow", "comment", {"n": n})
                assert time.perf_counter() - started < 1.0  # the publisher never waits
                fast_seen.extend(event.seq for event in await take(fast, 1))
            # then the slow one is dropped (its stream ends) ...
            with pytest.raises(SubscriberDropped):
                await take(slow, 1)
            assert slow.dropped
            await slow.aclose()
            # ... and resuming from what it had seen replays the rest
            async with Subscription(broker, "live:slow", "0") as resumed:
                replayed = [event.seq for event in await take(resumed, 12)]
            await fast.aclose()
            return fast_seen, slow.dropped, replayed

        fast_seen, dropped, replayed = run(scenario)
        assert fast_seen == list(range(1, 13))
        assert dropped
        assert replayed == list(range(1, 13))

    def test_publishing_from_another_thread_reaches_the_loop(self, broker: Broker) -> None:
        async def scenario() -> Event:
            async with Subscription(broker, "live:thread", None) as subscription:
                thread = threading.Thread(
                    target=broker.publish, args=("live:thread", "like", {"from": "worker"})
                )
                thread.start()
                [event] = await take(subscription, 1)
                thread.join()
                return event

        event = run(scenario)
        assert (event.id, event.event, event.data) == ("1", "like", {"from": "worker"})

    def test_closing_unregisters_the_subscriber(self, broker: Broker) -> None:
        async def scenario() -> tuple[int, int]:
            subscription = Subscription(broker, "live:close", None)
            await subscription.start()
            during = broker.local_subscriber_count("live:close")
            await subscription.aclose()
            return during, broker.local_subscriber_count("live:close")

        assert run(scenario) == (1, 0)

    def test_iteration_ends_when_dropped(
        self, broker: Broker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(realtime_subscription, "SUBSCRIBER_QUEUE_SIZE", 2)

        async def scenario() -> tuple[list[int], bool]:
            async with Subscription(broker, "live:it", None) as subscription:
                for n in range(5):
                    broker.publish("live:it", "comment", {"n": n})
                await asyncio.sleep(0.3)  # let every event reach the (full) queue
                seen = [event.seq async for event in subscription]
                return seen, subscription.dropped

        assert run(scenario) == ([], True)


@pytest.mark.redis
class TestRedisBroker:
    def test_many_subscribers_share_one_pubsub_connection(self, redis_url: str) -> None:
        broker = RedisBroker(redis_url)

        async def scenario() -> tuple[int, list[int]]:
            subscriptions = [Subscription(broker, f"live:share{n % 5}", None) for n in range(50)]
            for subscription in subscriptions:
                await subscription.start()
            connections = len(_pubsub_clients(redis_url))
            broker.publish("live:share3", "comment", {"hello": 1})
            received = [len(await take(s, 1)) for s in subscriptions if s.channel == "live:share3"]
            for subscription in subscriptions:
                await subscription.aclose()
            return connections, received

        connections, received = run(scenario)
        # then 50 subscribers on 5 channels hold one pub/sub connection, and all 10 got it
        assert connections == 1
        assert received == [1] * 10

    def test_last_subscriber_leaving_unsubscribes_the_channel(self, redis_url: str) -> None:
        broker = RedisBroker(redis_url)
        client = redis.Redis.from_url(redis_url)
        channel_key = "freshloop:rt:live:unsub"

        async def scenario() -> tuple[int, int]:
            first = Subscription(broker, "live:unsub", None)
            second = Subscription(broker, "live:unsub", None)
            await first.start()
            await second.start()
            await first.aclose()
            still = dict(client.pubsub_numsub(channel_key))[channel_key.encode()]
            await second.aclose()
            for _ in range(50):
                after = dict(client.pubsub_numsub(channel_key))[channel_key.encode()]
                if after == 0:
                    break
                await asyncio.sleep(0.02)
            return still, after

        assert run(scenario) == (1, 0)

    def test_events_published_while_pubsub_is_down_are_caught_up(self, redis_url: str) -> None:
        broker = RedisBroker(redis_url)
        admin = redis.Redis.from_url(redis_url)

        async def scenario() -> list[int]:
            async with Subscription(broker, "live:outage", None) as subscription:
                broker.publish("live:outage", "comment", {"n": 1})
                received = [event.seq for event in await take(subscription, 1)]
                # when the pub/sub connection is killed and events are published meanwhile
                [listener] = _pubsub_clients(redis_url)
                admin.client_kill_filter(_id=listener["id"])
                broker.publish("live:outage", "comment", {"n": 2})
                broker.publish("live:outage", "comment", {"n": 3})
                received += [event.seq for event in await take(subscription, 2)]
                broker.publish("live:outage", "comment", {"n": 4})
                received += [event.seq for event in await take(subscription, 1)]
                assert await nothing_more(subscription)
                return received

        # then the subscriber gets every event once, in order
        assert run(scenario) == [1, 2, 3, 4]

    def test_buffer_and_counter_expire(self, redis_url: str) -> None:
        RedisBroker(redis_url, ttl_seconds=60).publish("live:ttl", "comment", {})
        client = redis.Redis.from_url(redis_url)
        assert 0 < client.ttl("freshloop:rt:live:ttl:buf") <= 60
        assert 0 < client.ttl("freshloop:rt:live:ttl:seq") <= 60

    def test_a_publisher_process_reaches_another_processes_subscriber(self, redis_url: str) -> None:
        # given two brokers (two processes' worth of clients) on one Redis
        publisher, server = RedisBroker(redis_url), RedisBroker(redis_url)

        async def scenario() -> list[str]:
            async with Subscription(server, "live:x", None) as subscription:
                publisher.publish("live:x", "comment", {"n": 1})
                return [event.id for event in await take(subscription, 1)]

        assert run(scenario) == ["1"]


class TestGetBroker:
    def test_in_process_without_redis_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(
            settings, "FRESHLOOP", dataclasses.replace(settings.FRESHLOOP, redis_url="")
        )
        assert isinstance(realtime.get_broker(), InProcessBroker)
        assert realtime.get_broker() is realtime.get_broker()

    @pytest.mark.redis
    def test_redis_with_redis_url(self, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
        monkeypatch.setattr(
            settings, "FRESHLOOP", dataclasses.replace(settings.FRESHLOOP, redis_url=redis_url)
        )
        broker = realtime.get_broker()
        assert isinstance(broker, RedisBroker)
        # and the module-level functions go through it
        assert realtime.publish("live:mod", "comment", {"n": 1}) == "1"
        assert [event.id for event in broker.buffered("live:mod")] == ["1"]


@pytest.mark.django_db(transaction=True)
class TestPublishOnCommit:
    def test_publishes_only_after_commit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from django.db import transaction

        broker = InProcessBroker()
        monkeypatch.setattr(realtime, "get_broker", lambda: broker)
        with transaction.atomic():
            realtime.publish_on_commit("live:c", "comment", {"n": 1})
            assert broker.buffered("live:c") == []
        assert [event.id for event in broker.buffered("live:c")] == ["1"]

    def test_rolled_back_write_publishes_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from django.db import transaction

        broker = InProcessBroker()
        monkeypatch.setattr(realtime, "get_broker", lambda: broker)
        with pytest.raises(RuntimeError), transaction.atomic():
            realtime.publish_on_commit("live:c", "comment", {"n": 1})
            raise RuntimeError("rolled back")
        assert broker.buffered("live:c") == []

    def test_a_broker_failure_does_not_escape(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        from django.db import transaction

        def broken() -> Any:
            raise redis.ConnectionError("down")

        monkeypatch.setattr(realtime, "get_broker", broken)
        with transaction.atomic():
            realtime.publish_on_commit("live:c", "comment", {"n": 1})
        # then the commit went through; the failure was logged, not raised
        assert any("(down)" in record.getMessage() for record in caplog.records)

    def test_a_redis_that_does_not_answer_is_logged_after_the_commit(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        from django.db import transaction

        from freshloop.core.models import RateLimitCounter

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        broker = RedisBroker(f"redis://127.0.0.1:{port}/0")  # nobody listens there
        monkeypatch.setattr(realtime, "get_broker", lambda: broker)
        with transaction.atomic():
            RateLimitCounter.objects.create(
                key="written", window_start=0, count=1, expires_at=clock.now()
            )
            realtime.publish_on_commit("live:c", "comment", {"n": 1})
        # then the write is kept, and the push failure is one warning naming the channel
        assert RateLimitCounter.objects.filter(key="written").exists()
        [warning] = [r for r in caplog.records if "not pushed" in r.getMessage()]
        assert warning.levelname == "WARNING"
        assert "comment on live:c" in warning.getMessage()

    def test_names_and_data_are_checked_before_the_commit(self) -> None:
        from django.db import transaction

        # a programming error fails the write itself, not a log line after it
        with pytest.raises(ValueError, match="invalid realtime"), transaction.atomic():
            realtime.publish_on_commit("live room", "comment", {})
        with pytest.raises(TypeError), transaction.atomic():
            realtime.publish_on_commit("live:c", "comment", {"blob": object()})
