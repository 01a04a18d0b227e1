"""A database or Redis that does not answer is a 503 with Retry-After and one log line; any
other database error stays a 500 (core.outages)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis
from django.db import IntegrityError, OperationalError, connection
from django.test import Client, RequestFactory

from freshloop.core import outages, ratelimit
from freshloop.core.errors import RateLimiterUnavailable
from freshloop.web.views import handler500


def _refused_by_postgresql() -> OperationalError:
    """What Django raises when PostgreSQL is down: its OperationalError over psycopg's, which
    carries no SQLSTATE (the server never answered)."""
    cause = psycopg.OperationalError("connection failed: Connection refused")
    error = OperationalError(*cause.args)
    error.__cause__ = cause
    return error


def _deadlock() -> OperationalError:
    cause = psycopg.errors.DeadlockDetected("deadlock detected")
    error = OperationalError(*cause.args)
    error.__cause__ = cause
    return error


@contextmanager
def every_query_fails(make_error: Callable[[], Exception]) -> Iterator[None]:
    def fail(*args: Any) -> Any:
        raise make_error()

    with connection.execute_wrapper(fail):
        yield


@pytest.fixture(autouse=True)
def _fresh_outage_log() -> None:
    outages.outage_log.last_logged.clear()
    outages.outage_log.suppressed.clear()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.django_db
class TestDatabaseOutage:
    def test_the_api_answers_503_with_retry_after_and_a_machine_code(self, client: Client) -> None:
        # given the database refuses connections
        with every_query_fails(_refused_by_postgresql):
            # when a client calls an API operation that reads it
            response = client.get("/api/v1/live/NOSUCHROOM")
        # then it is told to come back, in the error shape, not a 500
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        body = response.json()
        assert body["code"] == "database_unavailable"
        assert "稍后再试" in body["message"]
        assert body["detail"] == {"retry_after": 5}

    def test_a_page_answers_a_short_chinese_503_page(self, client: Client) -> None:
        with every_query_fails(_refused_by_postgresql):
            response = client.get("/m/")
        assert response.status_code == 503
        assert response["Content-Type"].startswith("text/html")
        assert response["Retry-After"] == "5"
        assert "服务暂时不可用" in response.content.decode()

    def test_many_refusals_log_one_warning_line_and_no_traceback(
        self, client: Client, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING)
        with every_query_fails(_refused_by_postgresql):
            statuses = {client.get("/api/v1/live/NOSUCHROOM").status_code for _ in range(5)}
            statuses.add(client.get("/m/").status_code)
        assert statuses == {503}
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.name for r in warnings] == ["freshloop.outage"]
        assert "database_unavailable" in warnings[0].getMessage()
        assert warnings[0].exc_info is None

    def test_service_resumes_when_the_database_answers_again(self, client: Client) -> None:
        with every_query_fails(_refused_by_postgresql):
            assert client.get("/api/v1/live/NOSUCHROOM").status_code == 503
        # when the database is back, the same request gets its ordinary answer
        assert client.get("/api/v1/live/NOSUCHROOM").status_code == 404

    @pytest.mark.parametrize("make_error", [_deadlock, lambda: IntegrityError("duplicate key")])
    def test_other_database_errors_stay_internal_errors(
        self, client: Client, make_error: Callable[[], Exception]
    ) -> None:
        # a deadlock or a constraint is a bug of the request or the code, not an outage
        with every_query_fails(make_error):
            response = client.get("/api/v1/live/NOSUCHROOM")
        assert response.status_code == 500
        assert response.json()["code"] == "internal_error"

    def test_an_outage_met_in_a_middleware_is_a_503_too(self) -> None:
        # given Django's 500 handler, called while an outage is being handled (a session
        # saved on the way out, after the view)
        request = RequestFactory().get("/m/")
        try:
            raise _refused_by_postgresql()
        except OperationalError:
            response = handler500(request)
        # then it answers 503, not the 500 page
        assert response.status_code == 503
        assert response["Retry-After"] == "5"


class TestIsDatabaseOutage:
    def test_connection_level_failures_are_outages(self) -> None:
        assert outages.is_database_outage(_refused_by_postgresql())
        assert outages.is_database_outage(OperationalError("database is locked"))  # SQLite

    def test_query_level_failures_are_not(self) -> None:
        assert not outages.is_database_outage(_deadlock())
        assert not outages.is_database_outage(OperationalError("no such table: orders_order"))
        assert not outages.is_database_outage(IntegrityError("duplicate key"))


@pytest.mark.django_db
class TestRedisDown:
    @pytest.fixture
    def redis_down(self, settings: Any) -> None:
        import dataclasses

        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP, redis_url=f"redis://127.0.0.1:{_closed_port()}/0"
        )
        ratelimit.default_backend.cache_clear()

    def test_a_login_code_request_answers_503_not_500(
        self, client: Client, redis_down: None
    ) -> None:
        # given the rate limiter's Redis does not answer
        # when a shopper asks for a login code
        response = client.post(
            "/api/v1/auth/otp", {"phone": "13800138000"}, content_type="application/json"
        )
        # then they are told to try again shortly, with the limiter's own code
        assert response.status_code == 503
        assert response.json()["code"] == RateLimiterUnavailable.code
        assert int(response["Retry-After"]) > 0

    def test_the_limiter_raises_its_own_error(self, redis_down: None) -> None:
        with pytest.raises(RateLimiterUnavailable):
            ratelimit.rate_limit_hit("drill", limit=5, window_seconds=60)


class TestDependencyOutageFilter:
    def _record(self, error: Exception) -> logging.LogRecord:
        try:
            raise error
        except (ZeroDivisionError, redis.ConnectionError):
            import sys

            return logging.LogRecord(
                "huey.consumer", logging.ERROR, "", 1, "poll failed", (), sys.exc_info()
            )

    def test_an_outage_is_one_line_and_repeats_are_held_back(self) -> None:
        from freshloop.core.logging import DependencyOutageFilter

        # given the worker's queue (Redis) refuses connections, polled many times a second
        outage_filter = DependencyOutageFilter()
        records = [self._record(redis.ConnectionError("Connection refused")) for _ in range(3)]
        # when the records pass the filter
        passed = [outage_filter.filter(record) for record in records]
        # then the first is one line without its traceback and the repeats are held back
        assert passed == [True, False, False]
        assert records[0].exc_info is None
        assert records[0].getMessage() == "poll failed (ConnectionError: Connection refused)"

    def test_any_other_error_keeps_its_traceback(self) -> None:
        from freshloop.core.logging import DependencyOutageFilter

        record = self._record(ZeroDivisionError("division by zero"))
        assert DependencyOutageFilter().filter(record) is True
        assert record.exc_info is not None
