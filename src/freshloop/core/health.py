"""Health endpoints: what a monitor, a load balancer and a process supervisor each ask.

- `/healthz` — the monitor's report: every dependency (the database, Redis when configured,
  the background worker's heartbeat) with `ok` and, for the servers, `latency_ms`. 200 when
  all are ok, 503 (`"status": "unhealthy"`) when any is not, so an alert fires for a Redis
  that is down as it does for the database.
- `/readyz` — the load balancer's question, "can this process serve requests?": 503 only when
  the database does not answer. Redis down or a stale worker degrade some features (login
  codes, flash-sale counters, pushes, background jobs) but every process is equally affected,
  so taking them out of rotation would only turn a partial outage into a full one.
- `/livez` — the supervisor's question, "is the process stuck?": 200 whenever it answers,
  without touching any dependency (restarting a web process never brings a database back).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from freshloop.core import clock
from freshloop.core.models import WorkerHeartbeat
from freshloop.core.tasks import WORKER_NAME

# A health check must answer even when Redis hangs: give up on it quickly.
REDIS_TIMEOUT_SECONDS = 0.5


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def database_check() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": type(exc).__name__, "latency_ms": _elapsed_ms(started)}
    return {"ok": True, "vendor": connection.vendor, "latency_ms": _elapsed_ms(started)}


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


def redis_check() -> dict[str, Any]:
    url = settings.FRESHLOOP.redis_url
    if not url:
        # Not configured: rate limits, locks and pushes live in the database and the process.
        return {"ok": True, "configured": False}
    started = time.perf_counter()
    try:
        _redis_client(url).ping()
    except redis.RedisError as exc:
        return {
            "ok": False,
            "configured": True,
            "error": type(exc).__name__,
            "latency_ms": _elapsed_ms(started),
        }
    return {"ok": True, "configured": True, "latency_ms": _elapsed_ms(started)}


def worker_check(*, database_ok: bool) -> dict[str, Any]:
    if not database_ok:
        return {"ok": False, "error": "database_unavailable"}
    beat = WorkerHeartbeat.objects.filter(worker=WORKER_NAME).first()
    if beat is None:
        return {"ok": False, "last_seen": None, "error": "never_seen"}
    age = (clock.now() - beat.seen_at).total_seconds()
    return {
        "ok": age <= settings.FRESHLOOP.worker_heartbeat_stale_seconds,
        "last_seen": beat.seen_at.isoformat(),
        "age_seconds": round(age, 1),
    }


def _answer(checks: dict[str, dict[str, Any]]) -> JsonResponse:
    healthy = all(bool(check["ok"]) for check in checks.values())
    response = JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "checks": checks},
        status=200 if healthy else 503,
    )
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    database = database_check()
    return _answer(
        {
            "database": database,
            "redis": redis_check(),
            "worker": worker_check(database_ok=bool(database["ok"])),
        }
    )


def readyz(request: HttpRequest) -> JsonResponse:
    return _answer({"database": database_check()})


def livez(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
