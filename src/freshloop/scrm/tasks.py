"""SCRM jobs: the journey runner, split in shards so the worker's processes share the work;
mass messages sent at their time; the date triggers (coupons expiring, birthdays). WeCom's
send results are polled by messaging (`messaging.wecom_confirmations`)."""

from __future__ import annotations

import datetime as dt

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task
from huey.exceptions import TaskLockedException

from freshloop.scrm.broadcasts import broadcast_send, broadcasts_due_ids
from freshloop.scrm.runner import journeys_run_due
from freshloop.scrm.triggers import birthdays_enroll, coupons_expiring_enroll

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


# --- Tags synced with WeCom, computed tags pushed, staff transfers polled ---------------------


@db_task(name="scrm.tags_sync")
def tags_sync() -> int:
    """Read WeCom's corp tag list and every contact's tags (the console's 立即同步 button);
    returns the manual tags changed."""
    from freshloop.scrm.tag_sync import tags_full_sync

    try:
        with HUEY.lock_task("scrm.tags_sync"):
            result = tags_full_sync()
    except TaskLockedException:
        return 0  # a sync is running: it reads everything anyway
    return result.added + result.removed


@db_periodic_task(crontab(hour="19", minute="10"), name="scrm.tags_sync_nightly")
def tags_sync_nightly() -> None:
    """Every night (19:10 UTC, 03:10 in Shanghai): the full tag sync repairs anything a lost
    callback missed."""
    tags_sync()


@db_task(name="scrm.tags_push")
def tags_push() -> int:
    """Push the chosen computed tags to WeCom; returns the contacts marked or unmarked."""
    from freshloop.scrm.tag_push import computed_tags_push

    try:
        with HUEY.lock_task("scrm.tags_push"):
            result = computed_tags_push()
    except TaskLockedException:
        return 0
    return result.marked + result.unmarked


@db_periodic_task(crontab(hour="19", minute="40"), name="scrm.tags_push_nightly")
def tags_push_nightly() -> None:
    """Every night (19:40 UTC, 03:40 in Shanghai), an hour after the data hub recomputes its
    tags (datahub.tags_recompute, 18:40 UTC): computed tags → WeCom tags."""
    tags_push()


@db_periodic_task(crontab(minute="*/10"), name="scrm.transfers_poll")
def transfers_poll_job() -> int:
    """Every 10 minutes: WeCom's transfer results; a taken-over customer gets its new 跟进人."""
    from freshloop.scrm.transfer import transfers_poll

    return transfers_poll()


# --- mass messages (企业群发) ----------------------------------------------------------------


@db_task(name="scrm.broadcast_send")
def broadcast_send_task(broadcast_id: int) -> int:
    """Send one mass message at its time (queued with `eta` when it is scheduled); returns the
    sends passed to the policy. One run per message at a time; a second one (the minute job
    finding it due) waits its turn and then finds it sent — and every send's dedupe key
    would stop a duplicate anyway."""
    try:
        with HUEY.lock_task(f"scrm.broadcast_send:{broadcast_id}"):
            return broadcast_send(broadcast_id=broadcast_id).recipients
    except TaskLockedException:
        return 0


@db_periodic_task(crontab(minute="*"), name="scrm.broadcasts_due")
def broadcasts_due() -> None:
    """Every minute: mass messages whose time has come and that no task sent (a worker down at
    the time, a lost task), and sends interrupted half way."""
    for broadcast_id in broadcasts_due_ids():
        broadcast_send_task(broadcast_id)


@db_periodic_task(crontab(minute="5"), name="scrm.coupons_expiring_enroll")
def coupons_expiring() -> int:
    """Hourly: holders of unused coupons about to end enter the 优惠券即将过期 journeys (once
    per coupon, so the hours after the first find nobody new for that coupon)."""
    return coupons_expiring_enroll()


# Huey's crontab is in UTC: 01:00 UTC is 09:00 in Shanghai, a decent hour for a greeting.
@db_periodic_task(crontab(hour="1", minute="0"), name="scrm.birthdays_enroll")
def birthdays() -> int:
    """Daily at 09:00 Asia/Shanghai: people whose birthday is today + the journey's days enter
    the 生日 journeys (once a year each)."""
    return birthdays_enroll()
