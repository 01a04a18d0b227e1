"""Connection hygiene under ASGI: the view's database connection is closed where it was used."""

from __future__ import annotations

import io

import pytest
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
