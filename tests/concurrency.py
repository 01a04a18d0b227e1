"""The one concurrency harness of the test suite: start calls at the same instant, each on its
own thread and database connection, and collect what each answered.

Tests that use it need `@pytest.mark.django_db(transaction=True)`: every thread commits for
real, as two requests would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import connection, transaction

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one call answered: its value, or the exception it raised."""

    value: T | None = None
    error: BaseException | None = None

    @property
    def label(self) -> str:
        """The value as text, or the error's class name (for compact assertions)."""
        return type(self.error).__name__ if self.error is not None else str(self.value)


def run_at_once(
    calls: Sequence[Callable[[], T]], *, in_transaction: bool = False
) -> list[Outcome[T]]:
    """Run every call at the same instant (a barrier), each on its own connection; returns one
    outcome per call, in the order of `calls`. With `in_transaction`, each call runs inside its
    own transaction, as when it is one step of a caller's transaction (an order)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Outcome[T]] = [Outcome() for _ in calls]

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            barrier.wait()
            if in_transaction:
                with transaction.atomic():
                    value = call()
            else:
                value = call()
            outcomes[index] = Outcome(value=value)
        except Exception as error:  # noqa: BLE001 (handed to the test's assertions)
            outcomes[index] = Outcome(error=error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def errors_of(outcomes: Sequence[Outcome[T]]) -> list[BaseException]:
    return [outcome.error for outcome in outcomes if outcome.error is not None]


def values_of(outcomes: Sequence[Outcome[T]]) -> list[T]:
    return [outcome.value for outcome in outcomes if outcome.error is None]  # type: ignore[misc]
