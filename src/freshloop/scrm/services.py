"""SCRM writes: journeys (create, publish a version, start / pause), enrolment and the runner;
mass messages (企业群发) and moments (客户朋友圈).

The definitions and enrolment live in `journeys.py`, the running in `runner.py`; this face lists
what other modules and the console call."""

from freshloop.scrm.broadcasts import (
    BroadcastDraft,
    broadcast_cancel,
    broadcast_click_record,
    broadcast_create,
    broadcast_schedule,
    broadcast_send,
    broadcast_update,
    broadcasts_due_ids,
)
from freshloop.scrm.journeys import (
    enrollment_convert,
    enrollments_erase,
    enrollments_follow_merge,
    journey_create,
    journey_delete,
    journey_enroll,
    journey_enroll_people,
    journey_rename,
    journey_status_set,
    journey_version_publish,
    steps_check,
)
from freshloop.scrm.moments import MomentDraft, moment_create, moment_publish
from freshloop.scrm.runner import journey_test_run, journeys_run_due
from freshloop.scrm.staff_tasks import staff_task_done
from freshloop.scrm.triggers import (
    birthdays_enroll,
    coupons_expiring_enroll,
    journey_enroll_each,
    segment_joined_enroll,
)

__all__ = [
    "BroadcastDraft",
    "MomentDraft",
    "birthdays_enroll",
    "broadcast_cancel",
    "broadcast_click_record",
    "broadcast_create",
    "broadcast_schedule",
    "broadcast_send",
    "broadcast_update",
    "broadcasts_due_ids",
    "coupons_expiring_enroll",
    "enrollment_convert",
    "enrollments_erase",
    "enrollments_follow_merge",
    "journey_create",
    "journey_delete",
    "journey_enroll",
    "journey_enroll_each",
    "journey_enroll_people",
    "journey_rename",
    "journey_status_set",
    "journey_test_run",
    "journey_version_publish",
    "journeys_run_due",
    "moment_create",
    "moment_publish",
    "segment_joined_enroll",
    "staff_task_done",
    "steps_check",
]

# Tags synced with WeCom, computed tags pushed, staff transfer (跟进人继承).
from freshloop.scrm.tag_push import computed_tag_push_set, computed_tags_push
from freshloop.scrm.tag_sync import (
    contact_tags_apply,
    corp_tags_sync,
    manual_tag_push,
    tags_full_sync,
)
from freshloop.scrm.transfer import (
    contacts_transfer,
    transfer_fail_record,
    transfers_poll,
)

__all__ += [
    "computed_tag_push_set",
    "computed_tags_push",
    "contact_tags_apply",
    "contacts_transfer",
    "corp_tags_sync",
    "manual_tag_push",
    "tags_full_sync",
    "transfer_fail_record",
    "transfers_poll",
]
