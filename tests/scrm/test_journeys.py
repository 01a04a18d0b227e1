"""SOP journeys: a trigger enrols a customer once, steps run in order exactly once, waits are
scheduled, a condition that no longer holds ends the journey, and customers finish the version
they entered. The abandoned live cart is the trigger the issue asks for first."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.datahub.tags.selectors import manual_tags_list
from freshloop.live.models import LiveAction
from freshloop.live.room.carts import carts_abandon_due
from freshloop.live.room.services import product_action
from freshloop.promotions.models import Coupon
from freshloop.scrm.errors import JourneyInvalid, JourneyNotRunnable
from freshloop.scrm.models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStepRun,
    JourneyTrigger,
    StaffTask,
)
from freshloop.scrm.selectors import journey_stats
from freshloop.scrm.services import (
    journey_create,
    journey_enroll,
    journey_status_set,
    journey_test_run,
    journey_version_publish,
    journeys_run_due,
)
from tests.factories import make_person, make_sku
from tests.live.helpers import make_session
from tests.orders.helpers import buy, coupon_template, pay

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
START = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def at(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[[float], Any]:
    """`with at(11):` — the clock at START + 11 minutes, and what commits there runs its
    after-commit handlers (durable triggers included) before the block ends."""

    @contextlib.contextmanager
    def moment(minutes: float) -> Iterator[None]:
        with (
            clock.frozen(START + dt.timedelta(minutes=minutes)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            yield

    return moment


def win_back_steps(template_id: int) -> list[dict[str, Any]]:
    """The issue's example: a coupon now, then after 2 hours, if still unpaid, a call-back."""
    return [
        {"type": "coupon", "template_id": template_id},
        {"type": "wait", "minutes": 120},
        {"type": "condition", "check": "unpaid_since_entry"},
        {"type": "task", "title": "回访：直播间加购仍未支付", "due_minutes": 60},
    ]


def running_journey(
    steps: list[dict[str, Any]], trigger: str = JourneyTrigger.LIVE_CART_ABANDONED
) -> Any:
    journey = journey_create(name="直播加购挽回", trigger=trigger, steps=steps, actor=OPERATOR)
    return journey_status_set(journey=journey, status="active", actor=OPERATOR)


def abandon_a_cart(at: Callable[[float], Any]) -> tuple[Any, Any]:
    """A viewer adds the milk in a room at START and leaves; the minute job at +11 finds it."""
    milk = make_sku(stock=9, price_fen=3000, name="鲜牛奶")
    session = make_session(skus=[milk])
    viewer = make_person()
    with at(0):
        product_action(
            session=session, person=viewer, action=LiveAction.ADD_TO_CART, sku_id=milk.pk
        )
    with at(11):
        carts_abandon_due()
    return viewer, milk


class TestSteps:
    def test_every_wrong_field_is_named(self) -> None:
        with pytest.raises(JourneyInvalid) as refused:
            journey_create(
                name="坏旅程",
                trigger=JourneyTrigger.LIVE_CART_ABANDONED,
                steps=[
                    {"type": "wait", "minutes": 0},
                    {"type": "coupon", "template_id": 999999},
                    {"type": "teleport"},
                    {"type": "task", "title": " ", "due_minutes": 30},
                ],
                actor=OPERATOR,
            )
        fields = [problem["field"] for problem in refused.value.detail]
        assert fields == ["steps.0.minutes", "steps.1.template_id", "steps.2.type", "steps.3.title"]
        assert refused.value.status == 422

    def test_a_group_invitation_must_be_a_link(self) -> None:
        # given a message inviting to a group by something that is not a link
        with pytest.raises(JourneyInvalid) as refused:
            journey_create(
                name="邀请入群",
                trigger=JourneyTrigger.ORDER_PAID,
                steps=[
                    {"type": "message", "text": "欢迎入群", "invite_url": "javascript:alert(1)"}
                ],
                actor=OPERATOR,
            )
        # then the field is named
        assert [p["field"] for p in refused.value.detail] == ["steps.0.invite_url"]

    def test_a_journey_without_steps_is_refused_and_cannot_start(self) -> None:
        with pytest.raises(JourneyInvalid):
            journey_create(name="空", trigger="order_paid", steps=[], actor=OPERATOR)


