"""Queue outbound messages. Each call writes an outbox row in the caller's transaction; the
relay delivers it after commit, at least once (see core/outbox.py)."""

from __future__ import annotations

from typing import Any

from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import ALERT_CHANNEL, SMS_CHANNEL, outbox_enqueue, sms_payload


def sms_send(
    *,
    phone_e164: str,
    template: str,
    params: dict[str, str],
    dedupe_key: str,
    urgent: bool = False,
) -> OutboxMessage:
    """Queue one templated SMS; its parameters are sealed at rest until delivery."""
    return outbox_enqueue(
        channel=SMS_CHANNEL,
        destination=phone_e164,
        payload=sms_payload(template, params),
        dedupe_key=dedupe_key,
        urgent=urgent,
    )


def alert_raise(*, kind: str, details: dict[str, Any], dedupe_key: str) -> OutboxMessage:
    """Queue an alert for people to look at now (delivered by the relay at once after commit)."""
    return outbox_enqueue(
        channel=ALERT_CHANNEL,
        payload={"kind": kind, **details},
        dedupe_key=dedupe_key,
        urgent=True,
    )
