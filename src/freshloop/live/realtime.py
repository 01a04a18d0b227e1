"""Real-time fan-out for the live room: publish from any thread, stream to browsers over SSE.

Two brokers share one contract, chosen by `settings.FRESHLOOP.redis_url`:

- in-process (no Redis): one process, a per-channel counter and ring buffer under a lock;
  publisher threads hand each event to every event loop that has subscribers with one
  `call_soon_threadsafe` per loop (not per subscriber), and the loop fans it out to bounded
  queues;
- Redis: a Lua script takes the next id (INCR), stores the event in a capped sorted set
  (score = id, TTL) and PUBLISHes it, atomically, so ids and delivery order agree across every
  process. Each process holds ONE pub/sub connection per event loop, shared by all its local
  subscribers of all channels, and fans out locally.

Invariants:
- Event ids are decimal integers, strictly increasing per channel. A subscriber never gets an
  id twice and never gets ids out of order.
- `subscribe(last_event_id=N)` replays the buffered events with id > N, then live ones. A
  subscriber is registered for live events before the buffer is read, so nothing published
  in between is lost. If N is ahead of the channel's counter, the counter was reset (process
  restart without Redis, or the Redis keys expired), so the whole buffer is new to the client
  and is replayed.
- A slow subscriber never blocks a publisher or the other subscribers: its queue is bounded,
  and on overflow the subscriber is dropped (its stream ends). The browser's EventSource
  reconnects with Last-Event-ID and gets the missed events from the buffer.
- A Redis pub/sub outage is survived: the listener reconnects with backoff and, once
  resubscribed, reads what it missed from the buffer before handing on live events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any, Protocol, cast

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpRequest, StreamingHttpResponse

from freshloop.core import clock

logger = logging.getLogger(__name__)

BUFFER_SIZE = 500
"""Events kept per channel for replay after a reconnect."""
BUFFER_TTL_SECONDS = 24 * 3600
"""A channel nobody published to for this long forgets its buffer (and, in Redis, its counter)."""
SUBSCRIBER_QUEUE_SIZE = 1000
"""Events a subscriber may fall behind by before it is dropped (20 s of comments at 50/s)."""
SUBSCRIBE_TIMEOUT_SECONDS = 10.0
"""How long a new subscriber waits for Redis to confirm its subscription."""
RETRY_MILLISECONDS = 3000
HEARTBEAT_SECONDS = 15.0
MAX_FRAMES_PER_CHUNK = 64
"""Events already queued are written in one chunk (one socket write) up to this many."""

_CHANNEL_RE = re.compile(r"^[A-Za-z0-9:_.\-]{1,128}$")
_EVENT_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_KEY_PREFIX = "freshloop:rt:"


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


def _encode_data(data: dict[str, Any]) -> str:
    if not isinstance(data, dict):
        raise TypeError("realtime event data must be a dict")
    return json.dumps(data, ensure_ascii=False, cls=DjangoJSONEncoder, separators=(",", ":"))


def _check_names(channel: str, event: str | None = None) -> None:
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


class _LocalSubscriber:
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
    def publish(self, channel: str, event: str, data: dict[str, Any]) -> str: ...

    async def _attach(
        self, channel: str, subscriber: _LocalSubscriber, last_event_id: int | None
    ) -> tuple[list[Event], int]:
        """Register `subscriber` for live events, then return (replay, dedupe floor)."""
        ...

    async def _detach(self, channel: str, subscriber: _LocalSubscriber) -> None: ...

    def local_subscriber_count(self, channel: str) -> int: ...


class Subscription:
    """Buffered-then-live events of one channel; an async iterator and async context manager.

    Iteration ends when the subscriber is dropped for falling behind (`dropped` is then True).
    Always close it (`async with`, or `aclose()`), or its queue stays registered.
    """

    def __init__(self, broker: Broker, channel: str, last_event_id: str | None) -> None:
        _check_names(channel)
        self.channel = channel
        self.dropped = False
        self._broker = broker
        self._last_event_id = parse_event_id(last_event_id)
        self._subscriber: _LocalSubscriber | None = None
        self._replay: deque[Event] = deque()
        self._floor = 0
        self._closed = False

    async def start(self) -> None:
        """Register for live events and load the replay; idempotent."""
        if self._subscriber is not None:
            return
        if self._closed:
            raise RuntimeError("subscription is closed")
        subscriber = _LocalSubscriber(asyncio.get_running_loop(), SUBSCRIBER_QUEUE_SIZE)
        self._subscriber = subscriber
        try:
            replay, floor = await self._broker._attach(
                self.channel, subscriber, self._last_event_id
            )
        except BaseException:
            self._subscriber = None
            with contextlib.suppress(Exception):
                await self._broker._detach(self.channel, subscriber)
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
            await self._broker._detach(self.channel, subscriber)

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


# --- in-process broker -------------------------------------------------------------------------


class _LocalChannel:
    __slots__ = ("buffer", "last_publish", "seq", "subscribers")

    def __init__(self, buffer_size: int) -> None:
        self.seq = 0
        self.buffer: deque[Event] = deque(maxlen=buffer_size)
        self.subscribers: dict[asyncio.AbstractEventLoop, set[_LocalSubscriber]] = {}
        self.last_publish = time.monotonic()


def _fan_out(subscribers: tuple[_LocalSubscriber, ...], event: Event) -> None:
    for subscriber in subscribers:
        subscriber.offer(event)


class InProcessBroker:
    """Fan-out inside one process (the embedded default: one uvicorn worker, no Redis).

    Publishers on other processes (a huey consumer, a management command) cannot reach these
    subscribers; run with Redis when more than one process publishes or serves SSE.
    """

    def __init__(
        self, *, buffer_size: int = BUFFER_SIZE, ttl_seconds: int = BUFFER_TTL_SECONDS
    ) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, _LocalChannel] = {}
        self._buffer_size = buffer_size
        self._ttl = ttl_seconds
        self._last_sweep = time.monotonic()

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> str:
        _check_names(channel, event)
        data_json = _encode_data(data)
        # The subscriber sees what a Redis subscriber would: the JSON round trip, not the
        # caller's (mutable) objects.
        payload = json.loads(data_json)
        with self._lock:
            state = self._channels.get(channel)
            if state is None:
                state = self._channels[channel] = _LocalChannel(self._buffer_size)
            state.seq += 1
            state.last_publish = time.monotonic()
            item = Event(str(state.seq), event, payload, clock.now(), data_json)
            state.buffer.append(item)
            # Scheduled under the lock, so two publisher threads' events reach every loop in
            # id order (call_soon_threadsafe callbacks run FIFO).
            for loop, subscribers in list(state.subscribers.items()):
                try:
                    loop.call_soon_threadsafe(_fan_out, tuple(subscribers), item)
                except RuntimeError:  # the loop was closed under its subscribers
                    del state.subscribers[loop]
            self._sweep_locked()
        return item.id

    def _sweep_locked(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        for name, state in list(self._channels.items()):
            if not state.subscribers and now - state.last_publish > self._ttl:
                del self._channels[name]

    async def _attach(
        self, channel: str, subscriber: _LocalSubscriber, last_event_id: int | None
    ) -> tuple[list[Event], int]:
        with self._lock:
            state = self._channels.get(channel)
            if state is None:
                state = self._channels[channel] = _LocalChannel(self._buffer_size)
            state.subscribers.setdefault(subscriber.loop, set()).add(subscriber)
            return _replay_from(list(state.buffer), state.seq, last_event_id)

    async def _detach(self, channel: str, subscriber: _LocalSubscriber) -> None:
        with self._lock:
            state = self._channels.get(channel)
            if state is None:
                return
            on_loop = state.subscribers.get(subscriber.loop)
            if on_loop is not None:
                on_loop.discard(subscriber)
                if not on_loop:
                    del state.subscribers[subscriber.loop]

    def local_subscriber_count(self, channel: str) -> int:
        with self._lock:
            state = self._channels.get(channel)
            return sum(len(s) for s in state.subscribers.values()) if state else 0

    def buffered(self, channel: str) -> list[Event]:
        with self._lock:
            state = self._channels.get(channel)
            return list(state.buffer) if state else []


def _replay_from(
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


# --- Redis broker ------------------------------------------------------------------------------

# KEYS: seq counter, buffer (sorted set), pub/sub channel. ARGV: the event JSON without its
# opening brace and id, buffer size, TTL. One script = one atomic step, so the order of ids,
# buffer and PUBLISH is the same for every publisher process.
_PUBLISH_LUA = """
local id = redis.call('INCR', KEYS[1])
local payload = '{"id":' .. id .. ',' .. ARGV[1]
redis.call('ZADD', KEYS[2], id, payload)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], payload)
return id
"""


def _seq_key(channel: str) -> str:
    return f"{_KEY_PREFIX}{channel}:seq"


def _buffer_key(channel: str) -> str:
    return f"{_KEY_PREFIX}{channel}:buf"


def _pubsub_channel(channel: str) -> str:
    return f"{_KEY_PREFIX}{channel}"


def _decode_payload(raw: bytes | str) -> Event:
    payload = json.loads(raw)
    data = payload["data"]
    return Event(
        str(payload["id"]),
        payload["event"],
        data,
        dt.datetime.fromtimestamp(payload["at"], dt.UTC),
        _encode_data(data),
    )


class RedisBroker:
    """Fan-out across processes through Redis; one pub/sub connection per process and loop."""

    def __init__(
        self,
        url: str,
        *,
        buffer_size: int = BUFFER_SIZE,
        ttl_seconds: int = BUFFER_TTL_SECONDS,
    ) -> None:
        self.url = url
        self._buffer_size = buffer_size
        self._ttl = ttl_seconds
        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(_PUBLISH_LUA)
        self._listeners: dict[asyncio.AbstractEventLoop, _RedisListener] = {}
        self._listeners_lock = threading.Lock()

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> str:
        _check_names(channel, event)
        body = json.dumps({"event": event, "at": clock.now().timestamp()}, separators=(",", ":"))
        # {"event":..,"at":..} + "data" spliced in; the script prepends {"id":N,
        body = f'{body[1:-1]},"data":{_encode_data(data)}}}'
        event_id = self._script(
            keys=[_seq_key(channel), _buffer_key(channel), _pubsub_channel(channel)],
            args=[body, self._buffer_size, self._ttl],
        )
        return str(int(event_id))

    def _listener(self) -> _RedisListener:
        loop = asyncio.get_running_loop()
        with self._listeners_lock:
            for stale in [known for known in self._listeners if known.is_closed()]:
                del self._listeners[stale]
            listener = self._listeners.get(loop)
            if listener is None:
                listener = self._listeners[loop] = _RedisListener(self.url)
            return listener

    async def _attach(
        self, channel: str, subscriber: _LocalSubscriber, last_event_id: int | None
    ) -> tuple[list[Event], int]:
        listener = self._listener()
        await listener.add(channel, subscriber)
        # Subscribed (Redis confirmed) before the buffer is read: nothing falls in between.
        return await listener.replay(channel, last_event_id)

    async def _detach(self, channel: str, subscriber: _LocalSubscriber) -> None:
        with self._listeners_lock:
            listener = self._listeners.get(subscriber.loop)
        if listener is not None:
            await listener.remove(channel, subscriber)

    def local_subscriber_count(self, channel: str) -> int:
        with self._listeners_lock:
            listeners = list(self._listeners.values())
        return sum(listener.count(channel) for listener in listeners)

    def buffered(self, channel: str) -> list[Event]:
        raw_buffer = cast(list[bytes], self._client.zrange(_buffer_key(channel), 0, -1))
        return [_decode_payload(raw) for raw in raw_buffer]


class _RedisListener:
    """The one pub/sub connection of an event loop, and the local fan-out of what it hears.

    Runs on its loop only (no locks needed besides asyncio's own). A private control channel
    keeps the connection subscribed at all times, so blocking reads are always valid, and its
    subscribe confirmation marks every (re)connection: after each one, every channel catches
    up from the buffer what was published while the connection was down.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._control = f"{_KEY_PREFIX}_control:{uuid.uuid4().hex}"
        self._channels: dict[str, set[_LocalSubscriber]] = {}
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._connected = False
        self._task: asyncio.Task[None] | None = None
        # Replay reads share a small pool: 5,000 viewers connecting at once queue for one of
        # a few connections instead of opening 5,000.
        self._reader = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                url, max_connections=8, timeout=SUBSCRIBE_TIMEOUT_SECONDS
            )
        )

    def count(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="freshloop.live.realtime.redis-listener"
            )

    async def add(self, channel: str, subscriber: _LocalSubscriber) -> None:
        self._ensure_running()
        subscribers = self._channels.setdefault(channel, set())
        subscribers.add(subscriber)
        if channel in self._confirmed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(channel, [])
        waiters.append(waiter)
        if len(waiters) == 1:
            # Later waiters ride on this SUBSCRIBE (or on the reconnect's, if it is lost).
            await self._send_subscribe(channel)
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await waiter
        except TimeoutError:
            raise RealtimeUnavailable(channel) from None
        finally:
            waiters = self._waiters.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)

    async def _send_subscribe(self, channel: str) -> None:
        pubsub = self._pubsub
        if pubsub is None or not self._connected:
            return  # the (re)connect subscribes every known channel
        try:
            await pubsub.subscribe(_pubsub_channel(channel))
        except (redis.RedisError, OSError):
            logger.warning("realtime: subscribe to %s failed; retried on reconnect", channel)

    async def remove(self, channel: str, subscriber: _LocalSubscriber) -> None:
        subscribers = self._channels.get(channel)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if subscribers:
            return
        del self._channels[channel]
        self._confirmed.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None and self._connected:
            # A dead connection holds no subscription, and the reconnect skips this channel.
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.unsubscribe(_pubsub_channel(channel))

    async def replay(self, channel: str, last_event_id: int | None) -> tuple[list[Event], int]:
        try:
            async with self._reader.pipeline(transaction=True) as pipe:
                pipe.get(_seq_key(channel))
                pipe.zrange(_buffer_key(channel), 0, -1)
                raw_seq, raw_buffer = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise RealtimeUnavailable(channel) from exc
        buffer = [_decode_payload(cast(bytes, raw)) for raw in raw_buffer]
        return _replay_from(buffer, int(raw_seq or 0), last_event_id)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            client = aioredis.Redis.from_url(
                self._url, health_check_interval=15, client_name="freshloop-realtime"
            )
            pubsub = client.pubsub()
            try:
                initial = set(self._channels)
                await pubsub.subscribe(self._control, *map(_pubsub_channel, initial))
                self._pubsub = pubsub
                self._connected = True
                # Channels first asked for while the SUBSCRIBE above was on its way.
                missing = set(self._channels) - initial
                if missing:
                    await pubsub.subscribe(*map(_pubsub_channel, missing))
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None:
                        delay = 0.1
                        await self._handle(message)
            except asyncio.CancelledError:
                # The loop is shutting down: its replay connections go with it.
                with contextlib.suppress(Exception):
                    await self._reader.aclose(close_connection_pool=True)
                raise
            except (redis.RedisError, OSError) as exc:
                logger.warning(
                    "realtime: Redis pub/sub lost (%s); reconnecting in %.1fs", exc, delay
                )
            finally:
                self._connected = False
                self._pubsub = None
                self._confirmed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        raw_channel = message["channel"]
        name = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        if kind == "subscribe":
            if name == self._control:
                # Every channel of this connection was subscribed by the same command, so the
                # buffer read here covers everything published before the subscriptions took.
                await self._catch_up_all()
                return
            channel = name.removeprefix(_KEY_PREFIX)
            self._confirmed.add(channel)
            for waiter in self._waiters.pop(channel, []):
                if not waiter.done():
                    waiter.set_result(None)
            return
        if kind != "message":
            return
        channel = name.removeprefix(_KEY_PREFIX)
        self._dispatch(channel, _decode_payload(cast(bytes, message["data"])))

    def _dispatch(self, channel: str, event: Event) -> None:
        # Each subscriber skips ids it already has, so a catch-up may overlap the live stream.
        for subscriber in tuple(self._channels.get(channel, ())):
            subscriber.offer(event)

    async def _catch_up_all(self) -> None:
        for channel, subscribers in list(self._channels.items()):
            if not subscribers:
                continue
            since = min(subscriber.last_offered for subscriber in subscribers)
            try:
                raw_buffer = await self._reader.zrangebyscore(
                    _buffer_key(channel), f"({since}", "+inf"
                )
            except (redis.RedisError, OSError):
                continue
            for raw in raw_buffer:
                self._dispatch(channel, _decode_payload(cast(bytes, raw)))


