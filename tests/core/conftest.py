"""Fixtures of the core tests that walk the whole served API."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.identity.services import consumer_token_issue
from tests.factories import make_person, make_staff_user

CSRF_TOKEN = "c" * 32


@pytest.fixture
def everyone() -> Client:
    """A client that passes every operation's auth: a consumer's bearer token and an admin's
    console session with its CSRF token (API-key operations also take an operator)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_staff_user("schema-admin", Role.MARKETER, superuser=True))
    client.cookies["csrftoken"] = CSRF_TOKEN
    token, _ = consumer_token_issue(person=make_person(), method="test")
    client.defaults.update(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_CSRFTOKEN=CSRF_TOKEN)
    return client
