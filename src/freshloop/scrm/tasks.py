"""SCRM jobs: the journey runner, split in shards so the worker's processes share the work."""

from __future__ import annotations

import datetime as dt

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task
from huey.exceptions import TaskLockedException

from freshloop.scrm.runner import journeys_run_due

RUN_SHARDS = 2  # one per worker process of the default consumer


@db_task(name="scrm.journeys_run_shard")
def journeys_run_shard(shard: int, shards: int, at: str = "") -> int:
    """Run every due step of one shard of the enrolments; returns the steps executed. A shard
    already being run (last minute's task still busy) is left to it. `at` (ISO time) runs
    them as of that moment instead of now: what bench/journeys.py simulates 10:00 or 23:00
    with."""
    now = dt.datetime.fromisoformat(at) if at else None
    executed = 0
    try:
        with HUEY.lock_task(f"scrm.journeys_run_shard:{shard}/{shards}"):
            while True:
                result = journeys_run_due(now=now, shard=shard, shards=shards)
                executed += result.steps
                if not result.enrollments:
                    return executed
    except TaskLockedException:
        return executed


@db_periodic_task(crontab(minute="*"), name="scrm.journeys_run")
def journeys_run() -> None:
    """Every minute: one task per shard runs the journey steps that are due."""
    for shard in range(RUN_SHARDS):
        journeys_run_shard(shard, RUN_SHARDS)