# --- the process's broker ----------------------------------------------------------------------

_brokers: dict[str, Broker] = {}
_brokers_lock = threading.Lock()


def get_broker() -> Broker:
    """The broker for the configured REDIS_URL (in-process when it is empty), one per process."""
    url = settings.FRESHLOOP.redis_url
    with _brokers_lock:
        broker = _brokers.get(url)
        if broker is None:
            broker = _brokers[url] = RedisBroker(url) if url else InProcessBroker()
        return broker


def publish(channel: str, event: str, data: dict[str, Any]) -> str:
    """Publish `event` with JSON `data` on `channel` and return its id. Sync; any thread.

    Raises redis.RedisError when Redis is configured and unreachable; call it after commit
    (or use `publish_on_commit`) so a push failure never undoes a write.
    """
    return get_broker().publish(channel, event, data)


def publish_on_commit(channel: str, event: str, data: dict[str, Any]) -> None:
    """Publish once the current transaction commits; a broker failure is logged, not raised."""
    transaction.on_commit(lambda: publish(channel, event, data), robust=True)


def subscribe(channel: str, *, last_event_id: str | None = None) -> Subscription:
    """Events of `channel`: the buffered ones after `last_event_id`, then live ones."""
    return Subscription(get_broker(), channel, last_event_id)


