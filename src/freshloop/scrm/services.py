"""SCRM writes: journeys (create, publish a version, start / pause), enrolment and the runner.

The engine lives in `journeys.py`; this face lists what other modules and the console call."""

from freshloop.scrm.journeys import (
    enrollment_convert,
    enrollments_erase,
    enrollments_follow_merge,
    journey_create,
    journey_enroll,
    journey_enroll_people,
    journey_status_set,
    journey_test_run,
    journey_version_publish,
    journeys_run_due,
    steps_check,
)
from freshloop.scrm.staff_tasks import staff_task_done

__all__ = [
    "enrollment_convert",
    "enrollments_erase",
    "enrollments_follow_merge",
    "journey_create",
    "journey_enroll",
    "journey_enroll_people",
    "journey_status_set",
    "journey_test_run",
    "journey_version_publish",
    "journeys_run_due",
    "staff_task_done",
    "steps_check",
]
