"""Data hub test set-up: each test gets its own empty event store file."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshloop.datahub.eventstore.selectors import EventStore


@pytest.fixture
def store(tmp_path: Path, settings: object) -> EventStore:
    path = tmp_path / "events.duckdb"
    settings.DATAHUB_STORE_PATH = path  # type: ignore[attr-defined]
    return EventStore(path)
