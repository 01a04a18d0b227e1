"""Daily check-in: once per Asia/Shanghai day (also under concurrency), streaks that grow and
reset, points through the membership ledger, the keyword path, the H5 API and page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from freshloop.community.checkin import checkin_calendar, checkin_current_streak, checkin_do
from freshloop.community.models import AssistantReply, CheckIn
from freshloop.core import clock
from freshloop.core.clock import SHANGHAI
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.membership.models import Membership, PointsEntry
from tests.community.helpers import SECRET, make_rule, message, signed_post, use_community
from tests.concurrency import errors_of, run_at_once
from tests.factories import make_person

pytestmark = pytest.mark.django_db

DAY_ONE = dt.datetime(2027, 3, 1, 9, 0, tzinfo=SHANGHAI)


def balance(person: Person) -> int:
    membership = Membership.objects.filter(person=person).first()
    return membership.points_balance if membership is not None else 0


def on_day(offset: int, hour: int = 9) -> Any:
    return clock.frozen(DAY_ONE + dt.timedelta(days=offset, hours=hour - 9))


class TestCheckinDo:
    def test_first_checkin_gives_the_daily_points(self) -> None:
        person = make_person()
        with on_day(0):
            result = checkin_do(person_id=person.pk)
        assert not result.already
        assert (result.checkin.day, result.checkin.streak, result.checkin.points) == (
            dt.date(2027, 3, 1),
            1,
            5,
        )
        assert balance(person) == 5
        entry = PointsEntry.objects.get(person=person)
        assert "每日签到" in entry.reason

    def test_a_second_checkin_the_same_day_changes_nothing(self) -> None:
        person = make_person()
        with on_day(0):
            checkin_do(person_id=person.pk)
        with on_day(0, hour=23):
            again = checkin_do(person_id=person.pk)
        assert again.already
        assert again.checkin.points == 5
        assert balance(person) == 5
        assert CheckIn.objects.count() == 1

    def test_the_day_is_shanghais_not_utcs(self) -> None:
        # given 07:30 in Shanghai is 23:30 UTC of the day before
        person = make_person()
        with on_day(0, hour=7):
            assert checkin_do(person_id=person.pk).checkin.day == dt.date(2027, 3, 1)
        # and 00:10 the next Shanghai day is a new day although UTC is still the same date
        with clock.frozen(dt.datetime(2027, 3, 2, 0, 10, tzinfo=SHANGHAI)):
            result = checkin_do(person_id=person.pk)
        assert not result.already
        assert result.checkin.streak == 2

    def test_a_seven_day_streak_earns_the_bonus_and_a_gap_resets_it(self) -> None:
        person = make_person()
        for day in range(7):
            with on_day(day):
                result = checkin_do(person_id=person.pk)
        assert result.checkin.streak == 7
        assert result.checkin.points == 5 + 20
        assert balance(person) == 7 * 5 + 20
        with on_day(9):  # day 8 skipped
            broken = checkin_do(person_id=person.pk)
        assert broken.checkin.streak == 1
        assert broken.checkin.points == 5

    def test_amounts_follow_the_settings(self, settings: Any) -> None:
        use_community(settings, checkin_points=2, checkin_bonus=10, checkin_bonus_every=2)
        person = make_person()
        with on_day(0):
            assert checkin_do(person_id=person.pk).checkin.points == 2
        with on_day(1):
            assert checkin_do(person_id=person.pk).checkin.points == 12

    def test_calendar_and_current_streak(self) -> None:
        person = make_person()
        for day in (0, 1, 3, 4):
            with on_day(day):
                checkin_do(person_id=person.pk)
        with on_day(4, hour=20):
            calendar = checkin_calendar(person_id=person.pk, days=7)
            assert checkin_current_streak(person_id=person.pk) == 2
        assert [d["checked"] for d in calendar] == [False, False, True, True, False, True, True]
        assert calendar[-1]["today"]
        with on_day(6):  # yesterday missed too: the streak is gone
            assert checkin_current_streak(person_id=person.pk) == 0


@pytest.mark.django_db(transaction=True)
class TestCheckinConcurrency:
    def test_two_checkins_at_once_count_one_and_pay_once(self) -> None:
        for _ in range(3):
            person = make_person()
            outcomes = run_at_once([lambda p=person.pk: checkin_do(person_id=p)] * 2)
            assert errors_of(outcomes) == []
            assert sorted(o.value.already for o in outcomes if o.value) == [False, True]
            assert CheckIn.objects.filter(person=person).count() == 1
            assert balance(person) == 5


class TestCheckinByKeyword:
    @pytest.fixture(autouse=True)
    def secret(self, settings: Any) -> None:
        use_community(settings, inbound_secret=SECRET)

    def test_typing_the_keyword_checks_the_sender_in_and_prepares_a_reply(
        self, client: Client
    ) -> None:
        make_rule(
            name="签到",
            match="regex",
            pattern="^签到$",
            reply_kind="checkin",
            reply_text="",
            cooldown_seconds=0,
        )
        body = signed_post(client, {"messages": [message("签到", sender="wmNew")]}).json()
        assert body["replies_prepared"] == 1
        checkin = CheckIn.objects.get()
        assert checkin.channel == "keyword"
        assert checkin.streak == 1
        assert (
            AssistantReply.objects.get().content == "签到成功！已连续签到 1 天，本次获得 5 积分。"
        )
        # the same person again today: no second check-in, no second reply
        again = signed_post(client, {"messages": [message("签到", sender="wmNew")]}).json()
        assert again["replies_prepared"] == 0
        assert CheckIn.objects.count() == 1

    def test_the_cooldown_limits_replies_not_checkins(self, client: Client) -> None:
        make_rule(name="签到", pattern="签到", reply_kind="checkin", cooldown_seconds=600)
        batch = {"messages": [message("签到", sender=f"wm{n}") for n in range(3)]}
        assert signed_post(client, batch).json()["replies_prepared"] == 1
        assert CheckIn.objects.count() == 3


class TestCheckinApiAndPage:
    def test_the_buyer_checks_in_through_the_api(self, client: Client) -> None:
        person = make_person()
        token, _ = consumer_token_issue(person=person, method="otp")
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        first = client.post(
            "/api/v1/community/checkin", {}, content_type="application/json", **auth
        )
        assert first.status_code == 200, first.content
        assert first.json()["streak"] == 1
        assert first.json()["already"] is False
        again = client.post(
            "/api/v1/community/checkin", {}, content_type="application/json", **auth
        )
        assert again.json()["already"] is True
        assert balance(person) == 5

    def test_anonymous_is_refused(self, client: Client) -> None:
        response = client.post("/api/v1/community/checkin", {}, content_type="application/json")
        assert response.status_code == 401

    def test_the_page_sends_anonymous_buyers_to_login(self, client: Client) -> None:
        response = client.get("/m/checkin")
        assert response.status_code == 302
        assert response["Location"] == "/m/login?next=/m/checkin"
