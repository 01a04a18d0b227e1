"""The outbox channel `alert`: anomalies a person must look at (a callback whose amount does
not match its payment, a refund the provider refused, …), handed to an `AlertProvider`.

The offline default, `LogAlertProvider`, writes one structured ERROR line per alert on the
`freshloop.alerts` logger, where the log pipeline (and whoever watches it) picks it up. With
`FRESHLOOP_ALERT_WEBHOOK_URL` set, `WebhookAlertProvider` POSTs the alert as JSON instead; a
refused or unreachable hook is a `DeliveryError`, so the relay retries with back-off and marks
the message failed after `MAX_ATTEMPTS`. Delivery is at-least-once (outbox), so every alert
carries the outbox message id for the receiver to deduplicate on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from django.conf import settings

from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import ALERT_CHANNEL, DeliveryError

WEBHOOK_TIMEOUT_SECONDS = 5.0

alert_logger = logging.getLogger("freshloop.alerts")


@dataclass(frozen=True)
class Alert:
    """One alert as providers see it; `details` is what the raising module queued."""

    alert_id: str
    kind: str
    raised_at: dt.datetime
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "raised_at": self.raised_at.isoformat(),
            "details": self.details,
        }


class AlertProvider(Protocol):
    name: str

    def deliver(self, *, alert: Alert) -> str:
        """Hand the alert on; return a delivery reference or raise DeliveryError."""
        ...


class LogAlertProvider:
    """Works offline: the alert becomes one ERROR log line (JSON in both log formats)."""

    name = "log"

    def deliver(self, *, alert: Alert) -> str:
        body = alert.as_json()
        # The JSON is in the message for the text format; `extra` gives the JSON log format
        # the same fields as a nested object it can index.
        alert_logger.error(
            "ALERT %s %s",
            alert.kind,
            json.dumps(body, ensure_ascii=False, sort_keys=True, default=str),
            extra={"alert": body},
        )
        return f"log-{alert.alert_id}"


class WebhookAlertProvider:
    """POSTs the alert as JSON; any 2xx answer counts as delivered.

    The URL may carry a secret (a robot key in its query), so it never appears in errors or
    logs.
    """

    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = WEBHOOK_TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._transport = transport
        self._timeout = timeout

    def deliver(self, *, alert: Alert) -> str:
        try:
            with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
                response = client.post(
                    self._url,
                    content=json.dumps(alert.as_json(), ensure_ascii=False, default=str).encode(),
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Idempotency-Key": alert.alert_id,
                    },
                )
        except (httpx.HTTPError, OSError) as exc:
            raise DeliveryError(f"alert webhook unreachable ({type(exc).__name__})") from exc
        if not response.is_success:
            raise DeliveryError(f"alert webhook answered HTTP {response.status_code}")
        return f"webhook-{alert.alert_id}"


def alert_provider() -> AlertProvider:
    """The provider the settings choose, looked up per delivery (cheap, and follows settings)."""
    url = settings.FRESHLOOP.alert_webhook_url
    if url:
        return WebhookAlertProvider(url=url)
    return LogAlertProvider()


class AlertChannelSender:
    """Outbox sender for channel "alert"."""

    channel = ALERT_CHANNEL

    def __init__(self, provider: AlertProvider | None = None) -> None:
        self._provider = provider

    def send(self, message: OutboxMessage) -> str:
        # An alert is never dropped for its shape: an unexpected payload is passed on whole.
        payload = (
            message.payload if isinstance(message.payload, dict) else {"payload": message.payload}
        )
        alert = Alert(
            alert_id=f"alert-{message.pk}",
            kind=str(payload.get("kind") or "unknown"),
            raised_at=message.created_at,
            details=payload,
        )
        provider = self._provider or alert_provider()
        return provider.deliver(alert=alert)
