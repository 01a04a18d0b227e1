"""Row locks of the scrm module.

1. journey enrolments at one step (`enrollments_claim`): a batch runner claims the rows it
   moves past a step, skipping rows another runner holds, in primary-key order.
2. one journey (`journey_lock`): deleting it waits for a concurrent start or entry check.
3. one mass message (`broadcast_lock`), alone: schedule, update, cancel and the send's claim.
4. one moment task (`moment_lock`), alone.
5. the smart-send mass messages planned together (`broadcasts_lock`), in primary-key order.
6. smart-send slots due now (`smart_slots_claim`), in primary-key order, skipping held rows.
"""

from __future__ import annotations

from freshloop.scrm.errors import BroadcastNotFound, MomentNotFound
from freshloop.scrm.models import (
    Broadcast,
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    MomentTask,
    SmartSendSlot,
    SmartSlotStatus,
)


def enrollments_claim(*, ids: list[int], step_index: int) -> list[int]:
    """The enrolments among `ids` still active at `step_index`, locked until commit; rows
    another runner holds right now are skipped (it is running them)."""
    return list(
        JourneyEnrollment.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, step_index=step_index, status=EnrollmentStatus.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def broadcast_lock(*, broadcast_id: int) -> Broadcast:
    """3. one mass message, locked until commit: its status moves (schedule, cancel, the send
    claiming it) one at a time. An unknown id is BroadcastNotFound."""
    broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
    if broadcast is None:
        raise BroadcastNotFound(detail={"broadcast_id": broadcast_id})
    return broadcast


def moment_lock(*, moment_id: int) -> MomentTask:
    """4. one moment task, locked until commit (publishing it)."""
    moment = MomentTask.objects.select_for_update().filter(pk=moment_id).first()
    if moment is None:
        raise MomentNotFound(detail={"moment_id": moment_id})
    return moment


def journey_lock(journey_id: int) -> Journey | None:
    """The journey, locked until commit (None when it is gone)."""
    return Journey.objects.select_for_update().filter(pk=journey_id).first()


# 5. the smart-send mass messages being planned together (`broadcasts_lock`), in primary-key
#    order, so two plannings (the console's button, a send planning its own message) queue
#    up instead of deadlocking; each plan's slots are written under them.
# 6. smart-send slots due now (`smart_slots_claim`), in primary-key order, skipping rows
#    another sender holds: each recipient is handed to the policy by one sender.


def broadcasts_lock(*, broadcast_ids: list[int]) -> list[Broadcast]:
    """5. the mass messages among `broadcast_ids` that still exist, locked until commit."""
    return list(Broadcast.objects.select_for_update().filter(pk__in=broadcast_ids).order_by("pk"))


def smart_slots_claim(*, ids: list[int]) -> list[int]:
    """6. the slots among `ids` still planned, locked until commit; rows another sender
    holds right now are skipped (it is sending them)."""
    return list(
        SmartSendSlot.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, status=SmartSlotStatus.PLANNED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
