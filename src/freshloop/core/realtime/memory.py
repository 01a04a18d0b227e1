"""The in-process broker: fan-out inside one process (the embedded default, no Redis).

A per-channel counter and ring buffer under a lock; publisher threads hand each event to every
event loop that has subscribers with one `call_soon_threadsafe` per loop (not per subscriber),
and the loop fans it out to the subscribers' bounded queues.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from typing import Any

from freshloop.core import clock
from freshloop.core.realtime.subscription import (
    BUFFER_SIZE,
    BUFFER_TTL_SECONDS,
    Event,
    LocalSubscriber,
    Rewrite,
    check_names,
    encode_data,
    replay_from,
)


class _LocalChannel:
    __slots__ = ("buffer", "last_publish", "seq", "subscribers")

    def __init__(self, buffer_size: int) -> None:
        self.seq = 0
        self.buffer: deque[Event] = deque(maxlen=buffer_size)
        self.subscribers: dict[asyncio.AbstractEventLoop, set[LocalSubscriber]] = {}
        self.last_publish = time.monotonic()


def _fan_out(subscribers: tuple[LocalSubscriber, ...], event: Event) -> None:
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
        check_names(channel, event)
        data_json = encode_data(data)
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

    async def attach(
        self, channel: str, subscriber: LocalSubscriber, last_event_id: int | None
    ) -> tuple[list[Event], int]:
        with self._lock:
            state = self._channels.get(channel)
            if state is None:
                state = self._channels[channel] = _LocalChannel(self._buffer_size)
            state.subscribers.setdefault(subscriber.loop, set()).add(subscriber)
            return replay_from(list(state.buffer), state.seq, last_event_id)

    async def detach(self, channel: str, subscriber: LocalSubscriber) -> None:
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

    def redact(self, channel: str, rewrite: Rewrite) -> int:
        changed = 0
        with self._lock:
            state = self._channels.get(channel)
            if state is None:
                return 0
            for index, item in enumerate(state.buffer):
                data = rewrite(item.event, dict(item.data))
                if data is None or data == item.data:
                    continue
                state.buffer[index] = Event(
                    item.id, item.event, data, item.published_at, encode_data(data)
                )
                changed += 1
        return changed

    def buffered(self, channel: str) -> list[Event]:
        with self._lock:
            state = self._channels.get(channel)
            return list(state.buffer) if state else []
