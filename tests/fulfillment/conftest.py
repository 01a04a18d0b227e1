"""Shared set-up for the fulfillment tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], AbstractContextManager[Any]]:
    """`with committed():` runs what the block queued for after commit (events, durable
    handlers), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
