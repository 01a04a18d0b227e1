"""Schema-driven fuzzing (schemathesis) of every /api/v1 operation, as the callers who use it:
a logged-in consumer (bearer token), an operator (admin console session with its CSRF token),
an integrator (API key with every scope) and a touchpoint (write key, for /track).

Whatever a client sends, within the published schema or around it (schemathesis' positive and
negative modes), the API never answers 5xx, answers only statuses and content types the
operation documents, bodies that match the documented schemas (errors included: their `code`
is an enum of the codes the operation declares), and refuses data that does not fit the schema.

Bounded for `make test` on 2 cores: a fixed number of examples per operation, derandomized
(the same cases every run, no example database), no deadline.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from freshloop.core.apikeys import SCOPES, api_key_create
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.ingestion.services import event_source_create
from freshloop.identity.services import consumer_token_issue
from tests.factories import make_person, make_staff_user

# 40 keeps `make test` to about a minute and a half on 2 cores; a deeper hunt:
# FRESHLOOP_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/core/test_api_fuzz.py
EXAMPLES_PER_OPERATION = int(os.environ.get("FRESHLOOP_FUZZ_EXAMPLES", "40"))
CSRF_TOKEN = "e" * 32

# Every operation is fuzzed, the payment callbacks included: they must answer a forged or
# garbled notification with the provider's FAIL acknowledgement, never a 5xx. (Their real
# signatures are tested with genuine and forged notifications in tests/payments: test_api.py
# `test_wechat_success_is_204_and_failure_is_fail_json`, `test_alipay_answers_plain_success_or_fail`,
# `test_garbage_is_refused_not_a_500`; test_services.py `test_forged_signature_changes_nothing`,
# `test_forged_notify_answers_fail`.)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@schemathesis.check
def bad_bodies_are_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' negative_data_rejection, for request bodies: a body that breaks its
    schema (an unknown key, a wrong type, a bound) gets a 4xx. Not for cases that break a query
    string or a header only (a browser may add a cache-buster; the credentials are ours, so a
    "missing cookie" case still carries one), and 413 is a refusal too (an oversized batch)."""
    meta = case.meta
    if meta is None or response.status_code == 413:
        return None
    negative = {location for location, info in meta.components.items() if info.mode.is_negative}
    if negative != {ParameterLocation.BODY}:
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    bad_bodies_are_refused,
]


@pytest.fixture(autouse=True)
def _keep_the_test_connection_open() -> Iterator[None]:
    """The WSGI handler closes the database connection after each request, which would end
    the test's transaction; Django's own test client unhooks the same signals."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


class Callers:
    """Fresh credentials for each case: a case may log the consumer out (`/me/logout` revokes
    the token and flushes the session it rides on)."""

    def __init__(self) -> None:
        self.person = make_person()
        self.admin = make_staff_user("fuzz-admin", Role.MARKETER, superuser=True)
        self.api_key, _ = api_key_create(
            actor=Actor.system("fuzz"), name="fuzz", scopes=sorted(SCOPES)
        )
        self.write_key, _ = event_source_create(
            actor=Actor.system("fuzz"), name="fuzz", channel="shop"
        )
        self._turn = itertools.count()

    def for_case(self, case: Any) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, cookies) for one call. Operations that take an API key or an operator
        get one or the other in turn, so both paths are fuzzed."""
        token, _ = consumer_token_issue(person=self.person, method="fuzz")
        console = Client()
        console.force_login(self.admin)
        cookies = {"sessionid": console.cookies["sessionid"].value, "csrftoken": CSRF_TOKEN}
        headers = {"Authorization": f"Bearer {token}", "X-CSRFToken": CSRF_TOKEN}
        if case.path == "/api/v1/track":
            headers["Authorization"] = f"Bearer {self.write_key}"
        elif next(self._turn) % 2:
            headers["X-Api-Key"] = self.api_key
        return headers, cookies


@pytest.fixture
def callers(db: None) -> Callers:
    return Callers()


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_the_api_answers_every_caller_within_its_schema(case: Any, callers: Callers) -> None:
    headers, cookies = callers.for_case(case)
    response = case.call(headers=headers, cookies=cookies)
    case.validate_response(response, checks=CHECKS, headers=headers)
    if response.status_code >= 400 and "/payments/notify/" not in case.path:
        # (the callbacks answer in each provider's own format, documented per operation)
        assert set(response.json()) == {"code", "message", "detail"}, response.text[:300]
