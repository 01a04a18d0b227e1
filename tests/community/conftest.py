from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def sandbox_directory() -> Iterator[None]:
    cache.clear()  # the WeCom sandbox keeps its directory in the cache
    yield
    cache.clear()
