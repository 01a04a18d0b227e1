"""Platform jobs: worker heartbeat, outbox relay and its stuck-work alert, rate-limit cleanup."""

from __future__ import annotations

import socket

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from freshloop.core import clock
from freshloop.core.effects import effects_purge_delivered, outbox_stuck_alert
from freshloop.core.models import WorkerHeartbeat
from freshloop.core.outbox import outbox_relay
from freshloop.core.ratelimit import rate_limit_purge_expired

WORKER_NAME = "huey"


def worker_heartbeat_touch(*, worker: str = WORKER_NAME) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker=worker, defaults={"seen_at": clock.now(), "hostname": socket.gethostname()}
    )


@db_periodic_task(crontab(minute="*"), name="core.heartbeat")
def heartbeat() -> None:
    worker_heartbeat_touch()


@db_periodic_task(crontab(minute="*"), name="core.outbox_relay")
def relay_outbox() -> None:
    # A one-minute tick is the floor for crontab; the relay drains up to 500 rows per tick,
    # and callers that need faster delivery enqueue `relay_outbox_now` after commit.
    outbox_relay(batch_size=500)


@db_task(name="core.outbox_relay_now")
def relay_outbox_now() -> None:
    outbox_relay(batch_size=100)


@db_periodic_task(crontab(minute="*/5"), name="core.outbox_stuck_alert")
def alert_stuck_outbox() -> None:
    outbox_stuck_alert()


@db_periodic_task(crontab(hour="4", minute="7"), name="core.effects_purge")
def purge_delivered_effects() -> None:
    effects_purge_delivered()


@db_periodic_task(crontab(minute="*/15"), name="core.ratelimit_purge")
def purge_rate_limits() -> None:
    rate_limit_purge_expired()
