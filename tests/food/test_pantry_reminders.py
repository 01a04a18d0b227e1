"""Expiry reminders (FD-2): on the right Shanghai date per storage class, through the marketing
policy (consent, caps, quiet hours), once per item whatever the number of runs."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.content.services import recipe_create
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import OutboxMessage
from freshloop.food.models import PantryItem, PantryReminderRule, PantryStatus
from freshloop.food.selectors import reminder_date
from freshloop.food.services import (
    PantryItemInput,
    pantry_item_add,
    pantry_item_close,
    pantry_reminders_send,
)
from freshloop.food.tasks import pantry_reminders
from freshloop.messaging.models import DispatchStatus, MarketingDispatch
from freshloop.messaging.services import marketing_opt_out, marketing_send
from tests.factories import make_person, make_sku

pytestmark = pytest.mark.django_db

SHANGHAI = clock.SHANGHAI
EXPIRES = dt.date(2026, 12, 10)


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A Shanghai wall-clock moment in December 2026."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def add(person_id: int, storage: str = "chilled", expires_on: dt.date = EXPIRES, **kw: object):
    with clock.frozen(local(1, 10)):
        return pantry_item_add(
            person_id=person_id,
            data=PantryItemInput(
                name=str(kw.get("name", "鲜牛奶")), storage=storage, expires_on=expires_on
            ),
        )


def dispatches(person_id: int) -> list[MarketingDispatch]:
    return list(MarketingDispatch.objects.filter(person_id=person_id, purpose="pantry_expiry"))


class TestReminderDate:
    @pytest.mark.parametrize(
        ("storage", "expected"),
        [
            ("chilled", dt.date(2026, 12, 8)),
            ("frozen", dt.date(2026, 11, 26)),
            ("ambient", dt.date(2026, 11, 10)),
        ],
    )
    def test_default_lead_time_per_storage_class(self, storage: str, expected: dt.date) -> None:
        item = add(make_person().pk, storage=storage)
        assert reminder_date(item) == expected

    def test_operator_rule_overrides_the_default(self) -> None:
        PantryReminderRule.objects.create(storage="chilled", days_before=3)
        item = add(make_person().pk)
        assert reminder_date(item) == dt.date(2026, 12, 7)


class TestPantryRemindersSend:
    def test_not_before_the_shanghai_reminder_date(self) -> None:
        # given a chilled item expiring 12-10 (reminder date 12-08)
        person = make_person()
        add(person.pk)
        # when the job runs at 23:30 on 12-07 Shanghai
        with clock.frozen(local(7, 23, 30)):
            run = pantry_reminders_send()
        # then nothing is sent
        assert run.messages == 0
        assert dispatches(person.pk) == []

    def test_the_shanghai_date_counts_not_the_utc_date(self) -> None:
        # given the same item; 01:00 on 12-08 in Shanghai is still 12-07 in UTC
        person = make_person()
        item = add(person.pk)
        moment = local(8, 1)
        assert moment.astimezone(dt.UTC).date() == dt.date(2026, 12, 7)
        with clock.frozen(moment):
            run = pantry_reminders_send()
        # then it is reminded — held for quiet hours (22:00–08:00), not dropped
        assert run.messages == 1
        [dispatch] = dispatches(person.pk)
        assert dispatch.status == DispatchStatus.HELD
        item.refresh_from_db()
        assert item.reminder_outcome == DispatchStatus.HELD

    def test_on_the_day_an_in_app_message_is_queued_with_the_reorder_link(self) -> None:
        # given a chilled item of our shop expiring 12-10
        person = make_person()
        sku = make_sku(name="鲜牛奶")
        with clock.frozen(local(1, 10)):
            from freshloop.food.models import PantryBarcode

            PantryBarcode.objects.create(ean="6901234567892", sku=sku)
            item = pantry_item_add(
                person_id=person.pk,
                data=PantryItemInput(barcode="6901234567892", expires_on=EXPIRES),
            )
        # when the daily job runs at 09:30 on 12-08 Shanghai
        with clock.frozen(local(8, 9, 30)):
            run = pantry_reminders_send()
        # then one in-app message names it and links to the one-tap reorder
        assert (run.messages, run.items) == (1, 1)
        [dispatch] = dispatches(person.pk)
        assert dispatch.status == DispatchStatus.QUEUED
        assert dispatch.channel == "in_app"
        message = OutboxMessage.objects.get(pk=dispatch.outbox_message_id)
        assert "鲜牛奶" in message.payload["body"]
        assert "还有 2 天到期" in message.payload["body"]
        assert message.payload["url"] == f"/m/pantry/{item.pk}/reorder"

    def test_frozen_and_ambient_items_are_reminded_earlier(self) -> None:
        person = make_person()
        frozen_item = add(person.pk, storage="frozen")
        ambient_item = add(make_person().pk, storage="ambient")
        with clock.frozen(local(9, 9, 30) - dt.timedelta(days=13)):  # 11-26
            pantry_reminders_send()
        frozen_item.refresh_from_db()
        ambient_item.refresh_from_db()
        assert frozen_item.reminded_at is not None
        assert ambient_item.reminded_at is not None  # due since 11-10: caught up

    def test_several_items_of_one_person_go_in_one_message(self) -> None:
        person = make_person()
        add(person.pk, name="鲜牛奶")
        add(person.pk, name="酸奶", expires_on=dt.date(2026, 12, 9))
        with clock.frozen(local(8, 9, 30)):
            run = pantry_reminders_send()
        assert (run.messages, run.items) == (1, 2)
        [dispatch] = dispatches(person.pk)
        body = OutboxMessage.objects.get(pk=dispatch.outbox_message_id).payload["body"]
        assert "酸奶" in body
        assert "鲜牛奶" in body
        assert body.index("酸奶") < body.index("鲜牛奶")  # soonest first

    def test_rerun_sends_nothing_twice(self) -> None:
        # given a reminder already sent today
        person = make_person()
        add(person.pk)
        with clock.frozen(local(8, 9, 30)):
            pantry_reminders_send()
            # when the job runs again the same day, and through huey the day after
            again = pantry_reminders_send()
        with clock.frozen(local(9, 9, 30)):
            pantry_reminders.call_local()
        # then there is still one message
        assert again.messages == 0
        assert len(dispatches(person.pk)) == 1
        assert OutboxMessage.objects.filter(channel="in_app").count() == 1

    def test_an_opted_out_person_gets_nothing_and_is_not_retried(self) -> None:
        # given a person who unsubscribed from in-app marketing
        person = make_person()
        item = add(person.pk)
        marketing_opt_out(
            actor=Actor.system("tests"), person_id=person.pk, channel="in_app", source="self"
        )
        # when the job runs on the reminder date and the day after
        with clock.frozen(local(8, 9, 30)):
            run = pantry_reminders_send()
        with clock.frozen(local(9, 9, 30)):
            pantry_reminders_send()
        # then no message is queued and the item is done
        assert (run.messages, run.suppressed) == (0, 1)
        [dispatch] = dispatches(person.pk)
        assert dispatch.status == DispatchStatus.SUPPRESSED
        assert dispatch.reason_code == "opted_out"
        assert not OutboxMessage.objects.filter(channel="in_app").exists()
        item.refresh_from_db()
        assert item.reminder_outcome == DispatchStatus.SUPPRESSED

    def test_over_the_daily_cap_it_is_tried_again_tomorrow(self) -> None:
        # given a person who already got a marketing in-app message today (cap 1 a day)
        person = make_person()
        item = add(person.pk)
        with clock.frozen(local(8, 9)):
            marketing_send(
                person_id=person.pk,
                channel="in_app",
                payload={"title": "活动", "body": "新品上市"},
                purpose="mass",
                source="mass:1",
                dedupe_key="mass:1:p",
            )
        # when the job runs that day, then the next
        with clock.frozen(local(8, 9, 30)):
            first = pantry_reminders_send()
        item.refresh_from_db()
        assert first.suppressed == 1
        assert item.reminded_at is None
        with clock.frozen(local(9, 9, 30)):
            second = pantry_reminders_send()
        # then the reminder goes out on the second day
        assert second.messages == 1
        item.refresh_from_db()
        assert item.reminder_outcome == DispatchStatus.QUEUED

    def test_closed_and_expired_items_are_not_reminded(self) -> None:
        person = make_person()
        used = add(person.pk)
        add(person.pk, expires_on=dt.date(2026, 12, 7))
        with clock.frozen(local(8, 9)):
            pantry_item_close(person_id=person.pk, item_id=used.pk, outcome=PantryStatus.USED)
        with clock.frozen(local(8, 9, 30)):
            run = pantry_reminders_send()
        assert run.messages == 0
        assert dispatches(person.pk) == []
        assert PantryItem.objects.filter(reminded_at__isnull=False).count() == 0

    def test_the_reminder_suggests_a_recipe_that_uses_the_item(self) -> None:
        # given eggs in a pantry, expiring 12-10, and a recipe that uses eggs
        recipe_create(name="鸡蛋饼", ingredient_lines=["鸡蛋 2 个"], actor=Actor.system("test"))
        person = make_person()
        add(person.pk, name="土鸡蛋")
        # when the reminder goes out on 12-08
        with clock.frozen(local(8, 9, 30)):
            pantry_reminders_send()
        # then it names the recipe
        [dispatch] = dispatches(person.pk)
        body = OutboxMessage.objects.get(pk=dispatch.outbox_message_id).payload["body"]
        assert "推荐做法：鸡蛋饼。" in body
