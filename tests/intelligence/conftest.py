"""Intelligence test set-up: each test gets its own empty event store file, and a synthetic
brand (intelligence.synthetic) with a known truth can be loaded into it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from freshloop.datahub.eventstore.selectors import EventStore

# A Shanghai midnight (16:00 UTC), as the synthetic brand's clock expects.
NOW = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path, settings: object) -> EventStore:
    path = tmp_path / "events.duckdb"
    settings.DATAHUB_STORE_PATH = path  # type: ignore[attr-defined]
    return EventStore(path)
