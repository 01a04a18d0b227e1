"""The monthly level job (GB-2): active leaders move between LeaderLevel rungs by last month's
attributed GMV.

Rules chosen (docs/groupbuy-commission.md)
- GMV of a month = Σ (gmv − refunded share of gmv) of the leader's attributed orders paid in
  that Shanghai calendar month. The leader goes to the highest rung whose
  `min_monthly_gmv_fen` it reaches — up or down.
- A manual override (`leader_level_set`, audited as `groupbuy.leader.level_set`) made since the
  start of the month being measured holds: the job leaves that leader alone this time, and
  measures them again next month.
- Idempotent: running it again for the same month moves no one further.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Sum

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.models import AuditLog
from freshloop.groupbuy.commission.models import LeaderOrder
from freshloop.groupbuy.locks import leader_lock_by_no
from freshloop.groupbuy.models import GroupLeader, LeaderLevel, LeaderStatus

MANUAL_OVERRIDE_ACTION = "groupbuy.leader.level_set"


@dataclass(frozen=True)
class RelevelChange:
    leader_no: str
    from_level: str
    to_level: str
    gmv_fen: int


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the Shanghai calendar month containing `month`, as aware UTC."""
    first = month.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    start = dt.datetime.combine(first, dt.time(0), tzinfo=clock.SHANGHAI)
    end = dt.datetime.combine(following, dt.time(0), tzinfo=clock.SHANGHAI)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def previous_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def leaders_monthly_gmv(*, month: dt.date) -> dict[int, int]:
    """Net attributed GMV per leader id for the month."""
    start, end = month_bounds(month)
    rows = (
        LeaderOrder.objects.filter(paid_at__gte=start, paid_at__lt=end)
        .values("leader_id")
        .annotate(net=Sum(F("gmv_fen") - F("gmv_refunded_fen")))
        .values_list("leader_id", "net")
    )
    return {leader_id: int(net or 0) for leader_id, net in rows}


def _overridden_since(start: dt.datetime) -> set[str]:
    return set(
        AuditLog.objects.filter(
            action=MANUAL_OVERRIDE_ACTION,
            target_type=GroupLeader._meta.label,
            created_at__gte=start,
        ).values_list("target_id", flat=True)
    )


def leaders_relevel(*, month: dt.date) -> list[RelevelChange]:
    """Set each active leader's level from the GMV of `month` (any day in it); returns the
    moves made. One transaction per leader, each audited."""
    levels = list(LeaderLevel.objects.order_by("-min_monthly_gmv_fen", "-rank"))
    if not levels:
        return []
    start, _ = month_bounds(month)
    gmv = leaders_monthly_gmv(month=month)
    overridden = _overridden_since(start)
    actor = Actor.system("groupbuy.leaders_relevel")
    changes: list[RelevelChange] = []
    active = GroupLeader.objects.filter(status=LeaderStatus.ACTIVE).order_by("pk")
    for leader_id, leader_no, level_id in active.values_list("pk", "leader_no", "level_id"):
        if str(leader_id) in overridden:
            continue
        earned = gmv.get(leader_id, 0)
        target = next((lv for lv in levels if lv.min_monthly_gmv_fen <= earned), levels[-1])
        if target.pk == level_id:
            continue
        with transaction.atomic():
            leader = leader_lock_by_no(leader_no)
            if leader.status != LeaderStatus.ACTIVE or leader.level_id == target.pk:
                continue
            before = leader.level.code
            leader.level = target
            leader.updated_at = clock.now()
            leader.save(update_fields=["level", "updated_at"])
            audit_record(
                actor=actor,
                action="groupbuy.leader.relevel",
                target=leader,
                before={"level": before},
                after={"level": target.code, "month": month.strftime("%Y-%m"), "gmv_fen": earned},
            )
        changes.append(RelevelChange(leader_no, before, target.code, earned))
    return changes
