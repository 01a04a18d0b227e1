"""Huey jobs of the messaging module."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.messaging.services import marketing_held_release, wecom_confirmations_poll


@db_periodic_task(crontab(minute="*"), name="messaging.release_held")
def release_held_marketing() -> None:
    # Every minute: a send held to 08:00 leaves within a minute of it, through the same
    # policy (consent and caps are checked again at release).
    # A mass message held overnight releases thousands at once: drain them in batches.
    for _ in range(200):
        if marketing_held_release(batch_size=500).due < 500:
            break


@db_periodic_task(crontab(minute="*/10"), name="messaging.wecom_confirmations")
def poll_wecom_confirmations() -> None:
    # Every ten minutes: which WeCom sends the staff confirmed (sent), which WeCom refused
    # (not a contact any more, its per-customer limit) and which nobody confirmed in time.
    wecom_confirmations_poll()
