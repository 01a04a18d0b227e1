"""Queue outbound messages and record what became of them.

Each `*_send` / `*_raise` call writes an outbox row in the caller's transaction; the relay
delivers it after commit, at least once (see core/outbox.py). A text's delivery record
(`SmsDelivery`) is written when the provider answers and completed by its delivery receipt.

Every outbound message has a class (docs/operator-guide.md, "Outbound message policy"):

- transactional (login codes, payment, refund and shipping notices): `sms_send`,
  `alert_raise` and `transactional_send` queue it at once. They BYPASS the marketing policy on
  purpose: no consent check, no caps, no quiet hours — a login code at 23:00 must arrive.
- marketing (journeys, mass messages, reminders): only through `marketing_send`, which
  decides (consent, frequency caps, quiet hours, WeCom's own 企业群发 limit, dedupe), records
  the decision (`MarketingDispatch`) and enqueues when allowed, all in the caller's
  transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import (
    ALERT_CHANNEL,
    SMS_CHANNEL,
    outbox_enqueue,
    sms_payload,
)

# What staff did with WeCom sends they must confirm (confirmations.py).
from freshloop.messaging.confirmations import ConfirmationPoll, wecom_confirmations_poll

# The outbound message policy lives in marketing.py; this face re-exports it (`__all__`).
from freshloop.messaging.marketing import (
    MarketingSend,
    PolicyRecordingSender,
    ReleaseOutcome,
    marketing_confirmation_record,
    marketing_delivery_record,
    marketing_held_release,
    marketing_opt_in,
    marketing_opt_out,
    marketing_send,
    marketing_send_many,
)
from freshloop.messaging.models import (
    SmsDelivery,
    SmsDeliveryStatus,
)
from freshloop.messaging.transactional import (
    TransactionalSend,
    transactional_send,
    transactional_send_many,
)

# Re-exported for the modules that queue WeCom messages (scrm's journeys and mass messages).
from freshloop.messaging.wecom.sender import WECOM_CHANNEL, wecom_payload

if TYPE_CHECKING:
    from freshloop.messaging.sms_receipts import SmsReceipt

__all__ = [
    "WECOM_CHANNEL",
    "ConfirmationPoll",
    "MarketingSend",
    "PolicyRecordingSender",
    "ReceiptsOutcome",
    "ReleaseOutcome",
    "TransactionalSend",
    "alert_raise",
    "marketing_confirmation_record",
    "marketing_delivery_record",
    "marketing_held_release",
    "marketing_opt_in",
    "marketing_opt_out",
    "marketing_send",
    "marketing_send_many",
    "sms_delivery_record",
    "sms_receipts_record",
    "sms_send",
    "transactional_send",
    "transactional_send_many",
    "wecom_confirmations_poll",
    "wecom_payload",
]

logger = logging.getLogger(__name__)


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


# --- SMS delivery records ----------------------------------------------------------------


def sms_delivery_record(
    *,
    message_id: int,
    provider: str,
    purpose: str,
    provider_message_id: str,
    error_code: str = "",
    error_message: str = "",
) -> SmsDelivery:
    """Record what the provider answered when the relay handed it a text.

    Accepted (an id): the record is `submitted` under that id — a resend after a crash replaces
    the id, and the earlier id's receipt then finds nothing. Refused for good (no id): `failed`
    with the provider's code. A receipt that already arrived is never overwritten.
    """
    fields: dict[str, Any] = {
        "provider": provider,
        "purpose": purpose[:64],
        "provider_message_id": provider_message_id[:128],
        "submitted_at": clock.now(),
    }
    if provider_message_id:
        fields.update(status=SmsDeliveryStatus.SUBMITTED, error_code="", error_message="")
    else:
        fields.update(
            status=SmsDeliveryStatus.FAILED,
            error_code=error_code[:64],
            error_message=error_message[:255],
        )
    delivery, created = SmsDelivery.objects.get_or_create(message_id=message_id, defaults=fields)
    if not created:
        SmsDelivery.objects.filter(pk=message_id, receipt_received_at__isnull=True).update(**fields)
        delivery.refresh_from_db()
    return delivery


@dataclass(frozen=True)
class ReceiptsOutcome:
    recorded: int
    duplicates: int
    unknown: int


def _delivery_for(provider: str, receipt: SmsReceipt) -> SmsDelivery | None:
    found = SmsDelivery.objects.filter(
        provider=provider, provider_message_id=receipt.provider_message_id
    ).first()
    if found is not None or not receipt.reference.isdigit():
        return found
    # The provider echoed our own id (Alibaba out_id, Tencent ext): the receipt may have
    # overtaken the relay's record of the provider id. Only a text really sent through this
    # provider's channel is matched, never any other outbox row.
    message = OutboxMessage.objects.filter(pk=int(receipt.reference), channel=SMS_CHANNEL).first()
    if message is None:
        return None
    delivery, _ = SmsDelivery.objects.get_or_create(
        message=message,
        defaults={"provider": provider, "provider_message_id": receipt.provider_message_id},
    )
    if delivery.provider != provider:
        return None
    return delivery


def sms_receipts_record(*, provider: str, receipts: list[SmsReceipt]) -> ReceiptsOutcome:
    """Record delivery receipts pushed by a provider; safe to call again with the same push.

    The first receipt of a message decides its status (receipts are final reports; a provider
    that pushes again repeats the same one). Receipts for ids we never sent are logged and
    skipped — the provider must still get its acknowledgement, or it pushes them again.
    """
    recorded = duplicates = unknown = 0
    now = clock.now()
    for receipt in receipts:
        with transaction.atomic():
            delivery = _delivery_for(provider, receipt)
            if delivery is None:
                unknown += 1
                logger.warning(
                    "sms receipt from %s for unknown message id %s (reference %r) ignored",
                    provider,
                    receipt.provider_message_id[:64],
                    receipt.reference[:32],
                )
                continue
            # The conditional update is the idempotency: only a delivery still without a
            # receipt takes one, also when the same push is processed twice at once.
            taken = SmsDelivery.objects.filter(
                pk=delivery.pk, receipt_received_at__isnull=True
            ).update(
                provider_message_id=receipt.provider_message_id,
                status=(
                    SmsDeliveryStatus.DELIVERED if receipt.delivered else SmsDeliveryStatus.FAILED
                ),
                error_code=receipt.error_code[:64],
                error_message=receipt.error_message[:255],
                delivered_at=receipt.delivered_at if receipt.delivered else None,
                receipt_received_at=now,
            )
        if taken:
            recorded += 1
        else:
            duplicates += 1
    if recorded or unknown:
        logger.info(
            "sms receipts from %s: %s recorded, %s repeated, %s unknown",
            provider,
            recorded,
            duplicates,
            unknown,
        )
    return ReceiptsOutcome(recorded=recorded, duplicates=duplicates, unknown=unknown)
