"""Operator login limits: a stranger's wrong passwords cannot lock an operator out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client

from freshloop.core.models import OutboxMessage
from freshloop.core.permissions import Role
from tests.factories import make_staff_user

LOGIN = "/console/login/"


def _attempt(client: Client, ip: str, password: str, username: str = "ops") -> str:
    response = client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)
    if response.status_code == 302:
        return "in"
    page = response.content.decode()
    return "limited" if "登录尝试过于频繁" in page else "wrong"


@pytest.fixture(params=["database", "redis"])
def limit_backend(request: pytest.FixtureRequest, settings: Any) -> str:
    from freshloop.core import ratelimit

    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, redis_url=url)
    ratelimit.default_backend.cache_clear()
    return str(request.param)


@pytest.mark.django_db
@pytest.mark.usefixtures("limit_backend")
class TestOperatorLoginLimits:
    def test_a_strangers_wrong_passwords_do_not_lock_the_operator_out(self, settings: Any) -> None:
        # given an operator, and a stranger guessing their password from one address
        make_staff_user("ops", Role.MARKETER)
        limit = settings.FRESHLOOP.operator_login_per_user_per_hour
        stranger = Client()
        outcomes = [_attempt(stranger, "198.51.100.66", "guess") for _ in range(limit + 2)]
        # then the stranger is stopped after the limit, even with the right password
        assert outcomes == ["wrong"] * limit + ["limited"] * 2
        assert _attempt(stranger, "198.51.100.66", "pass-1234") == "limited"
        # and the operator, from their own address, still logs in
        assert _attempt(Client(), "203.0.113.10", "pass-1234") == "in"

    def test_guesses_from_many_addresses_lock_the_name_and_alert(self, settings: Any) -> None:
        # given a much higher limit per name over all addresses (lowered here to 6)
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP, operator_login_per_user_all_ips_per_hour=6
        )
        make_staff_user("ops", Role.MARKETER)
        # when 6 addresses each guess once
        for index in range(6):
            assert _attempt(Client(), f"198.51.100.{index}", "guess") == "wrong"
        # then the name is locked everywhere for the rest of the hour, and people are told
        assert _attempt(Client(), "203.0.113.10", "pass-1234") == "limited"
        alerts = OutboxMessage.objects.filter(channel="alert")
        assert [alert.payload["kind"] for alert in alerts] == ["operator_login.name_locked"]
        assert alerts[0].payload["username"] == "ops"
        # and other operators are not affected
        make_staff_user("ops2", Role.MARKETER)
        assert _attempt(Client(), "203.0.113.10", "pass-1234", username="ops2") == "in"

    def test_successful_logins_use_up_no_allowance(self, settings: Any) -> None:
        make_staff_user("ops", Role.MARKETER)
        limit = settings.FRESHLOOP.operator_login_per_user_per_hour
        for _ in range(limit + 2):
            assert _attempt(Client(), "203.0.113.10", "pass-1234") == "in"
        for _ in range(limit - 1):
            assert _attempt(Client(), "203.0.113.10", "typo") == "wrong"
        assert _attempt(Client(), "203.0.113.10", "pass-1234") == "in"

    def test_names_are_counted_case_and_space_insensitively(self, settings: Any) -> None:
        make_staff_user("ops", Role.MARKETER)
        limit = settings.FRESHLOOP.operator_login_per_user_per_hour
        for index in range(limit):
            name = ["ops", "OPS", " Ops "][index % 3]
            _attempt(Client(), "198.51.100.66", "guess", username=name)
        assert _attempt(Client(), "198.51.100.66", "pass-1234") == "limited"

    def test_one_address_cannot_spray_many_names(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP, operator_login_per_ip_per_hour=5
        )
        outcomes = [
            _attempt(Client(), "198.51.100.66", "guess", username=f"user{index}")
            for index in range(6)
        ]
        assert outcomes == ["wrong"] * 5 + ["limited"]
