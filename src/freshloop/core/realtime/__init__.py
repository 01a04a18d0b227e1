"""Real-time channels: publish from any thread, stream to browsers over server-sent events.

Any module may push to the pages that watch one of its things (the live room, a group deal, a
community thread) without importing the others: name the channel with `channel_name`, publish
with `publish_on_commit` from a write, serve it with `sse.sse_response` (or an ASGI
`sse.EventStreamRoute`).

    channel = realtime.channel_name("live", session.code)      # "live:<code>"
    realtime.publish_on_commit(channel, "comment", {"text": "..."})
    return sse.sse_response(request, channel)                  # in an async view

Two brokers share one contract, chosen by `settings.FRESHLOOP.redis_url`: the in-process one
(`memory`, one process, no Redis) and the Redis one (`redis_broker`, many processes). Ids,
replay after Last-Event-ID and slow subscribers behave the same in both (see `subscription`).

A push is best effort: it never fails a request whose write has committed. A page that missed
an event because the broker was down sees the state it changed the next time it reads it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from freshloop.core.realtime.memory import InProcessBroker
from freshloop.core.realtime.redis_broker import RedisBroker
from freshloop.core.realtime.subscription import (
    BUFFER_SIZE,
    Broker,
    Event,
    RealtimeUnavailable,
    Rewrite,
    SubscriberDropped,
    Subscription,
    channel_name,
    check_names,
    encode_data,
    parse_event_id,
)

logger = logging.getLogger(__name__)

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

    Raises redis.RedisError when Redis is configured and unreachable: a write calls
    `publish_on_commit` instead, so a push failure never fails it.
    """
    return get_broker().publish(channel, event, data)


def publish_on_commit(channel: str, event: str, data: dict[str, Any]) -> None:
    """Publish once the current transaction commits (at once outside one), best effort.

    The names and the data are checked now, so a programming error fails the write and its
    tests instead of a log line after commit. A broker that does not answer is logged and
    the event dropped: the write has committed, and a request must not answer 500 for a
    push (the pages read the state again when they reload).
    """
    check_names(channel, event)
    encode_data(data)

    def send() -> None:
        try:
            publish(channel, event, data)
        except (redis.RedisError, OSError) as error:
            logger.warning(
                "realtime: %s on %s not pushed, the broker did not answer (%s)",
                event,
                channel,
                error,
            )

    # robust: anything else a broker raises is logged with its traceback, not raised either.
    transaction.on_commit(send, robust=True)


def redact(channel: str, rewrite: Rewrite) -> int:
    """Rewrite what the channel's replay buffer still carries (e.g. an erased person's
    comments, PIPL): each buffered event's data passes through `rewrite`, which returns the
    data to keep instead, or None (or the same data) to leave the event as it is. Ids stay, so replay after
    Last-Event-ID is unchanged. Raises redis.RedisError when Redis is configured and down
    (a durable caller is retried). Returns how many events changed."""
    return get_broker().redact(channel, rewrite)


def subscribe(channel: str, *, last_event_id: str | None = None) -> Subscription:
    """Events of `channel`: the buffered ones after `last_event_id`, then live ones."""
    return Subscription(get_broker(), channel, last_event_id)


def local_subscriber_count(channel: str) -> int:
    """Subscribers of `channel` connected to this process (not a cross-process count)."""
    return get_broker().local_subscriber_count(channel)


def reset_for_tests() -> None:
    """Forget every broker (in-process buffers and counters); tests only."""
    with _brokers_lock:
        _brokers.clear()


__all__ = [
    "BUFFER_SIZE",
    "Broker",
    "Event",
    "InProcessBroker",
    "RealtimeUnavailable",
    "RedisBroker",
    "Rewrite",
    "SubscriberDropped",
    "Subscription",
    "channel_name",
    "get_broker",
    "local_subscriber_count",
    "parse_event_id",
    "publish",
    "publish_on_commit",
    "redact",
    "subscribe",
]
