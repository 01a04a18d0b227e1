"""SCRM jobs: the journey runner."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.scrm.journeys import journeys_run_due


@db_periodic_task(crontab(minute="*"), name="scrm.journeys_run")
def journeys_run() -> None:
    """Run every journey step that is due (waits elapsed, new enrolments), in batches."""
    while journeys_run_due().enrollments:
        pass
