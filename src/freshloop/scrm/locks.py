"""Row locks of the scrm module.

1. journey enrolments at one step (`enrollments_claim`): a batch runner claims the rows it
   moves past a step, skipping rows another runner holds, in primary-key order.
"""

from __future__ import annotations

from freshloop.scrm.models import EnrollmentStatus, JourneyEnrollment


def enrollments_claim(*, ids: list[int], step_index: int) -> list[int]:
    """The enrolments among `ids` still active at `step_index`, locked until commit; rows
    another runner holds right now are skipped (it is running them)."""
    return list(
        JourneyEnrollment.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, step_index=step_index, status=EnrollmentStatus.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
