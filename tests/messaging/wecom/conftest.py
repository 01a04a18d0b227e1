from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from freshloop.core.events import DomainEvent, subscribe, unsubscribe
from freshloop.messaging.events import WecomContactChanged, WecomGroupChatChanged


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    # The token, the sandbox directory and the callbacks' seen-marks all live in the cache.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def published() -> Iterator[list[DomainEvent]]:
    """The WeCom events published during the test, in order."""
    seen: list[DomainEvent] = []

    def record(event: DomainEvent) -> None:
        seen.append(event)

    subscribe(WecomContactChanged, in_transaction=True)(record)
    subscribe(WecomGroupChatChanged, in_transaction=True)(record)
    yield seen
    unsubscribe(WecomContactChanged, record)
    unsubscribe(WecomGroupChatChanged, record)
