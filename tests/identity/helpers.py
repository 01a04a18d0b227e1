from __future__ import annotations

import json

from freshloop.core import crypto
from freshloop.core.models import OutboxMessage


def last_sms_code() -> str:
    """Read the login code the way the SMS gateway gets it: from the outbox row."""
    message = OutboxMessage.objects.filter(channel="sms").latest("id")
    return str(json.loads(crypto.decrypt(message.payload["params_sealed"]))["code"])
