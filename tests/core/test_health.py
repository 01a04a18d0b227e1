from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from freshloop.core import clock
from freshloop.core.tasks import heartbeat


@pytest.mark.django_db
class TestHealthz:
    def test_unhealthy_until_the_worker_reports(self, client: Client) -> None:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"]["ok"] is True
        assert response.json()["checks"]["worker"]["error"] == "never_seen"

    def test_healthy_after_a_heartbeat_and_stale_later(self, client: Client) -> None:
        # given the worker ran its periodic heartbeat job
        heartbeat.call_local()
        assert client.get("/healthz").json()["status"] == "ok"
        # when no heartbeat arrives for longer than the stale limit
        with clock.frozen(clock.now() + dt.timedelta(minutes=10)):
            response = client.get("/healthz")
        # then health reports the worker as down
        assert response.status_code == 503
        assert response.json()["checks"]["worker"]["ok"] is False

    def test_reports_each_dependency_with_its_latency(self, client: Client) -> None:
        heartbeat.call_local()
        checks = client.get("/healthz").json()["checks"]
        assert set(checks) == {"database", "redis", "worker"}
        assert checks["database"]["ok"] is True
        assert checks["database"]["latency_ms"] >= 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_down(settings: Any) -> None:
    settings.FRESHLOOP = dataclasses.replace(
        settings.FRESHLOOP, redis_url=f"redis://127.0.0.1:{_closed_port()}/0"
    )


@pytest.mark.django_db
class TestHealthzWithRedis:
    def test_a_configured_redis_that_answers_is_reported_with_its_latency(
        self, client: Client, settings: Any, redis_url: str
    ) -> None:
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, redis_url=redis_url)
        heartbeat.call_local()
        response = client.get("/healthz")
        assert response.status_code == 200
        redis_check = response.json()["checks"]["redis"]
        assert redis_check["ok"] is True
        assert redis_check["latency_ms"] >= 0

    def test_redis_down_is_reported_and_makes_the_report_unhealthy(
        self, client: Client, redis_down: None
    ) -> None:
        # given the worker is alive and the database answers, but Redis does not
        heartbeat.call_local()
        # when the monitor asks
        response = client.get("/healthz")
        # then it hears about Redis
        assert response.status_code == 503
        assert response.json()["status"] == "unhealthy"
        assert response.json()["checks"]["redis"]["ok"] is False
        assert response.json()["checks"]["database"]["ok"] is True


@pytest.mark.django_db
class TestReadyz:
    def test_ready_while_the_database_answers_though_redis_is_down(
        self, client: Client, redis_down: None
    ) -> None:
        # Redis down degrades features on every process alike: rotation would not help
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["database"]["ok"] is True

    def test_not_ready_while_the_database_does_not_answer(self, client: Client) -> None:
        def refuse(*args: Any) -> Any:
            raise OperationalError("unable to open database file")

        with connection.execute_wrapper(refuse):
            response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"]["ok"] is False


class TestLivez:
    def test_alive_without_asking_any_dependency(self, client: Client) -> None:
        def refuse(*args: Any) -> Any:
            raise AssertionError("livez must not query the database")

        with connection.execute_wrapper(refuse):
            response = client.get("/livez")
        assert response.status_code == 200
