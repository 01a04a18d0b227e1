"""Staff tasks (跟进任务): what journeys hand to people, e.g. "回访：直播间加购仍未支付".

A journey's task step creates the task (`journeys._task`); staff see the open ones on
/console/scrm/tasks/ and mark them done here."""

from __future__ import annotations

from django.db.models import QuerySet

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.scrm.errors import StaffTaskNotFound
from freshloop.scrm.models import StaffTask, TaskStatus


def staff_task_done(*, task_id: int, actor: Actor) -> StaffTask:
    """Mark the task done. Idempotent: a task already done keeps its first completion time
    (two staff clicking at once both see it done, neither overwrites the other). The
    conditional UPDATE makes the race safe without a row lock."""
    now = clock.now()
    StaffTask.objects.filter(pk=task_id, status=TaskStatus.OPEN).update(
        status=TaskStatus.DONE, done_at=now
    )
    task = StaffTask.objects.filter(pk=task_id).first()
    if task is None:
        raise StaffTaskNotFound()
    return task


def staff_tasks_open(*, limit: int = 200) -> QuerySet[StaffTask]:
    """Open tasks, the most urgent (earliest due) first, with their customer."""
    return (
        StaffTask.objects.filter(status=TaskStatus.OPEN)
        .select_related("person")
        .order_by("due_at", "pk")[:limit]
    )


def staff_tasks_open_count() -> int:
    return StaffTask.objects.filter(status=TaskStatus.OPEN).count()
