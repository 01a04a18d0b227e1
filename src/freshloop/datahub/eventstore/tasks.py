"""Data hub jobs: flush the event buffer (safety net for the in-process flusher), prune it,
apply OneID merges the store missed, recompute every tag nightly and re-materialise saved
segments."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.datahub.flush import buffer_flush_all, buffer_prune
from freshloop.datahub.reconcile import ReconcileReport, person_map_reconcile
from freshloop.datahub.tags import TagReport, tags_recompute_all

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"), name="datahub.flush")
def flush() -> None:
    buffer_flush_all()


# huey schedules in UTC: 19:17 UTC is 03:17 in Shanghai, the quietest hour.
@db_periodic_task(crontab(minute="17", hour="19"), name="datahub.buffer_prune")
def prune() -> None:
    buffer_prune()


# huey schedules in UTC: 18:20 UTC is 02:20 Asia/Shanghai, before the nightly tags, so they
# count a merge the recording missed.
@db_periodic_task(crontab(minute="20", hour="18"), name="datahub.person_map_reconcile")
def person_map_reconcile_job() -> ReconcileReport:
    return person_map_reconcile()


# huey schedules in UTC: 18:40 UTC is 02:40 Asia/Shanghai. Tags count Shanghai calendar days,
# so the nightly pass runs just after the business day turned (every "days ago" moved by one,
# which the per-flush refresh of the people who had events cannot notice) and before the
# morning campaigns read the segments.
@db_periodic_task(crontab(minute="40", hour="18"), name="datahub.tags_recompute")
def tags_recompute() -> TagReport:
    report = tags_recompute_all()
    logger.info(
        "tags recomputed: %d people, %d with RFM, in %.1f s",
        report.people,
        report.with_rfm,
        report.seconds,
        extra={"cut_points": report.cut_points},
    )
    return report
