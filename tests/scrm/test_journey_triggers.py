"""The triggers that find their customers themselves: a segment's newcomers (进入人群), an
unused coupon about to end (优惠券即将过期), a birthday N days ahead (生日) — each enrols once
per occurrence however often it runs or is delivered — their settings, and the placeholders
a message fills from them."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.outbox import outbox_relay
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.models import Segment
from freshloop.datahub.segments.events import SegmentMembersJoined
from freshloop.datahub.segments.services import segment_materialise, segment_save
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import Person
from freshloop.identity.services import IdentifierInput, identify, person_erase
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.selectors import wecom_sandbox_messages_for_contact
from freshloop.promotions.models import Coupon, CouponStatus
from freshloop.scrm.errors import JourneyInvalid
from freshloop.scrm.models import Journey, JourneyEnrollment, JourneyTrigger, WecomContact
from freshloop.scrm.services import (
    birthdays_enroll,
    coupons_expiring_enroll,
    journey_create,
    journey_status_set,
    journey_version_publish,
    journeys_run_due,
    segment_joined_enroll,
)
from freshloop.scrm.triggers import birthday_month_day, message_text_render
from tests.factories import give_coupon, make_person, next_phone
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, 4 December
VIP_ONLY = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": "VIP"}]}
HELLO = [{"type": "task", "title": "回访", "due_minutes": 60}]


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    path = tmp_path / "events.duckdb"
    settings.DATAHUB_STORE_PATH = path
    return EventStore(path)


@pytest.fixture
def at(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[..., Any]:
    """`with at(MORNING, 11):` — that moment plus minutes, after-commit handlers included."""

    @contextlib.contextmanager
    def moment(start: dt.datetime, minutes: float = 0) -> Iterator[None]:
        with (
            clock.frozen(start + dt.timedelta(minutes=minutes)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            yield

    return moment


def draft(trigger: str, config: Any = None) -> Journey:
    return journey_create(
        name="测试旅程", trigger=trigger, trigger_config=config, steps=HELLO, actor=OPERATOR
    )


def running(
    trigger: str,
    config: dict[str, Any] | None = None,
    steps: list[dict[str, Any]] | None = None,
) -> Journey:
    journey = journey_create(
        name="测试旅程",
        trigger=trigger,
        trigger_config=config,
        steps=steps or HELLO,
        actor=OPERATOR,
    )
    return journey_status_set(journey=journey, status="active", actor=OPERATOR)


def keys(journey: Journey) -> list[tuple[int, str]]:
    return sorted(
        JourneyEnrollment.objects.filter(journey=journey).values_list("person_id", "trigger_key")
    )


def vip(*people: Person) -> None:
    for person in people:
        manual_tag_add(person=person, tag="VIP", actor=OPERATOR)


class TestTriggerConfigCheck:
    def test_a_segment_journey_needs_an_existing_segment(self) -> None:
        for config in (None, {}, {"segment_id": 999}, {"segment_id": "1"}, {"segment_id": True}):
            with pytest.raises(JourneyInvalid) as raised:
                draft("segment_joined", config)
            assert raised.value.detail == [
                {"field": "trigger_config.segment_id", "message": "请选择一个存在的人群"}
            ]
        assert not Journey.objects.exists()

    def test_days_default_and_range(self) -> None:
        coupon = journey_create(name="券", trigger="coupon_expiring", steps=HELLO, actor=OPERATOR)
        birthday = journey_create(name="生日", trigger="birthday", steps=HELLO, actor=OPERATOR)
        assert (coupon.trigger_config, birthday.trigger_config) == ({"days": 3}, {"days": 0})
        for days in (-1, 31, 2.5, "3", None):
            with pytest.raises(JourneyInvalid) as raised:
                draft("coupon_expiring", {"days": days})
            assert raised.value.detail[0]["field"] == "trigger_config.days"

    def test_triggers_without_settings_store_none(self) -> None:
        journey = draft("order_paid", {"days": 3})
        assert journey.trigger_config == {}

    def test_a_message_may_only_use_the_triggers_placeholders(self) -> None:
        journey = running(JourneyTrigger.COUPON_EXPIRING, {"days": 3})
        with pytest.raises(JourneyInvalid) as raised:
            journey_version_publish(
                journey=journey,
                steps=[{"type": "message", "text": "欢迎加入{segment_name}"}],
                actor=OPERATOR,
            )
        assert raised.value.detail[0]["field"] == "steps.0.text"
        assert "{segment_name}" in raised.value.detail[0]["message"]
        assert "{coupon_name}" in raised.value.detail[0]["message"]


class TestSegmentJoined:
    def test_only_newcomers_enter_once_per_materialisation_and_replays_enrol_nobody_twice(
        self, store: EventStore, at: Callable[..., Any]
    ) -> None:
        # given a VIP segment already holding 老客 when the journey is made
        old, new = make_person(), make_person()
        vip(old)
        with at(MORNING):
            segment = segment_materialise(
                segment=segment_save(name="VIP", definition=VIP_ONLY, actor=OPERATOR), store=store
            )
        journey = running(JourneyTrigger.SEGMENT_JOINED, {"segment_id": segment.pk})
        # when 新客 becomes VIP and the segment is materialised
        vip(new)
        with at(MORNING, 60):
            segment = segment_materialise(segment=segment, store=store)
        # then only the newcomer entered, keyed on that materialisation
        stamp = segment.materialised_at
        assert stamp is not None
        key = f"seg:{segment.pk}:{stamp.isoformat()}"
        assert keys(journey) == [(new.pk, key)]
        entry = JourneyEnrollment.objects.get()
        assert entry.context == {"segment_id": segment.pk, "segment_name": "VIP"}
        # when the segment is materialised again (nobody new) and the event is delivered again
        with at(MORNING, 120):
            segment_materialise(segment=segment, store=store)
            publish(
                SegmentMembersJoined(
                    segment_id=segment.pk,
                    segment_name="VIP",
                    person_ids=(new.pk,),
                    materialised_at=stamp,
                )
            )
        # then the newcomer is still in once: the replay met the same key
        assert keys(journey) == [(new.pk, key)]

    def test_a_journey_on_another_segment_or_not_running_is_left_alone(
        self, store: EventStore, at: Callable[..., Any]
    ) -> None:
        other = segment_save(name="其他", definition=VIP_ONLY, actor=OPERATOR)
        mine = segment_save(name="我的", definition=VIP_ONLY, actor=OPERATOR)
        elsewhere = running(JourneyTrigger.SEGMENT_JOINED, {"segment_id": other.pk})
        paused = running(JourneyTrigger.SEGMENT_JOINED, {"segment_id": mine.pk})
        journey_status_set(journey=paused, status="paused", actor=OPERATOR)
        person = make_person()
        vip(person)
        with at(MORNING):
            segment_materialise(segment=mine, store=store)
        assert keys(elsewhere) == keys(paused) == []

    def test_erased_people_do_not_enter(self) -> None:
        segment = segment_save(name="VIP", definition=VIP_ONLY, actor=OPERATOR)
        journey = running(JourneyTrigger.SEGMENT_JOINED, {"segment_id": segment.pk})
        kept, erased = make_person(), make_person()
        person_erase(actor=OPERATOR, one_id=erased.one_id, reason="用户申请注销")
        with clock.frozen(MORNING):
            entered = segment_joined_enroll(
                segment_id=segment.pk,
                segment_name="VIP",
                person_ids=[kept.pk, erased.pk],
                materialised_at=MORNING,
            )
        assert entered == 1
        assert [person for person, _ in keys(journey)] == [kept.pk]

    def test_a_large_segment_is_announced_in_parts(
        self, store: EventStore, at: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("freshloop.datahub.segments.services.JOINED_CHUNK", 2)
        segment = segment_save(name="VIP", definition=VIP_ONLY, actor=OPERATOR)
        journey = running(JourneyTrigger.SEGMENT_JOINED, {"segment_id": segment.pk})
        people = [make_person() for _ in range(5)]
        vip(*people)
        with at(MORNING):
            segment_materialise(segment=segment, store=store)
        assert sorted(person for person, _ in keys(journey)) == sorted(p.pk for p in people)
        assert len({key for _, key in keys(journey)}) == 1


class TestCouponsExpiring:
    def test_each_unused_coupon_within_the_days_enrols_its_holder_once(self) -> None:
        with clock.frozen(MORNING):
            journey = running(JourneyTrigger.COUPON_EXPIRING, {"days": 3})
            soon = coupon_template(
                "soon", name="鲜奶立减5元", valid_until=MORNING + dt.timedelta(days=2)
            )
            later = coupon_template(
                "later", name="远期券", valid_until=MORNING + dt.timedelta(days=5)
            )
            also_soon = coupon_template(
                "also", name="水果券", valid_until=MORNING + dt.timedelta(days=1)
            )
            holder, user = make_person(), make_person()
            first = give_coupon(holder, soon)
            second = give_coupon(holder, also_soon)
            give_coupon(holder, later)
            used = give_coupon(user, soon)
            Coupon.objects.filter(pk=used.pk).update(status=CouponStatus.USED)
        # when the hourly job runs, and again an hour later
        with clock.frozen(MORNING):
            assert coupons_expiring_enroll() == 2
        with (
            clock.frozen(MORNING + dt.timedelta(hours=1)),
            CaptureQueriesContext(connection) as queries,
        ):
            assert coupons_expiring_enroll() == 0
        # (the coupons already entered are not even offered to the unique key again)
        assert not [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
        # then the holder entered once per expiring coupon, with the coupon for the message
        assert keys(journey) == sorted(
            [(holder.pk, f"coupon:{first.pk}"), (holder.pk, f"coupon:{second.pk}")]
        )
        context = JourneyEnrollment.objects.get(trigger_key=f"coupon:{first.pk}").context
        assert context["coupon_name"] == "鲜奶立减5元"
        assert context["coupon_expires"] == "12月6日 10:00"
        assert context["days_left"] == 2

    def test_days_count_shanghai_calendar_days_0_is_today(self) -> None:
        # MORNING is 10:00 on 4 December in Shanghai
        with clock.frozen(MORNING):
            journey = running(JourneyTrigger.COUPON_EXPIRING, {"days": 0})
            tonight = coupon_template(
                "tonight", valid_until=dt.datetime(2026, 12, 4, 15, 59, tzinfo=dt.UTC)
            )  # 23:59 in Shanghai
            after_midnight = coupon_template(
                "later", valid_until=dt.datetime(2026, 12, 4, 16, 30, tzinfo=dt.UTC)
            )  # 00:30 on the 5th
            person = make_person()
            today = give_coupon(person, tonight)
            give_coupon(person, after_midnight)
            assert coupons_expiring_enroll() == 1
        assert keys(journey) == [(person.pk, f"coupon:{today.pk}")]
        assert JourneyEnrollment.objects.get().context["days_left"] == 0

    def test_the_days_setting_widens_the_window(self) -> None:
        with clock.frozen(MORNING):
            journey = running(JourneyTrigger.COUPON_EXPIRING, {"days": 7})
            template = coupon_template("later", valid_until=MORNING + dt.timedelta(days=5))
            coupon = give_coupon(make_person(), template)
            assert coupons_expiring_enroll() == 1
        assert [key for _, key in keys(journey)] == [f"coupon:{coupon.pk}"]


def contact(external_userid: str) -> None:
    publish(
        WecomContactChanged(
            corp_id="ww_sandbox",
            change_type="add_external_contact",
            staff_userid="fl_staff_lin",
            external_userid=external_userid,
            wecom_time=int(clock.now().timestamp()),
            event_key=f"add:{external_userid}",
            state="",
        )
    )


class TestMessagePlaceholders:
    def test_the_coupon_expiring_message_names_the_coupon_and_its_end(
        self, at: Callable[..., Any]
    ) -> None:
        cache.clear()  # the WeCom sandbox keeps its directory in the cache
        running(
            JourneyTrigger.COUPON_EXPIRING,
            {"days": 3},
            [{"type": "message", "text": "您的「{coupon_name}」将于 {coupon_expires} 过期"}],
        )
        with at(MORNING):
            contact("wm_sandbox_0002")
        with at(MORNING):
            holder = WecomContact.objects.get(external_userid="wm_sandbox_0002").person
            give_coupon(
                holder,
                coupon_template(
                    "soon", name="鲜奶立减5元", valid_until=MORNING + dt.timedelta(days=1)
                ),
            )
            coupons_expiring_enroll()
        with at(MORNING, 1):
            journeys_run_due()
            outbox_relay()
        phone = wecom_sandbox_messages_for_contact(external_userid="wm_sandbox_0002")
        assert [message.text for message in phone] == ["您的「鲜奶立减5元」将于 12月5日 10:00 过期"]
        cache.clear()

    def test_a_missing_value_shows_its_label_and_unknown_braces_stay(self) -> None:
        text = "{segment_name} 欢迎 {nickname} {coupon_name}"
        assert (
            message_text_render(text, {"segment_name": "VIP"})
            == "VIP 欢迎 {nickname} 【优惠券名称】"
        )


def born(birthday: Any) -> Person:
    return identify(
        identifiers=[IdentifierInput(type="phone", value=next_phone(), verified=True)],
        traits={"birthday": birthday},
        source="test",
    ).person


class TestBirthdays:
    def test_people_whose_birthday_is_the_days_ahead_enter_once_a_year(self) -> None:
        on_the_day = running(JourneyTrigger.BIRTHDAY, {"days": 0})
        ahead = running(JourneyTrigger.BIRTHDAY, {"days": 3})
        today, in_three_days, other = born("1990-12-04"), born(19851207), born("03-07")
        # when the 09:00 job runs (01:00 UTC on 4 December), twice
        nine = dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC)
        with clock.frozen(nine):
            assert birthdays_enroll() == 2
            assert birthdays_enroll() == 0
        # then each entered the journey for their day, keyed on the year
        assert keys(on_the_day) == [(today.pk, "birthday:2026")]
        assert keys(ahead) == [(in_three_days.pk, "birthday:2026")]
        assert JourneyEnrollment.objects.get(journey=ahead).context == {
            "birthday": "12月7日",
            "days_left": 3,
        }
        assert other.pk not in {p for p, _ in keys(on_the_day) + keys(ahead)}
        # and next year they enter again
        with clock.frozen(nine.replace(year=2027)):
            assert birthdays_enroll() == 2
        assert len(keys(on_the_day)) == 2

    def test_shanghai_decides_the_day(self) -> None:
        journey = running(JourneyTrigger.BIRTHDAY, {"days": 0})
        person = born("2000-12-05")
        # 17:00 UTC on 4 December is already 01:00 on 5 December in Shanghai
        with clock.frozen(dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.UTC)):
            birthdays_enroll()
        assert keys(journey) == [(person.pk, "birthday:2026")]

    def test_29_february_is_kept_on_the_28th_in_other_years(self) -> None:
        journey = running(JourneyTrigger.BIRTHDAY, {"days": 0})
        person = born("2000-02-29")
        with clock.frozen(dt.datetime(2027, 2, 28, 1, 0, tzinfo=dt.UTC)):
            birthdays_enroll()
        assert keys(journey) == [(person.pk, "birthday:2027")]


class TestBirthdayMonthDay:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("1990-03-07", (3, 7)),
            ("1990/3/7", (3, 7)),
            (19900307, (3, 7)),
            ("03-07", (3, 7)),
            ("2000-02-29", (2, 29)),
            ("1990-02-30", None),
            ("生日", None),
            (True, None),
            (None, None),
            ("", None),
        ],
    )
    def test_formats(self, value: Any, expected: tuple[int, int] | None) -> None:
        assert birthday_month_day(value) == expected


class TestSegmentDeletedLater:
    def test_the_journey_says_its_segment_is_gone(self) -> None:
        from freshloop.scrm.triggers import trigger_config_text

        segment = segment_save(name="VIP", definition=VIP_ONLY, actor=OPERATOR)
        journey = running(JourneyTrigger.SEGMENT_JOINED, {"segment_id": segment.pk})
        assert trigger_config_text(journey) == "人群：VIP"
        Segment.objects.filter(pk=segment.pk).delete()
        assert trigger_config_text(journey) == "人群：（已删除）"
