from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.apikeys import api_key_create
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.identity.models import Person
from tests.factories import make_staff_user


def _key(*scopes: str) -> str:
    raw, _ = api_key_create(actor=Actor.system("tests"), name="live-backend", scopes=list(scopes))
    return raw


def _identify(client: Client, key: str, payload: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/identity/identify", payload, content_type="application/json", HTTP_X_API_KEY=key
    )


CALL = {
    "identifiers": [
        {"type": "phone", "value": "13800138000", "verified": True},
        {"type": "device_id", "value": "dev-1"},
    ],
    "traits": {"city": "杭州"},
    "source": "live",
}


@pytest.mark.django_db
class TestIdentifyEndpoint:
    def test_identify_then_look_up_by_any_identifier(self, client: Client) -> None:
        key = _key("identity:write", "identity:read")
        first = _identify(client, key, CALL)
        assert first.status_code == 200
        body = first.json()
        assert body["created"] is True
        assert body["merged_from"] == []
        found = client.get(
            "/api/v1/identity/people/lookup",
            {"type": "device_id", "value": "dev-1"},
            HTTP_X_API_KEY=key,
        )
        assert found.status_code == 200
        assert found.json()["one_id"] == body["one_id"]
        assert {i["masked_value"] for i in found.json()["identifiers"]} >= {"138****8000"}
        assert "13800138000" not in found.content.decode()

    def test_merged_one_id_answers_with_the_survivor(self, client: Client) -> None:
        key = _key("identity:write", "identity:read")
        survivor = _identify(
            client,
            key,
            {"identifiers": [{"type": "phone", "value": "13800138000"}], "source": "shop"},
        ).json()
        merged = _identify(
            client,
            key,
            {"identifiers": [{"type": "device_id", "value": "dev-1"}], "source": "live"},
        ).json()
        both = _identify(client, key, CALL).json()
        assert both["merged_from"] == [merged["one_id"]]
        detail = client.get(
            f"/api/v1/identity/people/{merged['one_id']}", HTTP_X_API_KEY=key
        ).json()
        assert detail["one_id"] == survivor["one_id"]
        assert detail["requested_one_id"] == merged["one_id"]

    @pytest.mark.parametrize(
        ("payload", "status", "code"),
        [
            ({"identifiers": [], "source": "live"}, 422, "invalid_identifier"),
            (
                {"identifiers": [{"type": "passport", "value": "x"}], "source": "live"},
                422,
                "invalid_identifier",
            ),
            (
                {"identifiers": [{"type": "phone", "value": "123"}], "source": "live"},
                422,
                "invalid_identifier",
            ),
            (
                {"identifiers": [{"type": "phone", "value": 13800138000}], "source": "live"},
                422,
                "validation_error",
            ),
            (
                {
                    "identifiers": [{"type": "phone", "value": "13800138000"}],
                    "source": "Bad Source!",
                },
                422,
                "validation_error",
            ),
            (
                {
                    "identifiers": [{"type": "device_id", "value": f"d{n}"} for n in range(10_000)],
                    "source": "live",
                },
                413,
                "too_many_identifiers",
            ),
            (
                {
                    "identifiers": [
                        {"type": "phone", "value": "13800138000"},
                        {"type": "phone", "value": "13900139000"},
                    ],
                    "source": "live",
                },
                422,
                "conflicting_identifiers",
            ),
            (
                {
                    "identifiers": [{"type": "device_id", "value": "d"}],
                    "traits": {"x": {"nested": 1}},
                    "source": "live",
                },
                422,
                "invalid_identifier",
            ),
        ],
    )
    def test_bad_input_is_a_clear_4xx_and_writes_nothing(
        self, client: Client, payload: dict[str, Any], status: int, code: str
    ) -> None:
        response = _identify(client, _key("identity:write"), payload)
        assert response.status_code == status
        assert response.json()["code"] == code
        assert Person.objects.count() == 0

    def test_keys_and_scopes_are_enforced(self, client: Client) -> None:
        assert _identify(client, "", CALL).status_code == 401
        assert _identify(client, "flk_forged_key", CALL).status_code == 401
        read_only = _key("identity:read")
        response = _identify(client, read_only, CALL)
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"

    def test_operators_with_the_right_role_may_call_it(self, client: Client) -> None:
        make_staff_user("cs", Role.CUSTOMER_SERVICE)
        make_staff_user("host", Role.LIVE_HOST)
        client.login(username="host", password="pass-1234")
        assert (
            client.post(
                "/api/v1/identity/identify", CALL, content_type="application/json"
            ).status_code
            == 403
        )
        client.login(username="cs", password="pass-1234")
        assert (
            client.post(
                "/api/v1/identity/identify", CALL, content_type="application/json"
            ).status_code
            == 200
        )


NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
PHONE = [{"type": "phone", "value": "13800138000"}]


def _traits(client: Client, key: str) -> dict[str, Any]:
    found = client.get(
        "/api/v1/identity/people/lookup",
        {"type": "phone", "value": "13800138000"},
        HTTP_X_API_KEY=key,
    )
    traits: dict[str, Any] = found.json()["traits"]
    return traits


