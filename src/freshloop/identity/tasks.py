"""Identity jobs: nightly probabilistic matching feeds the review queue."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.core.audit import Actor
from freshloop.identity.matching import match_candidates_generate


# huey schedules in UTC: 19:17 UTC is 03:17 Asia/Shanghai, after the evening live sessions
# and before the morning pick.
@db_periodic_task(crontab(hour="19", minute="17"), name="identity.match_nightly")
def match_nightly() -> None:
    match_candidates_generate(actor=Actor.system("identity.match_nightly"))
