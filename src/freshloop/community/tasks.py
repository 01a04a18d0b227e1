"""Community jobs: topics due, their send results, challenges swept, the nightly full sync;
unhandled inbound messages and expired replies (one block per feature)."""

from __future__ import annotations

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from freshloop.community.assistant import messages_sweep, replies_expire
from freshloop.community.challenges import challenges_check_all
from freshloop.community.groups import groups_sync_full
from freshloop.community.topics import topic_results_check, topics_run_due
from freshloop.messaging.wecom import SandboxWecomClient


def _corp_id() -> str:
    """The scope of external_userids: the configured corp, or the sandbox's."""
    return settings.FRESHLOOP.wecom.corp_id or SandboxWecomClient.corp_id


@db_periodic_task(crontab(minute="*"), name="community.topics_run")
@lock_task("community.topics_run")
def topics_run() -> int:
    """Every minute: the group mass message of each topic that is due, for its owner."""
    return topics_run_due()


@db_periodic_task(crontab(minute="*/10"), name="community.topic_results")
@lock_task("community.topic_results")
def topic_results() -> int:
    """Every 10 minutes: which pending topic messages the owners have sent."""
    return topic_results_check()


@db_periodic_task(crontab(minute="*/15"), name="community.challenges_check")
@lock_task("community.challenges_check")
def challenges_check() -> int:
    """Every 15 minutes: challenges reached by what OrderPaid did not see (members joining),
    and periods ended."""
    return challenges_check_all()


@db_task(name="community.groups_sync")
def groups_sync() -> int:
    """A full sync of every group (the console's 同步 button, and nightly)."""
    return groups_sync_full(corp_id=_corp_id()).groups


@db_periodic_task(crontab(hour="19", minute="30"), name="community.groups_sync_nightly")
def groups_sync_nightly() -> int:
    """03:30 Shanghai: anything a lost callback left out is put right."""
    return groups_sync_full(corp_id=_corp_id()).groups


# --- the keyword assistant ------------------------------------------------------------------


@db_periodic_task(crontab(minute="*"), name="community.assistant_sweep")
def assistant_sweep() -> None:
    """Every minute: group messages stored but not yet handled (the process stopped between
    storing and handling) get handled; prepared replies past their time expire."""
    messages_sweep()
    replies_expire()
