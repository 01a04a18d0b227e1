"""Shared test set-up: test settings, no outbound network, fresh per-test caches."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_real_connect = socket.socket.connect


def _is_local(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # unix sockets (PostgreSQL's local socket)
    host = address[0]
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise OSError(f"outbound network is blocked in tests (tried {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _block_outbound_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    from freshloop.core import crypto, ratelimit
    from freshloop.orders.services import shipping_rules_forget

    crypto.key_ring.cache_clear()
    ratelimit.default_backend.cache_clear()
    shipping_rules_forget()
    yield
    crypto.key_ring.cache_clear()
    ratelimit.default_backend.cache_clear()
    shipping_rules_forget()


@pytest.fixture
def redis_url() -> str:
    """The real Redis the machine runs (database 15 is kept for tests and flushed)."""
    import redis

    url = _per_worker_database(
        os.environ.get("FRESHLOOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    client = redis.Redis.from_url(url)
    client.flushdb()
    return url


def _per_worker_database(url: str) -> str:
    """pytest-xdist workers (gw0, gw1, ...) each flush their own Redis database: the one the
    URL names for gw0, the next lower ones for the others."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = int(worker.removeprefix("gw") or 0)
    base, _, database = url.rpartition("/")
    if not database.isdigit() or int(database) < offset:
        raise pytest.UsageError(f"FRESHLOOP_TEST_REDIS_URL must end in a database >= {offset}")
    return f"{base}/{int(database) - offset}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, and tests that start their own loop must come first."""
    items.sort(key=lambda item: "tests/e2e/" in str(item.fspath))


@pytest.fixture(scope="session", autouse=True)
def _remove_demo_keys_file() -> Iterator[None]:
    """The demo seed writes its write keys to a per-test-process file; a run leaves none behind."""
    from django.conf import settings

    yield
    with contextlib.suppress(FileNotFoundError):
        os.remove(settings.DATAHUB_DEMO_KEYS_FILE)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Uploaded pictures go to a per-run temporary folder, never into the checkout's data/."""
    settings.MEDIA_ROOT = tmp_path_factory.getbasetemp() / "media"
