"""A channel's events and one consumer of them: the `Event`, the `Subscription` a consumer
iterates, the bounded queue behind it, and the `Broker` contract both brokers fulfil.

Invariants (every broker keeps them):
- Event ids are decimal integers, strictly increasing per channel. A subscriber never gets an
  id twice and never gets ids out of order.
- A subscription started with `last_event_id=N` replays the buffered events with id > N, then
  live ones. The subscriber is registered for live events before the buffer is read, so
  nothing published in between is lost. If N is ahead of the channel's counter, the counter
  was reset (process restart without Redis, or the Redis keys expired), so the whole buffer is
  new to the client and is replayed.
- A slow subscriber never blocks a publisher or the other subscribers: its queue is bounded,
  and on overflow the subscriber is dropped (its stream ends). The client reconnects with its
  last id and gets the missed events from the buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import re
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from django.core.serializers.json import DjangoJSONEncoder

BUFFER_SIZE = 500
"""Events kept per channel for replay after a reconnect."""
BUFFER_TTL_SECONDS = 24 * 3600
"""A channel nobody published to for this long forgets its buffer (and, in Redis, its counter)."""
SUBSCRIBER_QUEUE_SIZE = 1000
"""Events a subscriber may fall behind by before it is dropped (20 s of comments at 50/s)."""

_CHANNEL_RE = re.compile(r"^[A-Za-z0-9:_.\-]{1,128}$")
_EVENT_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def channel_name(namespace: str, key: str) -> str:
    """The channel of one thing in one module: `channel_name("live", session.code)` is
    "live:<code>". Every publisher and subscriber of a channel builds its name here, so they
    cannot drift apart (and the Redis keys derived from it stay the same)."""
    if not _NAMESPACE_RE.match(namespace):
        raise ValueError(f"invalid realtime channel namespace: {namespace!r}")
    channel = f"{namespace}:{key}"
    check_names(channel)
    return channel


class RealtimeUnavailable(Exception):
    """The broker cannot take the subscription now (Redis unreachable); the client retries."""


class SubscriberDropped(Exception):
    """The subscriber fell too far behind and was dropped; reconnect with the last event id."""


@dataclasses.dataclass(frozen=True)
class Event:
    """One published event. `id` is the channel's sequence number as a string (SSE `id:`)."""

    id: str
    event: str
    data: dict[str, Any]
    published_at: dt.datetime
    data_json: str = dataclasses.field(repr=False, compare=False)

    @property
    def seq(self) -> int:
        return int(self.id)

    @functools.cached_property
    def frame(self) -> bytes:
        """The SSE frame, encoded once however many subscribers receive it."""
        return f"id: {self.id}\nevent: {self.event}\ndata: {self.data_json}\n\n".encode()


def encode_data(data: dict[str, Any]) -> str:
    if not isinstance(data, dict):
        raise TypeError("realtime event data must be a dict")
    return json.dumps(data, ensure_ascii=False, cls=DjangoJSONEncoder, separators=(",", ":"))


def check_names(channel: str, event: str | None = None) -> None:
    if not _CHANNEL_RE.match(channel):
        raise ValueError(f"invalid realtime channel name: {channel!r}")
    if event is not None and not _EVENT_RE.match(event):
        raise ValueError(f"invalid realtime event name: {event!r}")


def parse_event_id(raw: str | None) -> int | None:
    """A Last-Event-ID as an integer, or None when absent or not one of ours."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


class LocalSubscriber:
    """One consumer's bounded queue on one event loop. `offer` runs on that loop only."""

    __slots__ = ("dropped", "last_offered", "loop", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop, queue_size: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=queue_size)
        self.dropped = False
        self.last_offered = 0

    def offer(self, event: Event) -> None:
        if self.dropped or event.seq <= self.last_offered:
            return
        self.last_offered = event.seq
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Dropping the whole subscriber (not single events) keeps the no-gap promise: the
            # client reconnects with its last id and the buffer fills the hole.
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class Broker(Protocol):
    """What a broker does (`memory.InProcessBroker`, `redis_broker.RedisBroker`); a
    `Subscription` drives `attach` and `detach`, nothing else should."""

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> str: ...

    async def attach(
        self, channel: str, subscriber: LocalSubscriber, last_event_id: int | None
    ) -> tuple[list[Event], int]:
        """Register `subscriber` for live events, then return (replay, dedupe floor)."""
        ...

    async def detach(self, channel: str, subscriber: LocalSubscriber) -> None: ...

    def local_subscriber_count(self, channel: str) -> int: ...

    def redact(self, channel: str, rewrite: Rewrite) -> int:
        """Rewrite buffered events in place (same ids); returns how many changed."""
        ...


