"""WeCom's callbacks (接收事件服务器): URL verification, decryption, events published once.

WeCom signs each callback with `msg_signature` = sha1 over the sorted strings token, timestamp,
nonce and the encrypted text, and encrypts the content with AES-256-CBC under the
EncodingAESKey (加解密方案说明). wechatpy's `WeChatCrypto` decrypts; the signature is checked
here first, in constant time, so a forged callback is refused before any decryption work.

- GET (URL verification, when the callback URL is saved in the admin console): the answer is
  the decrypted `echostr`, as plain text.
- POST: `change_external_contact` and `change_external_chat` become `WecomContactChanged` /
  `WecomGroupChatChanged` (messaging/events.py); other events are acknowledged and ignored.
  WeCom waits 5 seconds for "success" and sends again otherwise, so nothing slow happens here:
  handlers that call WeCom back run after commit or on the worker.

Each callback is acted on at most once: a delivery seen before (same signature, timestamp and
nonce) or the same event again (same content) is acknowledged without publishing, and a
timestamp further than `callback_max_age_seconds` from our clock is acknowledged and dropped
(a captured callback replayed later cannot act). The seen-marks live in Django's cache (Redis
in production) for twice that window.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from freshloop.core import clock
from freshloop.core.events import publish
from freshloop.messaging.errors import (
    WecomCallbackDisabled,
    WecomCallbackForbidden,
    WecomCallbackMalformed,
    WecomCallbackTooLarge,
)
from freshloop.messaging.events import WecomContactChanged, WecomGroupChatChanged

logger = logging.getLogger(__name__)

# A callback is a few hundred bytes of XML; anything near this is not WeCom.
MAX_CALLBACK_BYTES = 64 * 1024
MAX_ID_CHARS = 128

CONTACT_CHANGE_TYPES = frozenset(
    {
        "add_external_contact",
        "edit_external_contact",
        "del_external_contact",
        "del_follow_user",
        "add_half_external_contact",
        "transfer_fail",
    }
)
CHAT_CHANGE_TYPES = frozenset({"create", "update", "dismiss"})

Outcome = Literal["published", "ignored", "replayed", "stale"]


@dataclass(frozen=True)
class CallbackConfig:
    token: str
    aes_key: str
    corp_id: str
    max_age_seconds: int


def callback_config() -> CallbackConfig:
    wecom = settings.FRESHLOOP.wecom
    if not wecom.callback_enabled:
        raise WecomCallbackDisabled()
    # Without a corp (sandbox) the callback still works, for the demo's simulated callbacks.
    corp_id = wecom.corp_id
    if not corp_id:
        from freshloop.messaging.wecom.sandbox import SANDBOX_CORP_ID

        corp_id = SANDBOX_CORP_ID
    return CallbackConfig(
        token=wecom.callback_token,
        aes_key=wecom.callback_aes_key,
        corp_id=corp_id,
        max_age_seconds=wecom.callback_max_age_seconds,
    )


def msg_signature(*, token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WeCom's msg_signature: sha1 over the four strings sorted and joined."""
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()  # WeCom's protocol


def _check_signature(
    config: CallbackConfig, given: str, timestamp: str, nonce: str, encrypted: str
) -> None:
    expected = msg_signature(
        token=config.token, timestamp=timestamp, nonce=nonce, encrypted=encrypted
    )
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise WecomCallbackForbidden()


def _decrypt(
    config: CallbackConfig,
    *,
    signature: str,
    timestamp: str,
    nonce: str,
    encrypted: str,
    echo: bool,
) -> str:
    """Decrypt with wechatpy's WeChatCrypto (it checks the signature again, and that the
    plaintext ends with our corp id)."""
    from wechatpy.enterprise.crypto import WeChatCrypto
    from wechatpy.enterprise.exceptions import InvalidCorpIdException
    from wechatpy.exceptions import InvalidSignatureException

    crypto = WeChatCrypto(config.token, config.aes_key, config.corp_id)
    signature = signature.strip().lower()
    try:
        if echo:
            plain = crypto.check_signature(signature, timestamp, nonce, encrypted)
        else:
            plain = crypto.decrypt_message({"Encrypt": encrypted}, signature, timestamp, nonce)
    except InvalidSignatureException as exc:
        raise WecomCallbackForbidden() from exc
    except InvalidCorpIdException as exc:
        # Encrypted under our key for another corp: not a callback meant for us.
        raise WecomCallbackForbidden("企业微信回调的企业 ID 不匹配") from exc
    except Exception as exc:  # wechatpy raises bare errors for bad base64, padding, lengths
        raise WecomCallbackMalformed("企业微信回调密文无法解密") from exc
    return str(plain)


def _xml_fields(raw: bytes | str, *, what: str) -> dict[str, ElementTree.Element]:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    # No DTDs: WeCom never sends one, and entities are how XML bombs and external reads work.
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise WecomCallbackMalformed(f"{what}不允许包含 DTD")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - DTDs refused above
    except ElementTree.ParseError as exc:
        raise WecomCallbackMalformed(f"{what}不是合法的 XML") from exc
    if root.tag != "xml":
        raise WecomCallbackMalformed(f"{what}的根元素应为 <xml>")
    return {child.tag: child for child in root}


def _text(fields: dict[str, ElementTree.Element], name: str, *, required: bool = False) -> str:
    element = fields.get(name)
    value = (element.text or "").strip() if element is not None else ""
    if required and not value:
        raise WecomCallbackMalformed(f"企业微信回调缺少 {name}")
    if len(value) > MAX_ID_CHARS:
        raise WecomCallbackMalformed(f"企业微信回调的 {name} 过长")
    return value


