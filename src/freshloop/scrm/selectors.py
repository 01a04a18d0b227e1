"""SCRM reads: a journey's per-step numbers and a customer's journeys."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from freshloop.promotions.models import CouponTemplate
from freshloop.scrm.errors import JourneyNotFound
from freshloop.scrm.models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStepRun,
    StepOutcome,
)

# Staff tasks (跟进任务): the console's task list and the customer-service home read them here.
from freshloop.scrm.staff_tasks import staff_tasks_open as staff_tasks_open
from freshloop.scrm.staff_tasks import staff_tasks_open_count as staff_tasks_open_count


@dataclass(frozen=True)
class StepStats:
    index: int  # 1-based, as the editor numbers steps
    type: str
    entered: int  # customers who reached the step
    done: int  # actions taken / conditions that held
    skipped: int  # actions not taken (e.g. coupon limit) / conditions that did not hold


@dataclass(frozen=True)
class JourneyStats:
    entered: int
    active: int
    completed: int
    exited: int
    converted: int
    converted_fen: int
    steps: list[StepStats]


def journey_stats(*, journey: Journey) -> JourneyStats:
    """Per-step numbers over every version (steps are compared by position)."""
    enrollments = JourneyEnrollment.objects.filter(journey=journey)
    totals = enrollments.aggregate(
        entered=Count("pk"),
        active=Count("pk", filter=Q(status=EnrollmentStatus.ACTIVE)),
        completed=Count("pk", filter=Q(status=EnrollmentStatus.COMPLETED)),
        exited=Count("pk", filter=Q(status=EnrollmentStatus.EXITED)),
        converted=Count("pk", filter=Q(converted_at__isnull=False)),
        converted_fen=Sum("converted_fen"),
    )
    runs = {
        (row["step_index"], row["outcome"]): row["n"]
        for row in JourneyStepRun.objects.filter(enrollment__journey=journey)
        .values("step_index", "outcome")
        .annotate(n=Count("pk"))
    }
    steps = journey.current_version.steps if journey.current_version else []
    stats: list[StepStats] = []
    for index, step in enumerate(steps):
        done = runs.get((index, StepOutcome.DONE), 0) + runs.get((index, StepOutcome.PASSED), 0)
        skipped = runs.get((index, StepOutcome.SKIPPED), 0) + runs.get(
            (index, StepOutcome.FAILED_CONDITION), 0
        )
        reached = (
            enrollments.filter(step_index__gt=index).count()
            if step["type"] == "wait"
            else done + skipped
        )
        stats.append(
            StepStats(
                index=index + 1, type=step["type"], entered=reached, done=done, skipped=skipped
            )
        )
    return JourneyStats(
        entered=totals["entered"] or 0,
        active=totals["active"] or 0,
        completed=totals["completed"] or 0,
        exited=totals["exited"] or 0,
        converted=totals["converted"] or 0,
        converted_fen=totals["converted_fen"] or 0,
        steps=stats,
    )


def journey_list() -> list[Journey]:
    return list(Journey.objects.select_related("current_version").order_by("-id"))


@dataclass(frozen=True)
class JourneyCounts:
    entered: int
    active: int
    converted: int
    converted_fen: int


def journey_counts() -> dict[int, JourneyCounts]:
    """Each journey's headline numbers for the list, in one query (journeys nobody entered
    are absent: read with `.get(id, NO_COUNTS)`)."""
    rows = (
        JourneyEnrollment.objects.values("journey_id")
        .annotate(
            entered=Count("pk"),
            active=Count("pk", filter=Q(status=EnrollmentStatus.ACTIVE)),
            converted=Count("pk", filter=Q(converted_at__isnull=False)),
            converted_fen=Sum("converted_fen"),
        )
        .order_by()
    )
    return {
        row["journey_id"]: JourneyCounts(
            entered=row["entered"],
            active=row["active"],
            converted=row["converted"],
            converted_fen=row["converted_fen"] or 0,
        )
        for row in rows
    }


NO_COUNTS = JourneyCounts(entered=0, active=0, converted=0, converted_fen=0)


def journey_get(*, journey_id: int) -> Journey:
    journey = Journey.objects.select_related("current_version").filter(pk=journey_id).first()
    if journey is None:
        raise JourneyNotFound(detail={"journey_id": journey_id})
    return journey


def coupon_templates_for_steps() -> list[CouponTemplate]:
    """Templates a coupon step can issue: active ones that are not live-room only (those are
    handed out in a live room, never by a journey)."""
    return list(
        CouponTemplate.objects.filter(is_active=True, live_only=False).order_by("name", "pk")
    )
