"""Row locks of the intelligence module."""

from __future__ import annotations

from freshloop.intelligence.models import (
    AlertStatus,
    ModelVersion,
    StockAlertRecord,
    VersionStatus,
)
from freshloop.live.models import LiveSession, LiveStatus


def kind_versions_lock(kind: str) -> list[ModelVersion]:
    """The active and previous versions of one model kind, in primary-key order: a nightly
    retrain and an operator's rollback of the same kind happen one after the other."""
    return list(
        ModelVersion.objects.select_for_update()
        .filter(kind=kind, status__in=(VersionStatus.ACTIVE, VersionStatus.PREVIOUS))
        .order_by("pk")
    )


def live_session_forecast_lock(session_id: int) -> LiveSession | None:
    """The live session whose demand forecast is being stored, or None when it is gone. Held
    while its forecast lines and stock alerts are replaced, so two refreshes of one session
    (the hourly job and an operator's button) store one after the other, and a session a host
    starts meanwhile is seen as started (its forecast is then no longer replaced)."""
    return LiveSession.objects.select_for_update().filter(pk=session_id).first()


def started_sessions_open_alerts_lock() -> list[StockAlertRecord]:
    """The open stock alerts of sessions no longer scheduled, in primary-key order: two
    refreshes closing them one after the other close each once. Only the alert rows are
    locked (`of`), not the sessions they are joined to, which the live room locks."""
    return list(
        StockAlertRecord.objects.select_for_update(of=("self",))
        .filter(status=AlertStatus.OPEN)
        .exclude(session__status=LiveStatus.SCHEDULED)
        .order_by("pk")
    )
