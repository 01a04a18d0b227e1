"""Tag jobs: recompute every person's computed tags nightly."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.datahub.tags.services import TagReport, tags_recompute_all

logger = logging.getLogger(__name__)


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
