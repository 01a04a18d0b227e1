"""Live room jobs: reservation reminders."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.live.room.services import live_reminders_send


@db_periodic_task(crontab(minute="*"), name="live.reminders")
def reminders() -> None:
    """Text everyone who reserved a session starting within 10 minutes (once each)."""
    live_reminders_send()
