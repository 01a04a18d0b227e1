"""/healthz: is the database reachable and has the background worker been seen lately?
/livez: is the process answering at all (touches nothing: a load balancer's liveness probe)."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from freshloop.core import clock
from freshloop.core.models import WorkerHeartbeat
from freshloop.core.tasks import WORKER_NAME


def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict[str, object]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = {"ok": True, "vendor": connection.vendor}
    except DatabaseError as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}

    if checks["database"]["ok"]:
        beat = WorkerHeartbeat.objects.filter(worker=WORKER_NAME).first()
        stale_after = settings.FRESHLOOP.worker_heartbeat_stale_seconds
        if beat is None:
            checks["worker"] = {"ok": False, "last_seen": None, "error": "never_seen"}
        else:
            age = (clock.now() - beat.seen_at).total_seconds()
            checks["worker"] = {
                "ok": age <= stale_after,
                "last_seen": beat.seen_at.isoformat(),
                "age_seconds": round(age, 1),
            }
    else:
        checks["worker"] = {"ok": False, "error": "database_unavailable"}

    healthy = all(bool(check["ok"]) for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "checks": checks},
        status=200 if healthy else 503,
    )


def livez(request: HttpRequest) -> JsonResponse:
    """The process answers: no database, no cache. A liveness probe restarts a process that
    stops answering this; readiness (can it serve?) is /healthz."""
    return JsonResponse({"status": "ok"})