class TestAbandonedCartWinBack:
    def test_coupon_now_then_a_task_when_still_unpaid_after_two_hours(
        self, at: Callable[[float], Any]
    ) -> None:
        # given the win-back journey running, and a viewer whose live cart was abandoned
        template = coupon_template(
            code="winback5", name="回来立减5元", kind="fixed", amount_off_fen=500, threshold_fen=0
        )
        journey = running_journey(win_back_steps(template.pk))
        viewer, _ = abandon_a_cart(at)
        enrollment = JourneyEnrollment.objects.get()
        assert enrollment.person_id == viewer.pk
        assert enrollment.context["sku_ids"]

        # when the runner goes at +11: the coupon is issued and the wait scheduled
        with at(11):
            assert journeys_run_due().steps == 1
        assert Coupon.objects.get(person=viewer).template_id == template.pk
        with at(60):
            assert journeys_run_due().enrollments == 0  # still waiting
        # and after the two hours: still unpaid, so the staff task is created
        with at(132):
            assert journeys_run_due().steps == 2
        task = StaffTask.objects.get()
        assert (task.person_id, task.title) == (viewer.pk, "回访：直播间加购仍未支付")
        assert task.due_at == START + dt.timedelta(minutes=192)
        enrollment.refresh_from_db()
        assert enrollment.status == EnrollmentStatus.COMPLETED
        stats = journey_stats(journey=journey)
        assert (stats.entered, stats.completed, stats.converted) == (1, 1, 0)
        assert [(s.type, s.done) for s in stats.steps] == [
            ("coupon", 1),
            ("wait", 0),
            ("condition", 1),
            ("task", 1),
        ]

    def test_paying_in_between_ends_the_journey_and_counts_a_conversion(
        self, at: Callable[[float], Any]
    ) -> None:
        template = coupon_template(
            code="winback5", name="回来立减5元", kind="fixed", amount_off_fen=500, threshold_fen=0
        )
        journey = running_journey(win_back_steps(template.pk))
        viewer, milk = abandon_a_cart(at)
        with at(11):
            journeys_run_due()
        # when the viewer pays for the milk half an hour later
        with at(40):
            order = pay(buy(viewer, (milk, 1)))
        # then after two hours the condition fails: no task, the enrolment exits converted
        with at(132):
            journeys_run_due()
        assert not StaffTask.objects.exists()
        enrollment = JourneyEnrollment.objects.get()
        assert enrollment.status == EnrollmentStatus.EXITED
        assert enrollment.converted_order_no == order.order_no
        assert enrollment.converted_fen == order.paid_fen
        stats = journey_stats(journey=journey)
        assert (stats.exited, stats.converted, stats.converted_fen) == (1, 1, order.paid_fen)


class TestExactlyOnce:
    def test_the_same_trigger_twice_enrols_once_and_steps_run_once(
        self, at: Callable[[float], Any]
    ) -> None:
        # given a running journey that tags and creates a task
        running_journey(
            [
                {"type": "tag", "tag": "直播挽回"},
                {"type": "task", "title": "致电", "due_minutes": 30},
            ],
            trigger=JourneyTrigger.ORDER_PAID,
        )
        person = make_person()
        # when the same trigger is delivered twice and the runner runs twice
        with at(0):
            for _ in range(2):
                journey_enroll(
                    trigger=JourneyTrigger.ORDER_PAID,
                    person_id=person.pk,
                    trigger_key="order:X1",
                    context={},
                )
        with at(0):
            journeys_run_due()
            journeys_run_due()
        # then one enrolment, one tag, one task, one run per step
        assert JourneyEnrollment.objects.count() == 1
        assert StaffTask.objects.count() == 1
        assert JourneyStepRun.objects.count() == 2
        assert manual_tags_list(person_id=person.pk) == ["直播挽回"]

    def test_a_paused_journey_enrols_no_one(self) -> None:
        journey = running_journey([{"type": "tag", "tag": "x"}], trigger=JourneyTrigger.ORDER_PAID)
        journey_status_set(journey=journey, status="paused", actor=OPERATOR)
        assert (
            journey_enroll(
                trigger=JourneyTrigger.ORDER_PAID,
                person_id=make_person().pk,
                trigger_key="k",
                context={},
            )
            == []
        )


class TestVersions:
    def test_customers_finish_the_version_they_entered(self, at: Callable[[float], Any]) -> None:
        # given a customer inside v1 (tag, wait an hour, tag)
        journey = running_journey(
            [
                {"type": "tag", "tag": "一版"},
                {"type": "wait", "minutes": 60},
                {"type": "tag", "tag": "一版结束"},
            ],
            trigger=JourneyTrigger.ORDER_PAID,
        )
        first = make_person()
        with at(0):
            journey_enroll(
                trigger=JourneyTrigger.ORDER_PAID, person_id=first.pk, trigger_key="a", context={}
            )
            journeys_run_due()
        # when v2 is published and a second customer enters
        journey_version_publish(
            journey=journey, steps=[{"type": "tag", "tag": "二版"}], actor=OPERATOR
        )
        second = make_person()
        with at(61):
            journey_enroll(
                trigger=JourneyTrigger.ORDER_PAID, person_id=second.pk, trigger_key="b", context={}
            )
            journeys_run_due()
        # then the first finished v1, the second ran v2
        assert sorted(manual_tags_list(person_id=first.pk)) == ["一版", "一版结束"]
        assert manual_tags_list(person_id=second.pk) == ["二版"]

    def test_a_draft_without_a_version_cannot_start(self) -> None:
        journey = running_journey([{"type": "tag", "tag": "x"}])
        Journey.objects.filter(pk=journey.pk).update(current_version=None)
        journey.refresh_from_db()
        with pytest.raises(JourneyNotRunnable):
            journey_status_set(journey=journey, status="active", actor=OPERATOR)


