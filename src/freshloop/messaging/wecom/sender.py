"""The outbox's channel "wecom": a 1:1 customer message through WeCom 企业群发.

The payload names the staff member who sends it (`sender`, the customer's 跟进人), the text and
optional link cards; the destination is the customer's external_userid. WeCom creates a send
task the staff member confirms in their app, so the policy records the message as
`pending_confirmation` (messaging.services.PolicyRecordingSender) — except in the sandbox, where
nobody is there to tap 发送 and the sandbox counts it sent at once, so the decision does too.
"""

from __future__ import annotations

from typing import Any

from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import DeliveryError, PermanentDeliveryError
from freshloop.messaging.errors import WecomError
from freshloop.messaging.wecom import wecom_client
from freshloop.messaging.wecom.sandbox import SandboxWecomClient
from freshloop.messaging.wecom.types import (
    WecomAttachment,
    WecomContent,
    WecomImage,
    WecomLink,
    WecomMiniProgram,
)

WECOM_CHANNEL = "wecom"


def wecom_payload(
    *,
    sender: str,
    text: str,
    links: list[dict[str, str]] | None = None,
    images: list[str] | None = None,
    miniprograms: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """What a module queues for channel "wecom" (through `marketing_send`): the text, link
    cards ({title, url, desc, picurl}), pictures by URL, and mini-program cards ({title,
    appid, page, pic_media_id}). The keys only present when used, so older payloads read
    the same."""
    payload: dict[str, Any] = {"sender": sender, "text": text, "links": links or []}
    if images:
        payload["images"] = list(images)
    if miniprograms:
        payload["miniprograms"] = list(miniprograms)
    return payload


def _attachments(payload: dict[str, Any]) -> tuple[WecomAttachment, ...]:
    attachments: list[WecomAttachment] = [
        WecomImage(pic_url=str(url)) for url in payload.get("images", [])
    ]
    attachments += [
        WecomLink(
            title=str(link["title"]),
            url=str(link["url"]),
            desc=str(link.get("desc", "")),
            picurl=str(link.get("picurl", "")),
        )
        for link in payload.get("links", [])
    ]
    attachments += [
        WecomMiniProgram(
            title=str(card["title"]),
            appid=str(card["appid"]),
            page=str(card["page"]),
            pic_media_id=str(card.get("pic_media_id", "")),
        )
        for card in payload.get("miniprograms", [])
    ]
    return tuple(attachments)


class WecomChannelSender:
    channel = WECOM_CHANNEL

    def send(self, message: OutboxMessage) -> str:
        from freshloop.messaging.services import marketing_confirmation_record

        payload = message.payload
        if not message.destination:
            raise PermanentDeliveryError("wecom message has no external_userid")
        try:
            content = WecomContent(
                text=str(payload.get("text", "")), attachments=_attachments(payload)
            )
        except (KeyError, TypeError) as exc:
            raise PermanentDeliveryError(f"wecom payload unreadable: {exc}") from exc
        client = wecom_client()
        try:
            result = client.add_msg_template(
                chat_type="single",
                content=content,
                sender=str(payload.get("sender", "")),
                external_userids=[message.destination],
            )
        except WecomError as error:
            if error.retryable:
                raise DeliveryError(f"wecom {error.errcode}: {error.message}") from error
            raise PermanentDeliveryError(f"wecom {error.errcode}: {error.message}") from error
        if message.destination in result.fail_list:
            raise PermanentDeliveryError("wecom could not reach this customer (fail_list)")
        if isinstance(client, SandboxWecomClient):
            # The sandbox's staff "confirm" at once: sent (the pending mark that follows only
            # moves a message still queued, so it leaves this one sent).
            marketing_confirmation_record(outbox_message_id=message.pk, sent=True)
        return result.msgid
