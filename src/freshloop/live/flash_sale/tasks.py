"""Flash-sale jobs: reconciliation (closes sales past their end, repairs claims whose order
event was missed, and in Redis mode rolls back reservations a dead process left behind)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.live.flash_sale.claims import flash_sale_reconcile


@db_periodic_task(crontab(minute="*"), name="live.flash_reconcile")
def flash_reconcile() -> None:
    flash_sale_reconcile()