class TestAudienceAndShards:
    def test_an_audience_enters_once_and_two_shards_share_the_work(
        self, at: Callable[[float], Any]
    ) -> None:
        # given a running journey that tags, and an audience of five (one erased)
        from freshloop.identity.models import Person, PersonStatus
        from freshloop.scrm.services import journey_enroll_people

        journey = running_journey([{"type": "tag", "tag": "秋季上新"}], trigger="order_paid")
        people = [make_person() for _ in range(5)]
        Person.objects.filter(pk=people[4].pk).update(status=PersonStatus.ERASED)
        ids = [person.pk for person in people]
        # when the audience is pushed in twice and two shards run
        with at(0):
            assert (
                journey_enroll_people(
                    journey=journey, person_ids=ids, trigger_key="seg:7", context={}
                )
                == 4
            )
            assert (
                journey_enroll_people(
                    journey=journey, person_ids=ids, trigger_key="seg:7", context={}
                )
                == 0
            )
            first = journeys_run_due(shard=0, shards=2)
            second = journeys_run_due(shard=1, shards=2)
        # then each active person ran the step once, split between the shards
        assert first.steps + second.steps == 4
        assert first.steps > 0
        assert second.steps > 0
        assert JourneyStepRun.objects.count() == 4
        assert manual_tags_list(person_id=people[4].pk) == []

    def test_the_minute_job_runs_every_shard(self, at: Callable[[float], Any]) -> None:
        from freshloop.scrm.tasks import journeys_run

        journey = running_journey([{"type": "tag", "tag": "周末"}], trigger="order_paid")
        people = [make_person() for _ in range(3)]
        with at(0):
            for person in people:
                journey_enroll(
                    trigger="order_paid", person_id=person.pk, trigger_key="o", context={}
                )
            journeys_run()  # huey runs tasks inline in tests
        assert JourneyStepRun.objects.count() == 3
        assert journey.enrollments.filter(status=EnrollmentStatus.COMPLETED).count() == 3


class TestTestRun:
    def test_waits_are_honoured_and_the_rest_runs_once_the_journey_is_running(
        self, at: Callable[[float], Any]
    ) -> None:
        # given a draft journey: a tag, a 2-hour wait, a task
        journey = journey_create(
            name="试运行",
            trigger=JourneyTrigger.ORDER_PAID,
            steps=[
                {"type": "tag", "tag": "试运行"},
                {"type": "wait", "minutes": 120},
                {"type": "task", "title": "回访", "due_minutes": 30},
            ],
            actor=OPERATOR,
        )
        customer = make_person()
        # when it is test-run: the tag now, then the wait
        with at(0):
            result = journey_test_run(journey=journey, person=customer, actor=OPERATOR)
        assert [run.step_type for run in result.runs] == ["tag"]
        assert result.enrollment.status == EnrollmentStatus.ACTIVE
        assert result.enrollment.step_index == 2
        assert result.enrollment.trigger_key.startswith("test:")
        assert manual_tags_list(person_id=customer.pk) == ["试运行"]
        # then a draft journey does not go on after the wait …
        with at(130):
            assert journeys_run_due().steps == 0
        assert not StaffTask.objects.exists()
        # … a started one does, once
        journey_status_set(journey=journey, status="active", actor=OPERATOR)
        with at(131):
            assert journeys_run_due().steps == 1
            assert journeys_run_due().steps == 0
        assert StaffTask.objects.get(person=customer).title == "回访"

    def test_a_journey_without_a_version_cannot_be_test_run(self) -> None:
        journey = Journey.objects.create(
            name="空", trigger="order_paid", created_by="t", created_at=START, updated_at=START
        )
        with pytest.raises(JourneyNotRunnable):
            journey_test_run(journey=journey, person=make_person(), actor=OPERATOR)
        assert not JourneyEnrollment.objects.exists()


class TestFailures:
    def test_a_failing_customer_is_retried_later_and_the_others_run(
        self, at: Callable[[float], Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given three customers in a tagging journey, and tagging one of them fails
        from freshloop.scrm import runner

        journey = running_journey([{"type": "tag", "tag": "周末"}], trigger="order_paid")
        people = [make_person() for _ in range(3)]
        real_tag = runner._tag

        def tag_or_fail(enrollment: Any, step: Any) -> Any:
            if enrollment.person_id == people[1].pk:
                raise RuntimeError("tag store down")
            return real_tag(enrollment, step)

        monkeypatch.setattr(runner, "_tag", tag_or_fail)
        with at(0):
            for person in people:
                journey_enroll(
                    trigger="order_paid", person_id=person.pk, trigger_key="o", context={}
                )
            # when the runner goes
            result = journeys_run_due()
            # then the two others ran, and the failing one is not due again at once
            assert result.steps == 2
            assert journeys_run_due().enrollments == 0
        failing = journey.enrollments.get(person=people[1])
        assert failing.status == EnrollmentStatus.ACTIVE
        assert failing.next_run_at == START + dt.timedelta(minutes=10)
        # and once the cause is gone, it runs at its retry time
        monkeypatch.setattr(runner, "_tag", real_tag)
        with at(10):
            assert journeys_run_due().steps == 1
