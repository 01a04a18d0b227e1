"""The Redis broker: fan-out across processes.

A Lua script takes the next id (INCR), stores the event in a capped sorted set (score = id,
TTL) and PUBLISHes it, atomically, so ids and delivery order agree across every process. Each
process holds ONE pub/sub connection per event loop, shared by all its local subscribers of all
channels, and fans out locally.

A pub/sub outage is survived: the listener reconnects with backoff and, once resubscribed,
reads what it missed from the buffer before handing on live events.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import threading
import uuid
from typing import Any, cast

import redis
import redis.asyncio as aioredis

from freshloop.core import clock
from freshloop.core.realtime.subscription import (
    BUFFER_SIZE,
    BUFFER_TTL_SECONDS,
    Event,
    LocalSubscriber,
    RealtimeUnavailable,
    Rewrite,
    check_names,
    encode_data,
    replay_from,
)

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 10.0
"""How long a new subscriber waits for Redis to confirm its subscription."""
_KEY_PREFIX = "freshloop:rt:"

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
        encode_data(data),
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
        check_names(channel, event)
        body = json.dumps({"event": event, "at": clock.now().timestamp()}, separators=(",", ":"))
        # {"event":..,"at":..} + "data" spliced in; the script prepends {"id":N,
        body = f'{body[1:-1]},"data":{encode_data(data)}}}'
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

    async def attach(
        self, channel: str, subscriber: LocalSubscriber, last_event_id: int | None
    ) -> tuple[list[Event], int]:
        listener = self._listener()
        await listener.add(channel, subscriber)
        # Subscribed (Redis confirmed) before the buffer is read: nothing falls in between.
        return await listener.replay(channel, last_event_id)

    async def detach(self, channel: str, subscriber: LocalSubscriber) -> None:
        with self._listeners_lock:
            listener = self._listeners.get(subscriber.loop)
        if listener is not None:
            await listener.remove(channel, subscriber)

    def local_subscriber_count(self, channel: str) -> int:
        with self._listeners_lock:
            listeners = list(self._listeners.values())
        return sum(listener.count(channel) for listener in listeners)

    def redact(self, channel: str, rewrite: Rewrite) -> int:
        """Replace buffered payloads whose data `rewrite` changes, keeping their ids (scores),
        atomically against concurrent publishes (WATCH; retried when one lands meanwhile)."""
        key = _buffer_key(channel)
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    ttl = int(pipe.ttl(key))
                    replaced: list[tuple[bytes, int, str]] = []
                    for raw in cast(list[bytes], pipe.zrange(key, 0, -1)):
                        payload = json.loads(raw)
                        data = rewrite(payload["event"], dict(payload["data"]))
                        if data is not None and data != payload["data"]:
                            new = json.dumps({**payload, "data": data}, separators=(",", ":"))
                            replaced.append((raw, int(payload["id"]), new))
                    if not replaced:
                        pipe.unwatch()
                        return 0
                    pipe.multi()
                    for raw, event_id, new in replaced:
                        pipe.zrem(key, raw)
                        pipe.zadd(key, {new: event_id})
                    if ttl > 0:
                        pipe.expire(key, ttl)
                    pipe.execute()
                    return len(replaced)
                except redis.WatchError:
                    continue

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
        self._channels: dict[str, set[LocalSubscriber]] = {}
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
                self._run(), name="freshloop.core.realtime.redis-listener"
            )

    async def add(self, channel: str, subscriber: LocalSubscriber) -> None:
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

    async def remove(self, channel: str, subscriber: LocalSubscriber) -> None:
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
        return replay_from(buffer, int(raw_seq or 0), last_event_id)

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
