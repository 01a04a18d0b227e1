"""Ask the worker for an allocation batch soon, best effort. The pending allocation row is the
durable part: `fulfillment.allocate_pending` (every minute) runs whatever a lost kick left, and
the batch runs under the job's lock, never beside another batch in a web request."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def allocation_kick(*, delay_seconds: int = 0) -> None:
    from freshloop.fulfillment.tasks import allocate_soon  # the task module imports services

    try:
        if delay_seconds:
            allocate_soon.schedule(delay=delay_seconds)
        else:
            allocate_soon()
    except Exception:  # noqa: BLE001 (the queue may be down; the periodic job still runs)
        logger.warning("allocation kick not queued; the per-minute job will run the batch")
