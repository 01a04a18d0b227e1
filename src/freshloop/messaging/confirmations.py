"""What became of WeCom sends a staff member must confirm (企业群发 → 确认发送).

`add_msg_template` only *creates* a send task; the customer gets the message once the staff
member taps 发送 in their WeCom. Until then the decision is `pending_confirmation` (it counts
against the caps, as WeCom's own limit does). This poll asks WeCom
(`get_groupmsg_send_result`, per message id and sender) and records each recipient's outcome:

| WeCom status | decision |
|---|---|
| 1 sent | `sent`, at WeCom's send time |
| 2 not a contact any more | `failed`: 客户已不是员工的好友 |
| 3 already got a mass message | `failed`: WeCom's per-customer limit |
| 0 not yet confirmed | stays pending; after `CONFIRM_DAYS` days `failed`: 员工未确认发送 |

Failed decisions stop counting against the caps. Repeating a poll changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from freshloop.core import clock
from freshloop.messaging.errors import WecomError
from freshloop.messaging.marketing import marketing_confirmation_record
from freshloop.messaging.models import DispatchStatus, MarketingDispatch
from freshloop.messaging.wecom import WecomClient, wecom_client
from freshloop.messaging.wecom.sender import WECOM_CHANNEL

logger = logging.getLogger(__name__)

# How long a staff member has to confirm before the send counts as not made. WeCom keeps the
# task in the staff member's list; three days is the longest a win-back or promotion message
# stays relevant (written down in docs/scrm.md).
CONFIRM_DAYS = 3
SENT, NOT_A_CONTACT, LIMIT_REACHED = 1, 2, 3
_FAILURE_REASONS = {
    NOT_A_CONTACT: "客户已不是员工的好友",
    LIMIT_REACHED: "客户已收到过企业群发（企业微信的接收上限）",
}


@dataclass(frozen=True)
class ConfirmationPoll:
    asked: int  # (message, sender) pairs asked about
    sent: int
    failed: int
    expired: int
    waiting: int


def _pending_by_task(since: dt.datetime) -> dict[tuple[str, str], dict[str, int]]:
    """(WeCom msgid, sender userid) → {external_userid: outbox message id} still pending."""
    rows = (
        MarketingDispatch.objects.filter(
            channel=WECOM_CHANNEL,
            status=DispatchStatus.PENDING_CONFIRMATION,
            queued_at__gte=since,
        )
        .exclude(outbox_message__provider_message_id="")
        .values_list(
            "outbox_message_id",
            "outbox_message__provider_message_id",
            "outbox_message__payload",
            "outbox_message__destination",
        )
    )
    tasks: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for outbox_id, msgid, payload, external_userid in rows:
        sender = str((payload or {}).get("sender", ""))
        tasks[(msgid, sender)][external_userid] = outbox_id
    return tasks


def _statuses(client: WecomClient, msgid: str, sender: str) -> dict[str, tuple[int, int]]:
    """external_userid → (status, send_time) for one sender's part of one message."""
    found: dict[str, tuple[int, int]] = {}
    cursor = ""
    while True:
        page = client.groupmsg_send_result(msgid=msgid, userid=sender, cursor=cursor)
        for item in page.items:
            found[item.external_userid] = (item.status, item.send_time)
        if not page.next_cursor:
            return found
        cursor = page.next_cursor


def _expire(now: dt.datetime) -> int:
    """Sends nobody confirmed within CONFIRM_DAYS: not made."""
    stale = MarketingDispatch.objects.filter(
        channel=WECOM_CHANNEL,
        status=DispatchStatus.PENDING_CONFIRMATION,
        queued_at__lt=now - dt.timedelta(days=CONFIRM_DAYS),
    ).values_list("outbox_message_id", flat=True)
    return sum(
        marketing_confirmation_record(
            outbox_message_id=outbox_id, sent=False, reason=f"员工 {CONFIRM_DAYS} 天内未确认发送"
        )
        for outbox_id in list(stale)
        if outbox_id is not None
    )


def wecom_confirmations_poll(
    *, client: WecomClient | None = None, now: dt.datetime | None = None
) -> ConfirmationPoll:
    """Ask WeCom what became of the pending confirmations of the last CONFIRM_DAYS days and
    record it. A call WeCom refuses for one message is logged and the rest carry on; a
    retryable failure (rate limit, WeCom busy) stops this round — the next one asks again."""
    moment = now or clock.now()
    client = client or wecom_client()
    sent = failed = waiting = asked = 0
    tasks = _pending_by_task(moment - dt.timedelta(days=CONFIRM_DAYS))
    for (msgid, sender), recipients in sorted(tasks.items()):
        try:
            statuses = _statuses(client, msgid, sender)
        except WecomError as error:
            if error.retryable:
                logger.warning("WeCom send results unavailable (%s); next round", error.errcode)
                break
            logger.warning("WeCom refused the send result of %s: %s", msgid, error.errcode)
            continue
        asked += 1
        for external_userid, outbox_id in recipients.items():
            status, send_time = statuses.get(external_userid, (0, 0))
            if status == SENT:
                at = dt.datetime.fromtimestamp(send_time, tz=dt.UTC) if send_time else moment
                sent += marketing_confirmation_record(
                    outbox_message_id=outbox_id, sent=True, sent_at=at
                )
            elif status in _FAILURE_REASONS:
                failed += marketing_confirmation_record(
                    outbox_message_id=outbox_id, sent=False, reason=_FAILURE_REASONS[status]
                )
            else:
                waiting += 1
    expired = _expire(moment)
    return ConfirmationPoll(asked=asked, sent=sent, failed=failed, expired=expired, waiting=waiting)
