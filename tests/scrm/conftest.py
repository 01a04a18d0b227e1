"""SCRM test set-up: every test starts with an empty WeCom sandbox (its directory lives in the
cache)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def sandbox_directory() -> Iterator[None]:
    cache.clear()  # the WeCom sandbox keeps its directory in the cache
    yield
    cache.clear()
