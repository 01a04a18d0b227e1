"""Segment jobs: re-materialise every saved segment hourly, so audiences that feed coupons,
SCRM and live invitations follow the tags and events as they change."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.datahub.segments.services import segments_materialise_all


@db_periodic_task(crontab(minute="23"), name="datahub.segments_materialise")
def segments_materialise() -> int:
    return segments_materialise_all()
