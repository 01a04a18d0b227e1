"""Bad input never gets a 500 or an HTML page from the API: always {code, message, detail}."""

from __future__ import annotations

import gzip

import pytest
from django.test import Client

from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role
from tests.factories import make_staff_user


def _assert_error_shape(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("application/json")  # type: ignore[index]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    assert any("\u4e00" <= char <= "\u9fff" for char in body["message"]), "message is Chinese"
    return body


@pytest.mark.django_db
class TestApiErrorFormat:
    def test_malformed_json(self, client: Client) -> None:
        response = client.post(
            "/api/v1/auth/otp", data="{not json", content_type="application/json"
        )
        _assert_error_shape(response, 400, "malformed_request")

    def test_wrong_types_list_each_field(self, client: Client) -> None:
        response = client.post(
            "/api/v1/auth/otp", data={"phone": 13800138000}, content_type="application/json"
        )
        body = _assert_error_shape(response, 422, "validation_error")
        assert body["detail"][0]["loc"][-1] == "phone"  # type: ignore[index]

    def test_missing_field(self, client: Client) -> None:
        response = client.post("/api/v1/auth/otp", data={}, content_type="application/json")
        _assert_error_shape(response, 422, "validation_error")

    def test_oversized_body_gets_413_before_parsing(self, client: Client, settings: object) -> None:
        limit = settings.FRESHLOOP.max_body_bytes  # type: ignore[attr-defined]
        payload = '{"phone": "' + "1" * limit + '"}'
        response = client.post("/api/v1/auth/otp", data=payload, content_type="application/json")
        body = _assert_error_shape(response, 413, "payload_too_large")
        assert body["detail"] == {"max_bytes": limit}

    def test_chunked_body_without_length_is_capped_too(self, settings: object) -> None:
        # given an ASGI request (uvicorn) whose chunked body declares no Content-Length
        from io import BytesIO

        from django.core.handlers.asgi import ASGIRequest

        from freshloop.core.middleware import BodySizeLimitMiddleware

        limit = settings.FRESHLOOP.max_body_bytes  # type: ignore[attr-defined]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/v1/auth/otp",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        }

        def view(request: object) -> object:
            return pytest.fail("the view must not see an oversized body")

        middleware = BodySizeLimitMiddleware(view)  # type: ignore[arg-type]
        # when it is larger than the limit, then it is refused before the view
        oversized = ASGIRequest(scope, BytesIO(b"x" * (limit + 10)))
        assert middleware(oversized).status_code == 413  # type: ignore[union-attr]
        # and a small one reaches the view with its body intact
        small = ASGIRequest(scope, BytesIO(b'{"phone": "1"}'))
        seen = {}
        passthrough = BodySizeLimitMiddleware(lambda request: seen.setdefault("body", request.body))  # type: ignore[arg-type,return-value]
        passthrough.after = lambda request, response: response  # type: ignore[method-assign]
        passthrough(small)
        assert seen["body"] == b'{"phone": "1"}'

    def test_invalid_content_length(self, client: Client) -> None:
        response = client.generic(
            "POST",
            "/api/v1/auth/otp",
            data=b"{}",
            content_type="application/json",
            CONTENT_LENGTH="-5",
        )
        _assert_error_shape(response, 400, "malformed_request")

    def test_unknown_route(self, client: Client) -> None:
        body = _assert_error_shape(client.get("/api/v1/no-such-thing"), 404, "not_found")
        assert body["detail"] == {"path": "/api/v1/no-such-thing"}

    def test_wrong_method(self, client: Client) -> None:
        response = client.get("/api/v1/auth/otp")
        _assert_error_shape(response, 405, "method_not_allowed")
        assert "POST" in response["Allow"]

    def test_gzip_garbage_is_a_client_error(self, client: Client) -> None:
        response = client.post(
            "/api/v1/auth/otp", data=gzip.compress(b"\xff\xfe"), content_type="application/json"
        )
        assert response.status_code == 400

    def test_unauthenticated(self, client: Client) -> None:
        _assert_error_shape(client.get("/api/v1/me"), 401, "not_authenticated")

    def test_request_id_is_echoed_or_generated(self, client: Client) -> None:
        assert client.get("/api/v1/me", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
        generated = client.get("/api/v1/me", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
        assert len(generated) == 32


@pytest.mark.django_db
class TestNulCharacters:
    """PostgreSQL refuses NUL in text: a parameter holding one is refused as input, never a 500."""

    def test_a_nul_in_a_query_parameter_is_a_422_naming_it(self, client: Client) -> None:
        # given an operator of the community console
        client.force_login(make_staff_user("nul-operator", Role.COMMUNITY_MANAGER))
        # when the replies are filtered by a chat id holding a NUL (what the fuzzer sent)
        response = client.get("/api/v1/community/assistant/replies?chat_id=%C2%86s%00C")
        # then the field is named, in Chinese, and nothing reached the database
        body = _assert_error_shape(response, 422, "validation_error")
        assert body["detail"][0]["field"] == "chat_id"  # type: ignore[index]
        # and the same filter without the NUL still answers
        assert client.get("/api/v1/community/assistant/replies?chat_id=s").status_code == 200

    def test_a_nul_in_a_json_body_names_its_field(self, client: Client) -> None:
        nested = '{"items": [{"name": "ok"}, {"name": "a\\u0000"}]}'
        response = client.post("/api/v1/auth/otp", data=nested, content_type="application/json")
        body = _assert_error_shape(response, 422, "validation_error")
        assert body["detail"][0]["field"] == "items[1].name"  # type: ignore[index]
        # while the text \u0000 itself (its backslash escaped) holds no NUL
        escaped = '{"phone": "\\\\u0000"}'
        response = client.post("/api/v1/auth/otp", data=escaped, content_type="application/json")
        assert "空字符" not in response.json()["message"]

    def test_a_nul_in_the_path_is_refused_too(self, client: Client) -> None:
        _assert_error_shape(client.get("/api/v1/shop/orders/A%00B"), 422, "validation_error")

    def test_a_nul_in_a_form_field_is_refused_by_the_form(self, client: Client) -> None:
        # (bodies are left to their parsers: Django's form fields refuse NUL themselves)
        response = client.post("/console/login/", {"username": "a\x00b", "password": "x"})
        # then the login form answers again (not a 500 from the database) and nobody is in
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session


@pytest.mark.django_db
class TestUnexpectedErrors:
    def test_a_bug_is_a_json_500_without_internals(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def explode(**kwargs: object) -> None:
            raise KeyError("internal detail")

        monkeypatch.setattr("freshloop.identity.api.otp_request", explode)
        response = client.post(
            "/api/v1/auth/otp", data={"phone": "13800138000"}, content_type="application/json"
        )
        body = _assert_error_shape(response, 500, "internal_error")
        assert "internal detail" not in response.content.decode()
        assert "request_id" in body["detail"]  # type: ignore[operator]

    def test_domain_errors_keep_their_code_and_status(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        class StockGone(DomainError):
            code = "stock_gone"
            message = "库存不足"
            status = 409

        def refuse(**kwargs: object) -> None:
            raise StockGone(detail={"sku": "milk"})

        monkeypatch.setattr("freshloop.identity.api.otp_request", refuse)
        response = client.post(
            "/api/v1/auth/otp", data={"phone": "13800138000"}, content_type="application/json"
        )
        body = _assert_error_shape(response, 409, "stock_gone")
        assert body == {"code": "stock_gone", "message": "库存不足", "detail": {"sku": "milk"}}


@pytest.mark.django_db
class TestOpenApi:
    def test_schema_and_local_docs(self, client: Client) -> None:
        schema = client.get("/api/v1/openapi.json").json()
        assert "/api/v1/auth/otp" in schema["paths"]
        docs = client.get("/api/v1/docs").content.decode()
        assert "cdn" not in docs.lower()
        assert "/static/" in docs
