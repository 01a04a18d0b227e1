"""Connection hygiene under ASGI: the view's database connection is closed where it was used."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from freshloop.core.middleware import AsgiCloseConnectionsMiddleware


def _view_using_the_database(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok")


def _asgi_request() -> ASGIRequest:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/healthz",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    return ASGIRequest(scope, io.BytesIO())


@pytest.mark.django_db(transaction=True)
class TestAsgiCloseConnectionsMiddleware:
    def test_asgi_request_leaves_no_open_connection(self) -> None:
        # given a view that opens a connection, behind the middleware
        middleware = AsgiCloseConnectionsMiddleware(_view_using_the_database)
        # when an ASGI request goes through it
        response = middleware(_asgi_request())
        # then the response is untouched and the connection is closed
        assert response.content == b"ok"
        assert connection.connection is None

    def test_wsgi_requests_are_left_alone(self) -> None:
        middleware = AsgiCloseConnectionsMiddleware(_view_using_the_database)
        middleware(RequestFactory().get("/healthz"))
        assert connection.connection is not None


@pytest.mark.django_db(transaction=True)
class TestNoConnectionLeakUnderUvicorn:
    def test_requests_through_a_real_asgi_server_leave_no_connection_behind(self) -> None:
        # given the project served by uvicorn (ASGI), on PostgreSQL where connections can be counted
        if connection.vendor != "postgresql":
            pytest.skip("connection counting needs PostgreSQL (CI runs the suite on both)")
        import httpx

        from tests.e2e.conftest import AsgiServer

        def open_connections() -> int:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                )
                return int(cursor.fetchone()[0])

        server = AsgiServer()
        try:
            before = open_connections()
            # when 40 requests that use the database go through it, half of them saving a
            # session after the view (SessionMiddleware writes on the way out)
            with httpx.Client(base_url=server.url) as client:
                for _ in range(20):
                    client.get("/healthz")
                    fresh = httpx.get(f"{server.url}/api/v1/auth/wechat/authorize?next=/m/")
                    assert fresh.status_code == 302
                    assert "sessionid" in fresh.cookies
            # then the server holds no more connections than before, beyond what its PostgreSQL
            # pool may keep open (config/database.py: a connection goes back to the pool as a
            # request finishes, which can be a moment after the client has its answer, so on a
            # loaded machine the pool grows past one). A connection left behind per request
            # would pass that bound long before 40 requests, or exhaust the pool (no 302 above).
            pool = settings.FRESHLOOP.db_pool_max
            assert open_connections() <= before + max(1, pool)
        finally:
            server.stop()