def local_subscriber_count(channel: str) -> int:
    """Subscribers of `channel` connected to this process (not a cross-process count)."""
    return get_broker().local_subscriber_count(channel)


# --- SSE ---------------------------------------------------------------------------------------


def _requested_last_event_id(request: HttpRequest, param: str) -> str | None:
    header = request.headers.get("Last-Event-ID")
    if header:
        return header
    return request.GET.get(param) or None


async def _sse_stream(
    subscription: Subscription, heartbeat_seconds: float
) -> AsyncGenerator[bytes, None]:
    """The body: never touches the ORM (it runs on the event loop, not in a sync thread)."""
    try:
        try:
            await subscription.start()
        except RealtimeUnavailable:
            yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
            return
        # Only once subscribed: a client that has read this line misses nothing after it.
        yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
        while True:
            try:
                event = await subscription.receive(timeout=heartbeat_seconds)
                if event is None:
                    yield b": keep-alive\n\n"
                    continue
                frames = [event.frame]
                while len(frames) < MAX_FRAMES_PER_CHUNK:
                    more = subscription.receive_nowait()
                    if more is None:
                        break
                    frames.append(more.frame)
            except SubscriberDropped:
                return  # the browser reconnects with Last-Event-ID and replays the gap
            yield b"".join(frames)
    finally:
        # Runs on client disconnect too: Django cancels the response task, and the
        # CancelledError unwinds through here.
        await subscription.aclose()


def sse_response(
    request: HttpRequest,
    channel: str,
    *,
    last_event_id_param: str = "last_event_id",
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> StreamingHttpResponse:
    """An async text/event-stream of `channel`, resuming after the client's Last-Event-ID.

    EventSource sends Last-Event-ID only on reconnects; a page that already has an id (from
    its initial render) passes it as the `last_event_id_param` query parameter. Serve it
    under ASGI (uvicorn): the body is an async generator that holds no thread.
    """
    subscription = subscribe(
        channel, last_event_id=_requested_last_event_id(request, last_event_id_param)
    )
    response = StreamingHttpResponse(
        _sse_stream(subscription, heartbeat_seconds), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def reset_for_tests() -> None:
    """Forget every broker (in-process buffers and counters); tests only."""
    with _brokers_lock:
        _brokers.clear()


__all__ = [
    "BUFFER_SIZE",
    "Event",
    "InProcessBroker",
    "RealtimeUnavailable",
    "RedisBroker",
    "SubscriberDropped",
    "Subscription",
    "get_broker",
    "local_subscriber_count",
    "parse_event_id",
    "publish",
    "publish_on_commit",
    "sse_response",
    "subscribe",
]
