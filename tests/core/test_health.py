from __future__ import annotations

import datetime as dt

import pytest
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
