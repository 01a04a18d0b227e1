"""staff_task_done: a journey's follow-up task is marked done once, whoever clicks twice."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.scrm.errors import StaffTaskNotFound
from freshloop.scrm.models import StaffTask, TaskStatus
from freshloop.scrm.selectors import staff_tasks_open, staff_tasks_open_count
from freshloop.scrm.services import staff_task_done
from tests.factories import make_person

pytestmark = pytest.mark.django_db

STAFF = Actor(type="user", id="7", label="客服小林")
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)


def make_task(due_minutes: int = 120) -> StaffTask:
    return StaffTask.objects.create(
        person=make_person(),
        title="回访：直播间加购仍未支付",
        due_at=MORNING + dt.timedelta(minutes=due_minutes),
        source="journey:1:v1:step:5",
        created_at=MORNING,
    )


class TestStaffTaskDone:
    def test_an_open_task_is_done_at_that_moment(self) -> None:
        task = make_task()
        with clock.frozen(MORNING + dt.timedelta(minutes=30)):
            done = staff_task_done(task_id=task.pk, actor=STAFF)
        assert done.status == TaskStatus.DONE
        assert done.done_at == MORNING + dt.timedelta(minutes=30)
        assert staff_tasks_open_count() == 0

    def test_done_twice_keeps_the_first_completion(self) -> None:
        task = make_task()
        with clock.frozen(MORNING):
            staff_task_done(task_id=task.pk, actor=STAFF)
        with clock.frozen(MORNING + dt.timedelta(hours=1)):
            again = staff_task_done(task_id=task.pk, actor=STAFF)
        assert again.done_at == MORNING

    def test_an_unknown_task_is_a_typed_404(self) -> None:
        with pytest.raises(StaffTaskNotFound) as raised:
            staff_task_done(task_id=424242, actor=STAFF)
        assert (raised.value.status, raised.value.text) == (404, "任务不存在")


class TestStaffTasksOpen:
    def test_open_tasks_earliest_due_first_done_ones_left_out(self) -> None:
        later, sooner, finished = make_task(240), make_task(30), make_task(10)
        staff_task_done(task_id=finished.pk, actor=STAFF)
        assert [task.pk for task in staff_tasks_open()] == [sooner.pk, later.pk]
