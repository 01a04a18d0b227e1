"""The browser half of WeChat login: a one-time `state` bound to the session (anti-CSRF)."""

from __future__ import annotations

import secrets

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from freshloop.identity.auth import consumer_session_login
from freshloop.identity.errors import OAuthStateInvalid
from freshloop.identity.providers import WechatOAuthProvider
from freshloop.identity.services import LoginResult, wechat_login

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