@pytest.mark.django_db
class TestIdentifyOccurredAt:
    """`occurred_at` orders trait writes (the later time wins), so it is refused in the future
    with the same tolerance as /track (core.clock.client_time_problem)."""

    @pytest.mark.parametrize(
        "occurred_at",
        [
            "9999-12-31T23:59:59+00:00",
            "9999-12-31T23:59:59-14:00",
            (NOW + dt.timedelta(minutes=11)).isoformat(),
        ],
    )
    def test_a_time_in_the_future_is_refused_and_pins_nothing(
        self, client: Client, occurred_at: str
    ) -> None:
        key = _key("identity:write", "identity:read")
        with clock.frozen(NOW):
            # given a person whose city was written now
            _identify(
                client, key, {"identifiers": PHONE, "traits": {"city": "杭州"}, "source": "crm"}
            )
            # when a source sends a trait dated in the future
            response = _identify(
                client,
                key,
                {
                    "identifiers": PHONE,
                    "traits": {"city": "北京"},
                    "source": "crm",
                    "occurred_at": occurred_at,
                },
            )
            # then it is refused with a machine code, and a write a minute later still wins
            assert response.status_code == 422, response.content[:300]
            assert response.json()["code"] == "occurred_at_invalid"
            assert response.json()["detail"]["problem"] == "in_future"
            clock.advance(dt.timedelta(minutes=1))
            _identify(
                client, key, {"identifiers": PHONE, "traits": {"city": "上海"}, "source": "crm"}
            )
            assert _traits(client, key)["city"] == "上海"

    def test_a_time_within_the_clock_skew_is_taken(self, client: Client) -> None:
        key = _key("identity:write", "identity:read")
        with clock.frozen(NOW):
            response = _identify(
                client,
                key,
                {
                    "identifiers": PHONE,
                    "traits": {"city": "杭州"},
                    "source": "crm",
                    "occurred_at": (NOW + dt.timedelta(minutes=9)).isoformat(),
                },
            )
        assert response.status_code == 200
        assert _traits(client, key)["city"] == "杭州"

    def test_a_time_before_what_utc_can_hold_is_refused_not_a_500(self, client: Client) -> None:
        key = _key("identity:write")
        response = _identify(
            client,
            key,
            {"identifiers": PHONE, "source": "crm", "occurred_at": "0001-01-01T00:00:00+14:00"},
        )
        assert response.status_code == 422, response.content[:300]
        assert response.json()["detail"]["problem"] == "out_of_range"

    def test_a_past_time_is_taken_and_loses_to_the_present(self, client: Client) -> None:
        key = _key("identity:write", "identity:read")
        _identify(client, key, {"identifiers": PHONE, "traits": {"city": "杭州"}, "source": "crm"})
        old = {"city": "北京"}
        response = _identify(
            client,
            key,
            {
                "identifiers": PHONE,
                "traits": old,
                "source": "crm",
                "occurred_at": "2020-01-01T00:00:00+08:00",
            },
        )
        assert response.status_code == 200
        assert _traits(client, key)["city"] == "杭州"


@pytest.mark.django_db
class TestPrivacyEndpoints:
    def test_export_and_erase(self, client: Client) -> None:
        key = _key("identity:write", "identity:export", "identity:erase", "identity:read")
        one_id = _identify(client, key, CALL).json()["one_id"]
        exported = client.get(f"/api/v1/identity/people/{one_id}/export", HTTP_X_API_KEY=key)
        assert exported.status_code == 200
        assert "+8613800138000" in exported.content.decode()
        erased = client.post(
            f"/api/v1/identity/people/{one_id}/erase",
            {"reason": "用户注销"},
            content_type="application/json",
            HTTP_X_API_KEY=key,
        )
        assert erased.status_code == 200
        assert erased.json()["status"] == "erased"
        assert (
            client.get(f"/api/v1/identity/people/{one_id}/export", HTTP_X_API_KEY=key).status_code
            == 410
        )
        assert (
            client.get("/api/v1/identity/people/P_UNKNOWN", HTTP_X_API_KEY=key).status_code == 404
        )

    def test_split_over_http(self, client: Client) -> None:
        make_staff_user("cs", Role.CUSTOMER_SERVICE)
        key = _key("identity:write", "identity:read")
        one_id = _identify(client, key, CALL).json()["one_id"]
        detail = client.get(f"/api/v1/identity/people/{one_id}", HTTP_X_API_KEY=key).json()
        device_id = next(i["id"] for i in detail["identifiers"] if i["type"] == "device_id")
        client.login(username="cs", password="pass-1234")
        response = client.post(
            f"/api/v1/identity/people/{one_id}/split",
            {"identifier_ids": [device_id], "reason": "共用设备"},
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["one_id"] != one_id
        refused = client.post(
            f"/api/v1/identity/people/{one_id}/split",
            {"identifier_ids": [999999], "reason": "x"},
            content_type="application/json",
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "split_invalid"