# Given a buffered event's name and data, the data to keep instead, or None to leave it.
Rewrite = Callable[[str, dict[str, Any]], dict[str, Any] | None]


class Subscription:
    """Buffered-then-live events of one channel; an async iterator and async context manager.

    Iteration ends when the subscriber is dropped for falling behind (`dropped` is then True).
    Always close it (`async with`, or `aclose()`), or its queue stays registered.
    """

    def __init__(self, broker: Broker, channel: str, last_event_id: str | None) -> None:
        check_names(channel)
        self.channel = channel
        self.dropped = False
        self._broker = broker
        self._last_event_id = parse_event_id(last_event_id)
        self._subscriber: LocalSubscriber | None = None
        self._replay: deque[Event] = deque()
        self._floor = 0
        self._closed = False

    async def start(self) -> None:
        """Register for live events and load the replay; idempotent."""
        if self._subscriber is not None:
            return
        if self._closed:
            raise RuntimeError("subscription is closed")
        subscriber = LocalSubscriber(asyncio.get_running_loop(), SUBSCRIBER_QUEUE_SIZE)
        self._subscriber = subscriber
        try:
            replay, floor = await self._broker.attach(self.channel, subscriber, self._last_event_id)
        except BaseException:
            self._subscriber = None
            with contextlib.suppress(Exception):
                await self._broker.detach(self.channel, subscriber)
            raise
        self._replay.extend(replay)
        self._floor = floor

    async def receive(self, timeout: float | None = None) -> Event | None:
        """The next event, or None if none arrived within `timeout` seconds.

        Raises SubscriberDropped once the subscriber has been dropped for falling behind.
        """
        await self.start()
        while True:
            event = self._next_nowait()
            if event is not None:
                return event
            assert self._subscriber is not None
            try:
                async with asyncio.timeout(timeout):
                    item = await self._subscriber.queue.get()
            except TimeoutError:
                return None
            accepted = self._accept(item)
            if accepted is not None:
                return accepted

    def receive_nowait(self) -> Event | None:
        """The next event if one is already waiting (no await), else None."""
        return self._next_nowait()

    def _next_nowait(self) -> Event | None:
        if self._replay:
            event = self._replay.popleft()
            self._floor = event.seq
            return event
        subscriber = self._subscriber
        while subscriber is not None and not subscriber.queue.empty():
            accepted = self._accept(subscriber.queue.get_nowait())
            if accepted is not None:
                return accepted
        return None

    def _accept(self, item: Event | None) -> Event | None:
        if item is None:
            self.dropped = True
            raise SubscriberDropped(self.channel)
        if item.seq <= self._floor:
            return None  # already replayed (the buffer read overlapped the live stream)
        self._floor = item.seq
        return item

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            await self._broker.detach(self.channel, subscriber)

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            event = await self.receive()
        except SubscriberDropped:
            raise StopAsyncIteration from None
        assert event is not None
        return event


def replay_from(
    buffer: list[Event], current_seq: int, last_event_id: int | None
) -> tuple[list[Event], int]:
    """Events the client has not seen, and the id below which live events are duplicates."""
    if last_event_id is None:
        return [], current_seq
    if last_event_id > current_seq:
        # The counter restarted since the client's last event: everything buffered is new.
        return buffer, 0
    replay = [event for event in buffer if event.seq > last_event_id]
    return replay, last_event_id
