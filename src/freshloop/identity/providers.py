"""External edges of consumer login: SMS delivery and WeChat web authorisation (OAuth 2.0).

Each edge is a Protocol with a sandbox that works offline and, for WeChat, an adapter on
wechatpy. Settings pick the implementation; tests replace only the HTTP edge.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing

from freshloop.core import crypto
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import DeliveryError
from freshloop.identity.errors import OAuthFailed

logger = logging.getLogger(__name__)


# --- SMS ---------------------------------------------------------------------------------


class SmsProvider(Protocol):
    name: str

    def send(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> str:
        """Send one templated SMS; return the provider's message id or raise DeliveryError."""
        ...


class SandboxSmsProvider:
    """Delivers nothing: writes the message (code included) to the log so a developer can log in."""

    name = "sandbox"

    def send(
        self, *, phone_e164: str, template: str, params: dict[str, str], message_id: str
    ) -> str:
        logger.info(
            "[sandbox sms] to %s template=%s params=%s",
            crypto.mask_phone(phone_e164),
            template,
            json.dumps(params, ensure_ascii=False),
        )
        return f"sandbox-{message_id}"


@lru_cache(maxsize=1)
def sms_provider() -> SmsProvider:
    # Only the sandbox exists so far; a real gateway (Aliyun, Tencent Cloud SMS) plugs in here.
    return SandboxSmsProvider()


class SmsChannelSender:
    """Outbox sender for channel "sms": the payload holds the template and sealed parameters."""

    channel = "sms"

    def send(self, message: OutboxMessage) -> str:
        if not message.destination:
            raise DeliveryError("sms message has no destination")
        try:
            params = json.loads(crypto.decrypt(message.payload["params_sealed"]))
            template = str(message.payload["template"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DeliveryError(f"sms payload unreadable: {exc}") from exc
        return sms_provider().send(
            phone_e164=message.destination,
            template=template,
            params=params,
            message_id=str(message.pk),
        )


def sms_payload(template: str, params: dict[str, str]) -> dict[str, str]:
    """Build an outbox payload whose parameters (codes, names) are sealed at rest."""
    return {
        "template": template,
        "params_sealed": crypto.encrypt(json.dumps(params, ensure_ascii=False)),
    }


# --- WeChat OAuth ------------------------------------------------------------------------


@dataclass(frozen=True)
class WechatProfile:
    app_id: str
    openid: str
    unionid: str | None
    nickname: str


class WechatOAuthProvider(Protocol):
    name: str
    app_id: str

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """Where to send the browser to ask the user for consent."""
        ...

    def exchange_code(self, *, code: str, redirect_uri: str) -> WechatProfile:
        """Turn the code WeChat sent back into the user's profile; raise OAuthFailed."""
        ...


class WechatpyOAuthProvider:
    """Official Accounts web authorisation (snsapi_userinfo) through wechatpy."""

    name = "wechat"

    def __init__(self, *, app_id: str, app_secret: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret

    def _client(self, redirect_uri: str, state: str = "") -> object:
        from wechatpy.oauth import WeChatOAuth

        return WeChatOAuth(
            self.app_id, self.app_secret, redirect_uri, scope="snsapi_userinfo", state=state
        )

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        return str(self._client(redirect_uri, state).authorize_url)  # type: ignore[attr-defined]

    def exchange_code(self, *, code: str, redirect_uri: str) -> WechatProfile:
        from requests import RequestException
        from wechatpy.exceptions import WeChatClientException, WeChatOAuthException

        client = self._client(redirect_uri)
        try:
            token = client.fetch_access_token(code)  # type: ignore[attr-defined]
            info = client.get_user_info(token["openid"], token["access_token"])  # type: ignore[attr-defined]
        except (WeChatOAuthException, WeChatClientException, RequestException, KeyError) as exc:
            raise OAuthFailed(detail={"provider_error": str(exc)[:200]}) from exc
        return WechatProfile(
            app_id=self.app_id,
            openid=str(token["openid"]),
            unionid=(info.get("unionid") or token.get("unionid")) or None,
            nickname=str(info.get("nickname", ""))[:64],
        )


class SandboxWechatOAuthProvider:
    """Stands in for WeChat offline: a local consent page mints a signed code for a fake user.

    The code is a signed, short-lived token, so no server state is needed and forged codes fail.
    """

    name = "sandbox"
    code_max_age_seconds = 300
    _salt = "freshloop.wechat.sandbox"

    def __init__(self, *, app_id: str) -> None:
        self.app_id = app_id

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        return "/m/auth/wechat/sandbox?" + urlencode({"redirect_uri": redirect_uri, "state": state})

    def mint_code(self, *, openid: str, nickname: str, unionid: str | None = None) -> str:
        return signing.dumps(
            {
                "openid": openid,
                "nickname": nickname,
                "unionid": unionid,
                "nonce": secrets.token_hex(4),
            },
            salt=self._salt,
        )

    def exchange_code(self, *, code: str, redirect_uri: str) -> WechatProfile:
        try:
            data = signing.loads(code, salt=self._salt, max_age=self.code_max_age_seconds)
        except signing.BadSignature as exc:
            raise OAuthFailed(detail={"provider_error": "invalid sandbox code"}) from exc
        return WechatProfile(
            app_id=self.app_id,
            openid=str(data["openid"]),
            unionid=data.get("unionid") or None,
            nickname=str(data.get("nickname", ""))[:64],
        )


def wechat_oauth_provider() -> WechatOAuthProvider:
    config = settings.FRESHLOOP
    if config.wechat_oauth_provider == "wechat":
        return WechatpyOAuthProvider(
            app_id=config.wechat_app_id, app_secret=config.wechat_app_secret
        )
    return SandboxWechatOAuthProvider(app_id=config.wechat_app_id)
