"""Intelligence jobs: the nightly retrain of every model kind, and a retrain asked for from the
console."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from freshloop.core.audit import Actor
from freshloop.intelligence.services import ALL_KINDS, KindOutcome, model_rollback, models_retrain

logger = logging.getLogger(__name__)


def _log(outcomes: list[KindOutcome]) -> None:
    for outcome in outcomes:
        logger.info(
            "intelligence: %s %s (%s) in %.1f s, %d people scored",
            outcome.kind,
            outcome.outcome,
            outcome.message,
            outcome.seconds,
            outcome.people_scored,
        )


# huey schedules in UTC: 19:30 UTC is 03:30 Asia/Shanghai, after the nightly tag recompute
# (02:40) and before the morning's campaigns and journeys read the scores.
@db_periodic_task(crontab(minute="30", hour="19"), name="intelligence.retrain_nightly")
def retrain_nightly() -> list[KindOutcome]:
    outcomes = models_retrain(actor=Actor.system("intelligence.retrain_nightly"), kinds=ALL_KINDS)
    _log(outcomes)
    return outcomes


@db_task(name="intelligence.rollback")
def rollback(kind: str, actor_label: str) -> int:
    """A rollback an operator asked for: re-scoring a million people takes minutes, longer
    than a page request should."""
    restored = model_rollback(kind=kind, actor=Actor(type="user", id="", label=actor_label))
    logger.info("intelligence: %s rolled back to v%d", kind, restored.version)
    return restored.version


@db_task(name="intelligence.retrain")
def retrain(kinds: list[str], actor_label: str) -> list[KindOutcome]:
    """A retrain an operator asked for; `actor_label` names them in the registry."""
    outcomes = models_retrain(actor=Actor(type="user", id="", label=actor_label), kinds=kinds)
    _log(outcomes)
    return outcomes


# Hourly, at minute 7 (off the hour, when other jobs start): reservations and pre-live interest
# keep arriving up to a session's start, and an alert is worth most the earlier it is raised.
@db_periodic_task(crontab(minute="7"), name="intelligence.forecasts_refresh")
def forecasts_refresh() -> dict[str, int]:
    """Forecast every live session of the coming week and raise its stock alerts."""
    # Imported when the job runs: this job was added without touching the retrain jobs'
    # imports above, and only this job needs the forecast stack.
    from freshloop.intelligence.forecasting.services import session_forecasts_refresh

    report = session_forecasts_refresh(actor=Actor.system("intelligence.forecasts_refresh"))
    return {
        "sessions": len(report.sessions),
        "forecast": report.count("forecast"),
        "too_little_data": report.count("too_little_data"),
        "failed": report.count("failed"),
        "alerts_new": report.alerts_new,
    }
