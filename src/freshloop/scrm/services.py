"""SCRM writes: journeys (create, publish a version, start / pause), enrolment and the runner.

The definitions and enrolment live in `journeys.py`, the running in `runner.py`; this face lists
what other modules and the console call."""

from freshloop.scrm.journeys import (
    enrollment_convert,
    enrollments_erase,
    enrollments_follow_merge,
    journey_create,
    journey_enroll,
    journey_enroll_people,
    journey_status_set,
    journey_version_publish,
    steps_check,
)
from freshloop.scrm.runner import journey_test_run, journeys_run_due
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
