"""Retrying a whole transaction after a transient refusal (deadlock, SQLite busy)."""

from __future__ import annotations

import pytest
from django.db import OperationalError, transaction

from freshloop.core.db import is_transient, retry_transient


def flaky(failures: list[OperationalError]) -> object:
    calls: list[int] = []

    def run() -> int:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return len(calls)

    return run


@pytest.mark.django_db(transaction=True)
class TestRetryTransient:
    def test_locked_database_is_tried_again(self) -> None:
        run = flaky([OperationalError("database is locked"), OperationalError("deadlock detected")])
        assert retry_transient(run) == 3  # type: ignore[arg-type]

    def test_gives_up_after_the_last_attempt(self) -> None:
        run = flaky([OperationalError("database is locked")] * 5)
        with pytest.raises(OperationalError):
            retry_transient(run, attempts=3)  # type: ignore[arg-type]

    def test_other_errors_are_not_retried(self) -> None:
        run = flaky([OperationalError("no such table: x"), OperationalError("database is locked")])
        with pytest.raises(OperationalError, match="no such table"):
            retry_transient(run)  # type: ignore[arg-type]

    def test_inside_someone_elses_transaction_the_owner_decides(self) -> None:
        run = flaky([OperationalError("database is locked")])
        with pytest.raises(OperationalError), transaction.atomic():
            retry_transient(run)  # type: ignore[arg-type]


def test_transient_kinds() -> None:
    assert is_transient(OperationalError("database is locked"))
    assert not is_transient(OperationalError("disk I/O error"))
