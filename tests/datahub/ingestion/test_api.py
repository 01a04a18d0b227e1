"""POST /api/v1/track over HTTP: write keys, gzip, malformed bodies and the error shape."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.datahub.models import BufferedEvent
from tests.datahub.helpers import make_source, track_event

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
URL = "/api/v1/track"


def _events(count: int) -> list[dict[str, Any]]:
    return [
        track_event(
            "page_view",
            occurred_at=NOW,
            identifiers=[{"type": "device_id", "value": f"d{i % 5}"}],
            properties={"path": f"/m/{i}"},
        )
        for i in range(count)
    ]


def _post(client: Client, body: bytes, key: str | None, **headers: str) -> Any:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    with clock.frozen(NOW):
        return client.post(URL, data=body, content_type="application/json", headers=headers)


class TestTrackEndpoint:
    def test_a_batch_is_accepted_with_a_bearer_write_key(self, client: Client) -> None:
        key, _ = make_source()
        response = _post(client, json.dumps({"batch": _events(3)}).encode(), key)
        assert response.status_code == 200, response.content
        assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": 0, "errors": []}

    def test_a_gzip_body_and_a_basic_auth_key_are_understood(self, client: Client) -> None:
        key, _ = make_source()
        body = gzip.compress(json.dumps({"batch": _events(2)}).encode())
        basic = base64.b64encode(f"{key}:".encode()).decode()
        with clock.frozen(NOW):
            response = client.post(
                URL,
                data=body,
                content_type="application/json",
                headers={"Content-Encoding": "gzip", "Authorization": f"Basic {basic}"},
            )
        assert response.status_code == 200, response.content
        assert response.json()["accepted"] == 2

    def test_no_key_or_a_forged_key_is_401_with_a_machine_code(self, client: Client) -> None:
        key, _ = make_source()
        for presented in (None, key[:-3] + "abc", "flw_nothing"):
            response = _post(client, json.dumps({"batch": _events(1)}).encode(), presented)
            assert response.status_code == 401
            assert response.json()["code"] == "write_key_invalid"
        assert BufferedEvent.objects.count() == 0

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b'"text"',
            b'{"batch": {"a": 1}}',
            b"\xff\xfe",
            # not JSON either, though Python's json module reads them
            b'{"batch": [{"event_id": "n", "properties": {"x": NaN}}]}',
            b'{"batch": [{"event_id": "i", "properties": {"x": 1e400}}]}',
        ],
    )
    def test_a_malformed_body_is_400(self, client: Client, body: bytes) -> None:
        key, _ = make_source()
        response = _post(client, body, key)
        assert response.status_code == 400
        assert response.json()["code"] == "batch_malformed"

    def test_broken_gzip_is_400_and_a_zip_bomb_is_413(self, client: Client) -> None:
        key, _ = make_source()
        broken = _post(client, b"\x1f\x8bnot-gzip", key, **{"Content-Encoding": "gzip"})
        assert broken.status_code == 400
        bomb = gzip.compress(b'{"batch": [' + b" " * (20 * 1024 * 1024) + b"]}")
        response = _post(client, bomb, key, **{"Content-Encoding": "gzip"})
        assert response.status_code == 413
        assert response.json()["code"] == "batch_too_large"

    def test_over_one_thousand_events_is_413(self, client: Client) -> None:
        key, _ = make_source()
        response = _post(client, json.dumps({"batch": _events(1001)}).encode(), key)
        assert response.status_code == 413
        assert response.json()["code"] == "batch_too_large"

    def test_a_batch_with_only_bad_events_is_422_listing_them(self, client: Client) -> None:
        key, _ = make_source()
        bad = [{"event_id": "x", "name": "Bad Name", "occurred_at": NOW.isoformat()}]
        response = _post(client, json.dumps({"batch": bad}).encode(), key)
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "all_events_rejected"
        assert body["message"]
        fields = {e["field"] for e in body["detail"]["errors"][0]["errors"]}
        assert fields == {"name", "identifiers"}

    def test_a_partly_bad_batch_is_200_with_the_errors(self, client: Client) -> None:
        key, _ = make_source()
        events = [
            *_events(2),
            {
                "event_id": "bad",
                "name": "page_view",
                "occurred_at": "yesterday",
                "identifiers": [{"type": "device_id", "value": "d"}],
                "properties": {"path": "/"},
            },
        ]
        response = _post(client, json.dumps({"batch": events}).encode(), key)
        assert response.status_code == 200
        body = response.json()
        assert (body["accepted"], body["rejected"]) == (2, 1)
        assert body["errors"][0]["index"] == 2
        assert body["errors"][0]["errors"][0]["message"] == "时间格式不正确，应为 ISO 8601"

    @pytest.mark.parametrize("name", [{"a": 1}, ["page_view"], [], {}])
    def test_an_object_or_array_name_is_refused_and_the_good_events_kept(
        self, client: Client, name: Any
    ) -> None:
        # given a batch of two good events and one whose name is not a string (it used to
        # be a 500 that dropped the good ones: `name in LIVE_EVENTS` on an unhashable value)
        key, _ = make_source()
        bad = {**_events(1)[0], "event_id": "bad-name", "name": name}
        # when it is sent
        response = _post(client, json.dumps({"batch": [*_events(2), bad]}).encode(), key)
        # then the good events are kept and the bad one is refused with a machine code
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert (body["accepted"], body["rejected"]) == (2, 1)
        assert body["errors"] == [
            {
                "index": 2,
                "event_id": "bad-name",
                "errors": [
                    {
                        "field": "name",
                        "code": "format",
                        "message": "事件名应为小写字母开头的 snake_case，最长 64 个字符",
                    }
                ],
            }
        ]
        assert BufferedEvent.objects.count() == 2

    def test_an_event_id_with_a_nul_is_refused_not_a_500(self, client: Client) -> None:
        # PostgreSQL refuses NUL in a text column: the insert used to fail the whole request
        key, _ = make_source()
        bad = {**_events(1)[0], "event_id": "a\u0000b"}
        response = _post(client, json.dumps({"batch": [*_events(1), bad]}).encode(), key)
        assert response.status_code == 200, response.content[:300]
        assert response.json()["errors"][0]["errors"] == [
            {"field": "event_id", "code": "format", "message": "不能包含控制字符"}
        ]

    def test_the_endpoint_is_documented_in_openapi(self, client: Client) -> None:
        spec = client.get("/api/v1/openapi.json").json()
        operation = spec["paths"]["/api/v1/track"]["post"]
        wrapped, bare = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
        assert wrapped["properties"]["batch"]["maxItems"] == 1000
        # the bare array the endpoint accepts is documented too (the fuzz run found it was not)
        assert bare["type"] == "array"
        assert bare["maxItems"] == 1000

    def test_a_bare_array_is_a_batch(self, client: Client) -> None:
        key, _ = make_source()
        response = _post(client, json.dumps(_events(2)).encode(), key)
        assert response.status_code == 200
        assert response.json()["accepted"] == 2
