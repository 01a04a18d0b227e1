"""Expiry reminders for pantry items (FD-2): N days before the date on the pack, per storage
class, as an in-app marketing message through messaging's policy (consent, caps, quiet hours).

The reminder date is the Shanghai calendar date `expires_on − N`. The daily job
(`food.pantry_reminders`) reminds every active item whose reminder date has come and which
has not been reminded yet, so a job missed one day catches up the next; an item already past
its date is not reminded (nothing left to save).

One message per person per day lists all their items due (the default cap is one marketing
message a day per channel: one message per item would have the second suppressed). Its
dedupe key is the person and the Shanghai date; the items it names get `reminded_at` in the
same transaction as the send decision, so a rerun or a crash between people sends nothing
twice. What the policy decides:
- queued or held for quiet hours: the items are reminded;
- suppressed for consent (opted out, erased): the items are done too — never retried;
- suppressed by a frequency cap (another marketing message went out today): the items stay
  due and are tried again tomorrow, while they are still before their date.
An item that falls due after today's message went out waits for tomorrow's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from freshloop.catalog.models import StorageCondition
from freshloop.core import clock
from freshloop.food.locks import pantry_items_lock
from freshloop.food.models import PantryItem, PantryReminderRule, PantryStatus
from freshloop.food.pantry import recipes_for_pantry_item
from freshloop.messaging.models import DispatchStatus, MarketingDispatch
from freshloop.messaging.services import marketing_send

DEFAULT_DAYS_BEFORE: dict[str, int] = {
    StorageCondition.CHILLED.value: 2,
    StorageCondition.FROZEN.value: 14,
    StorageCondition.AMBIENT.value: 30,
}
REMINDER_CHANNEL = "in_app"
BATCH = 2000
RETRY_CODES = frozenset({"frequency_cap"})
"""Suppressions that pass: the items stay due and are tried again the next day."""


def days_before_by_storage() -> dict[str, int]:
    """The configured lead time per storage class (operator rows over the defaults)."""
    days = dict(DEFAULT_DAYS_BEFORE)
    days.update(dict(PantryReminderRule.objects.values_list("storage", "days_before")))
    return days


def reminder_date(item: PantryItem, days_before: dict[str, int] | None = None) -> dt.date:
    """The Shanghai date on which `item` is reminded."""
    table = days_before if days_before is not None else days_before_by_storage()
    return item.expires_on - dt.timedelta(days=table.get(item.storage, 2))


def reorder_url(item: PantryItem) -> str:
    return f"/m/pantry/{item.pk}/reorder"


def _message(items: list[PantryItem], today: dt.date) -> dict[str, str]:
    def when(item: PantryItem) -> str:
        days = (item.expires_on - today).days
        return "今天到期" if days == 0 else f"还有 {days} 天到期"

    first = items[0]
    if len(items) == 1:
        body = f"您的「{first.name}」{when(first)}（{first.expires_on:%m月%d日}），记得尽快享用哦。"
    else:
        names = "、".join(f"「{item.name}」{when(item)}" for item in items[:5])
        more = f"等 {len(items)} 件" if len(items) > 5 else ""
        body = f"您的{names}{more}，记得尽快享用哦。"
    recipes = recipes_for_pantry_item(item=first)
    if recipes:
        body += f"推荐做法：{recipes[0]['title']}。"
    payload = {"title": "食品临期提醒", "body": body, "url": "/m/pantry"}
    if len(items) == 1 and first.sku_id is not None:
        # One item of ours: the message opens the one-tap reorder (吃完了再来一份).
        body += "吃完了？点这里一键再来一份。"
        payload.update(body=body, url=reorder_url(first))
    return payload


@dataclass(frozen=True)
class ReminderRun:
    messages: int
    """Messages queued or held for quiet hours (one per person)."""
    items: int
    """Items those messages named."""
    suppressed: int
    """People not messaged (opted out, over a cap)."""


def _due_by_person(today: dt.date, days_before: dict[str, int]) -> dict[int, list[int]]:
    # The widest lead time bounds the query; each item's own class is checked exactly below.
    horizon = today + dt.timedelta(days=max(days_before.values()))
    due: dict[int, list[int]] = {}
    rows = (
        PantryItem.objects.filter(
            status=PantryStatus.ACTIVE,
            reminded_at__isnull=True,
            expires_on__gte=today,
            expires_on__lte=horizon,
        )
        .order_by("person_id", "expires_on", "pk")
        .values_list("pk", "person_id", "storage", "expires_on")
    )
    for item_id, person_id, storage, expires_on in rows.iterator(chunk_size=BATCH):
        if expires_on - dt.timedelta(days=days_before.get(storage, 2)) <= today:
            due.setdefault(person_id, []).append(item_id)
    return due


def _remind_person(
    person_id: int, item_ids: list[int], today: dt.date, days_before: dict[str, int]
) -> tuple[str, int] | None:
    """Decide and send one person's digest in one transaction with the items' marks."""
    key = f"pantry-expiry:{person_id}:{today.isoformat()}"
    with transaction.atomic():
        if MarketingDispatch.objects.filter(dedupe_key=key).exists():
            return None  # today's message went out: later arrivals wait for tomorrow
        items = [
            item
            for item in pantry_items_lock(item_ids=item_ids)
            if item.status == PantryStatus.ACTIVE
            and item.reminded_at is None
            and reminder_date(item, days_before) <= today <= item.expires_on
        ]
        if not items:
            return None
        items.sort(key=lambda item: (item.expires_on, item.pk))
        dispatch = marketing_send(
            person_id=person_id,
            channel=REMINDER_CHANNEL,
            payload=_message(items, today),
            purpose="pantry_expiry",
            source=f"pantry:{today.isoformat()}",
            dedupe_key=key,
        )
        if dispatch.status == DispatchStatus.SUPPRESSED and dispatch.reason_code in RETRY_CODES:
            return dispatch.status, 0
        now = clock.now()
        for item in items:
            item.reminded_at = now
            item.reminder_outcome = dispatch.status
            item.save(update_fields=["reminded_at", "reminder_outcome"])
        return dispatch.status, len(items)


def pantry_reminders_send() -> ReminderRun:
    """Remind every item due today (Shanghai). Safe to run any number of times."""
    today = clock.to_shanghai(clock.now()).date()
    days_before = days_before_by_storage()
    messages = items = suppressed = 0
    for person_id, item_ids in _due_by_person(today, days_before).items():
        outcome = _remind_person(person_id, item_ids, today, days_before)
        if outcome is None:
            continue
        status, count = outcome
        if status == DispatchStatus.SUPPRESSED:
            suppressed += 1
        else:
            messages += 1
            items += count
    return ReminderRun(messages=messages, items=items, suppressed=suppressed)
