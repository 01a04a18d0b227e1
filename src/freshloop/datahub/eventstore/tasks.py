"""Event store jobs: flush the event buffer (safety net for the in-process flusher and the
flusher process), prune it, and apply OneID merges the store missed."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.datahub.eventstore.services import (
    ReconcileReport,
    buffer_flush_all,
    buffer_prune,
    person_map_reconcile,
)


@db_periodic_task(crontab(minute="*"), name="datahub.flush")
def flush() -> None:
    buffer_flush_all()


# huey schedules in UTC: 19:17 UTC is 03:17 in Shanghai, the quietest hour.
@db_periodic_task(crontab(minute="17", hour="19"), name="datahub.buffer_prune")
def prune() -> None:
    buffer_prune()


# huey schedules in UTC: 18:20 UTC is 02:20 Asia/Shanghai, before the nightly tags, so they
# count a merge the recording missed.
@db_periodic_task(crontab(minute="20", hour="18"), name="datahub.person_map_reconcile")
def person_map_reconcile_job() -> ReconcileReport:
    return person_map_reconcile()
