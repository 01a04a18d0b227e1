"""Live room jobs: reservation reminders and flash-sale reconciliation (closes sales past their end, repairs claims whose
order event was missed, and in Redis mode rolls back reservations a dead process left behind)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.live.flash_sale import flash_sale_reconcile
from freshloop.live.services import live_reminders_send


@db_periodic_task(crontab(minute="*"), name="live.flash_reconcile")
def flash_reconcile() -> None:
    flash_sale_reconcile()


@db_periodic_task(crontab(minute="*"), name="live.reminders")
def reminders() -> None:
    """Text everyone who reserved a session starting within 10 minutes (once each)."""
    live_reminders_send()
