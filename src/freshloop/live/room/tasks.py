"""Live room jobs: reservation reminders and carts left unpaid."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.live.room.carts import carts_abandon_due
from freshloop.live.room.services import live_reminders_send


@db_periodic_task(crontab(minute="*"), name="live.reminders")
def reminders() -> None:
    """Text everyone who reserved a session starting within 10 minutes (once each)."""
    live_reminders_send()


@db_periodic_task(crontab(minute="*"), name="live.carts_abandon")
def carts_abandon() -> None:
    """Announce carts left unpaid past FRESHLOOP_LIVE_CART_ABANDON_MINUTES (LV-5)."""
    carts_abandon_due()
