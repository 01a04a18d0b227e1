"""The inbound group-message API: what a 会话存档 (chat archive) relay posts.

WeCom's chat archive is pulled by a relay the brand runs next to its archive SDK (the SDK is a
native library holding the archive's private key); the relay posts each batch of group
messages here. The request is signed with a secret both sides share
(`FRESHLOOP_COMMUNITY_INBOUND_SECRET`):

    X-FreshLoop-Timestamp: <Unix seconds>
    X-FreshLoop-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp must be within `SKEW_SECONDS` of our clock, so a captured request cannot be
replayed later; within the window a replayed message is harmless because `msgid` is unique
(a second copy is counted as a duplicate and ignored). The signature is compared in constant
time and checked before the body is parsed, so an unsigned caller learns nothing about the
format.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from pydantic import ValidationError

from freshloop.community.errors import (
    InboundDisabled,
    InboundMalformed,
    InboundSignatureInvalid,
    InboundTimestampInvalid,
    InboundTooLarge,
)
from freshloop.community.models import GroupMessage, SenderType
from freshloop.community.schemas import InboundBatchIn, InboundMessageIn
from freshloop.core import clock
from freshloop.identity.errors import InvalidIdentifier
from freshloop.identity.selectors import person_by_identifier
from freshloop.messaging.wecom import SandboxWecomClient

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-FreshLoop-Timestamp"
SIGNATURE_HEADER = "X-FreshLoop-Signature"
SIGNATURE_PREFIX = "sha256="
SKEW_SECONDS = 300
MAX_BODY_BYTES = 1_000_000
STORED_TEXT_CHARS = 500


def inbound_secret() -> str:
    """The shared secret (FRESHLOOP_COMMUNITY_INBOUND_SECRET); empty = API switched off."""
    return str(settings.FRESHLOOP.community.inbound_secret)


def inbound_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The header value a relay sends: `sha256=` and the hex HMAC of `timestamp.body`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def inbound_verify(*, timestamp: str, signature: str, body: bytes) -> None:
    """Refuse a request that is unsigned, stale, too large or signed with another secret."""
    secret = inbound_secret()
    if not secret:
        raise InboundDisabled()
    if len(body) > MAX_BODY_BYTES:
        raise InboundTooLarge(detail={"max_bytes": MAX_BODY_BYTES})
    stamp = timestamp.strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise InboundTimestampInvalid(detail={"header": TIMESTAMP_HEADER})
    skew = abs(int(clock.now().timestamp()) - int(stamp))
    if skew > SKEW_SECONDS:
        raise InboundTimestampInvalid(detail={"skew_seconds": skew, "allowed": SKEW_SECONDS})
    expected = inbound_signature(secret=secret, timestamp=stamp, body=body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise InboundSignatureInvalid(detail={"header": SIGNATURE_HEADER})


def inbound_parse(body: bytes) -> list[InboundMessageIn]:
    try:
        batch = InboundBatchIn.model_validate_json(body)
    except ValidationError as error:
        problems = [
            {
                "field": ".".join(str(part) for part in problem["loc"]) or "body",
                "message": problem["msg"],
            }
            for problem in error.errors(include_url=False, include_input=False)[:20]
        ]
        raise InboundMalformed(detail=problems) from None
    return batch.messages


def wecom_corp_id() -> str:
    wecom = settings.FRESHLOOP.wecom
    return wecom.corp_id if wecom.configured else SandboxWecomClient.corp_id


def sender_person_id(*, sender: str, sender_type: str) -> int | None:
    """The OneID of a customer whose external_userid is already known (a contact or a synced
    group member); None for staff and for strangers (they are not created here)."""
    if sender_type != SenderType.CUSTOMER:
        return None
    try:
        person = person_by_identifier(
            identifier_type="wecom_external_userid", value=sender, scope=wecom_corp_id()
        )
    except InvalidIdentifier:  # a value identity cannot normalise is simply unknown
        return None
    return person.pk if person is not None else None


@dataclass(frozen=True)
class InboundResult:
    received: int
    stored: list[GroupMessage]

    @property
    def duplicates(self) -> int:
        return self.received - len(self.stored)


def group_messages_store(*, messages: list[InboundMessageIn]) -> InboundResult:
    """Keep each new message once (msgid is unique: a replay, even a concurrent one, is a
    duplicate); returns the ones stored now, which the assistant then looks at."""
    now = clock.now()
    stored: list[GroupMessage] = []
    seen: set[str] = set()
    existing = set(
        GroupMessage.objects.filter(msgid__in=[m.msgid for m in messages]).values_list(
            "msgid", flat=True
        )
    )
    for item in messages:
        if item.msgid in existing or item.msgid in seen:
            continue
        seen.add(item.msgid)
        message = GroupMessage(
            msgid=item.msgid,
            chat_id=item.chat_id,
            sender=item.sender,
            sender_type=item.sender_type,
            sender_person_id=sender_person_id(sender=item.sender, sender_type=item.sender_type),
            sent_at=dt.datetime.fromtimestamp(item.sent_at / 1000, dt.UTC),
            msgtype=item.msgtype,
            text=item.text[:STORED_TEXT_CHARS] if item.msgtype == "text" else "",
            received_at=now,
        )
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except IntegrityError:
            continue  # another request stored this msgid a moment ago
        stored.append(message)
    return InboundResult(received=len(messages), stored=stored)
