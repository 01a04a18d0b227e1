"""Consumer authentication for API routes and H5 pages: bearer token or H5 session, and the
browser half of WeChat login (a one-time `state` bound to the session, anti-CSRF)."""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from freshloop.core.errors import DomainError, NotAuthenticated, PermissionDenied
from freshloop.identity.errors import OAuthStateInvalid, TokenInvalid
from freshloop.identity.models import ConsumerToken, Person
from freshloop.identity.providers import WechatOAuthProvider
from freshloop.identity.services import LoginResult, consumer_token_authenticate, wechat_login

SESSION_TOKEN_KEY = "freshloop_consumer_token_id"  # noqa: S105 (a session key name)
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def consumer_session_login(request: HttpRequest, result: LoginResult) -> None:
    """Bind the H5 browser session to the login; a new session key stops session fixation."""
    request.session.cycle_key()
    request.session[SESSION_TOKEN_KEY] = result.token_id


def consumer_from_request(request: HttpRequest) -> ConsumerToken | None:
    """The logged-in consumer's token record, or None. Bearer header wins over the session."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return consumer_token_authenticate(token=header[7:].strip())
    token_id = request.session.get(SESSION_TOKEN_KEY) if hasattr(request, "session") else None
    if token_id is None:
        return None
    try:
        return consumer_token_authenticate(token_id=int(token_id))
    except (TokenInvalid, ValueError, TypeError):
        request.session.pop(SESSION_TOKEN_KEY, None)
        return None


class ConsumerAuth(AuthBase):
    """Ninja auth: sets `request.consumer` (the token record) and returns the Person."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    # Published in every consumer operation's OpenAPI responses (core.api_errors).
    declared_errors: ClassVar[tuple[type[DomainError], ...]] = (
        NotAuthenticated,
        TokenInvalid,
        PermissionDenied,
    )

    def __call__(self, request: HttpRequest) -> Any:
        record = consumer_from_request(request)
        if record is None:
            raise NotAuthenticated()
        header = request.headers.get("Authorization", "")
        if not header and request.method in _UNSAFE:
            # Cookie-authenticated writes need the CSRF token, like any Django form post.
            failure = check_csrf(request)
            if failure is not None:
                raise PermissionDenied("CSRF 校验失败，请刷新页面后重试")
        request.consumer = record  # type: ignore[attr-defined]
        return record.person


def request_person(request: HttpRequest) -> Person:
    person = getattr(request, "auth", None)
    if not isinstance(person, Person):
        raise NotAuthenticated()
    return person


_STATE_KEY = "freshloop_wechat_oauth"


def wechat_oauth_begin(
    request: HttpRequest, *, provider: WechatOAuthProvider, callback_url: str, next_url: str
) -> str:
    state = secrets.token_urlsafe(16)
    request.session[_STATE_KEY] = {"state": state, "next": next_url, "callback": callback_url}
    return provider.authorize_url(redirect_uri=callback_url, state=state)


def wechat_oauth_finish(
    request: HttpRequest, *, provider: WechatOAuthProvider, code: str, state: str
) -> tuple[LoginResult, str]:
    """Check the state, exchange the code, log in; returns the login and where to go next."""
    pending = request.session.pop(_STATE_KEY, None)
    if not pending or not state or not secrets.compare_digest(str(pending.get("state", "")), state):
        raise OAuthStateInvalid()
    profile = provider.exchange_code(code=code, redirect_uri=pending["callback"])
    result = wechat_login(profile=profile)
    consumer_session_login(request, result)
    next_url = pending.get("next", "/m/")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts=None):
        next_url = "/m/"
    return result, next_url