def _int(fields: dict[str, ElementTree.Element], name: str) -> int:
    value = _text(fields, name)
    try:
        return int(value or 0)
    except ValueError as exc:
        raise WecomCallbackMalformed(f"企业微信回调的 {name} 应为整数") from exc


def callback_verify_url(*, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """GET: the plaintext of `echostr`, once its signature is right."""
    config = callback_config()
    if len(echostr) > 1024:
        raise WecomCallbackMalformed("echostr 过长")
    _check_signature(config, msg_signature, timestamp, nonce, echostr)
    return _decrypt(
        config,
        signature=msg_signature,
        timestamp=timestamp,
        nonce=nonce,
        encrypted=echostr,
        echo=True,
    )


def event_from_plaintext(
    plain: str, *, corp_id: str
) -> WecomContactChanged | WecomGroupChatChanged | None:
    """The domain event a decrypted callback announces, or None for events nobody handles."""
    fields = _xml_fields(plain, what="企业微信回调明文")
    if _text(fields, "MsgType") != "event":
        return None
    event_name = _text(fields, "Event")
    change_type = _text(fields, "ChangeType")
    wecom_time = _int(fields, "CreateTime")
    if event_name == "change_external_contact":
        if change_type not in CONTACT_CHANGE_TYPES:
            return None
        values = {
            "change_type": change_type,
            "staff_userid": _text(fields, "UserID", required=True),
            "external_userid": _text(fields, "ExternalUserID", required=True),
            "state": _text(fields, "State"),
            "welcome_code": _text(fields, "WelcomeCode"),
            "source": _text(fields, "Source"),
            "fail_reason": _text(fields, "FailReason"),
        }
        key = _event_key(corp_id, event_name, wecom_time, values)
        return WecomContactChanged(
            corp_id=corp_id,
            wecom_time=wecom_time,
            event_key=key,
            change_type=change_type,
            staff_userid=values["staff_userid"],
            external_userid=values["external_userid"],
            state=values["state"],
            welcome_code=values["welcome_code"],
            source=values["source"],
            fail_reason=values["fail_reason"],
        )
    if event_name == "change_external_chat":
        if change_type not in CHAT_CHANGE_TYPES:
            return None
        members = fields.get("MemChangeList")
        member_ids = [
            (item.text or "").strip()[:MAX_ID_CHARS]
            for item in (members if members is not None else [])
            if item.tag == "Item" and (item.text or "").strip()
        ][:1000]
        chat_id = _text(fields, "ChatId", required=True)
        update_detail = _text(fields, "UpdateDetail")
        key = _event_key(
            corp_id,
            event_name,
            wecom_time,
            {
                "change_type": change_type,
                "chat_id": chat_id,
                "update_detail": update_detail,
                "members": ",".join(member_ids),
                "cur": _text(fields, "CurMemVer"),
            },
        )
        return WecomGroupChatChanged(
            corp_id=corp_id,
            change_type=change_type,
            chat_id=chat_id,
            wecom_time=wecom_time,
            event_key=key,
            update_detail=update_detail,
            join_scene=_int(fields, "JoinScene"),
            quit_scene=_int(fields, "QuitScene"),
            member_change_count=_int(fields, "MemChangeCnt"),
            member_ids=member_ids,
        )
    return None


def _event_key(corp_id: str, event: str, wecom_time: int, values: dict[str, str]) -> str:
    material = "|".join(
        [corp_id, event, str(wecom_time)] + [f"{k}={values[k]}" for k in sorted(values)]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:40]


def callback_receive(*, msg_signature: str, timestamp: str, nonce: str, body: bytes) -> Outcome:
    """POST: check, decrypt and publish one callback; what became of it (for the log)."""
    config = callback_config()
    if len(body) > MAX_CALLBACK_BYTES:
        raise WecomCallbackTooLarge()
    encrypted = _text_unbounded(_xml_fields(body, what="企业微信回调"), "Encrypt")
    _check_signature(config, msg_signature, timestamp, nonce, encrypted)
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise WecomCallbackMalformed("timestamp 应为整数") from exc
    if abs(clock.now().timestamp() - sent_at) > config.max_age_seconds:
        logger.warning("wecom callback dropped: timestamp %s outside the window", sent_at)
        return "stale"
    plain = _decrypt(
        config,
        signature=msg_signature,
        timestamp=timestamp,
        nonce=nonce,
        encrypted=encrypted,
        echo=False,
    )
    event = event_from_plaintext(plain, corp_id=config.corp_id)
    window = config.max_age_seconds * 2
    delivery_key = (
        "wecom-callback:delivery:"
        + hashlib.sha256(f"{msg_signature}|{timestamp}|{nonce}".encode()).hexdigest()[:40]
    )
    if not cache.add(delivery_key, 1, timeout=window):
        return "replayed"
    if event is None:
        return "ignored"
    event_key = f"wecom-callback:event:{event.event_key}"
    if not cache.add(event_key, 1, timeout=window):
        return "replayed"
    try:
        with transaction.atomic():
            publish(event)
    except BaseException:
        # Not published: let WeCom's retry of this callback through.
        cache.delete_many([delivery_key, event_key])
        raise
    return "published"


def _text_unbounded(fields: dict[str, ElementTree.Element], name: str) -> str:
    element = fields.get(name)
    value = (element.text or "").strip() if element is not None else ""
    if not value:
        raise WecomCallbackMalformed(f"企业微信回调缺少 {name}")
    return value
