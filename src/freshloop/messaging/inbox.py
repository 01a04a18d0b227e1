"""The in-app channel (站内信): a message "delivered" is one that reached the person's inbox
in the H5 shop (/m/messages). Nothing leaves the building, so delivery cannot fail; the outbox
row is the message, and `PolicyRecordingSender` marks its dispatch sent, which is what the
inbox lists."""

from __future__ import annotations

from freshloop.core.models import OutboxMessage

IN_APP_CHANNEL = "in_app"


class InAppSender:
    """Outbox sender for channel "in_app": the payload ({title, body, url?}) is the message."""

    channel = IN_APP_CHANNEL

    def send(self, message: OutboxMessage) -> str:
        return f"inbox-{message.pk}"
