"""Data hub jobs: flush the event buffer (safety net for the in-process flusher), prune it,
recompute every tag nightly and re-materialise saved segments."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.datahub.flush import buffer_flush_all, buffer_prune


@db_periodic_task(crontab(minute="*"), name="datahub.flush")
def flush() -> None:
    buffer_flush_all()


@db_periodic_task(crontab(minute="17", hour="3"), name="datahub.buffer_prune")
def prune() -> None:
    buffer_prune()
