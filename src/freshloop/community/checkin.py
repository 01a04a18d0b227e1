"""Daily check-in (每日签到): once per Asia/Shanghai day, a streak of consecutive days, points.

A customer checks in from the H5 page (`/m/checkin`, logged in) or by typing the keyword of a
check-in rule (签到) in a group, where the assistant does it for the sender. Points go through
`membership.services.points_adjust` (the ledger, audited with the actor
`system:community.checkin`) in the same transaction as the check-in row, so a check-in never
exists without its points or the other way round. The unique (person, day) constraint is what
keeps two check-ins at the same instant to one: the loser finds the winner's row and answers
"already checked in" without points.

The amounts are settings (`FRESHLOOP_COMMUNITY_CHECKIN_POINTS` a day, `..._BONUS` on every
`..._BONUS_EVERY`-th consecutive day; config/env.py), defaults 5, 20 and 7.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from freshloop.community.events import CommunityCheckedIn
from freshloop.community.models import CheckIn
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.membership.services import points_adjust

CHECKIN_ACTOR = Actor.system("community.checkin")


@dataclass(frozen=True)
class CheckInRules:
    points: int
    bonus: int
    bonus_every: int

    def points_for(self, streak: int) -> int:
        extra = self.bonus if self.bonus_every > 0 and streak % self.bonus_every == 0 else 0
        return self.points + extra


def checkin_rules() -> CheckInRules:
    configured = settings.FRESHLOOP.community
    return CheckInRules(
        points=configured.checkin_points,
        bonus=configured.checkin_bonus,
        bonus_every=configured.checkin_bonus_every,
    )


def checkin_day(moment: dt.datetime | None = None) -> dt.date:
    """The check-in day of a moment: the calendar day in Asia/Shanghai."""
    return clock.to_shanghai(moment or clock.now()).date()


@dataclass(frozen=True)
class CheckInResult:
    checkin: CheckIn
    already: bool


def checkin_do(*, person_id: int, chat_id: str = "", channel: str = "h5") -> CheckInResult:
    """Check the person in for today; a second call the same day changes nothing."""
    now = clock.now()
    day = checkin_day(now)
    existing = CheckIn.objects.filter(person_id=person_id, day=day).first()
    if existing is not None:
        return CheckInResult(checkin=existing, already=True)
    yesterday = (
        CheckIn.objects.filter(person_id=person_id, day=day - dt.timedelta(days=1))
        .values_list("streak", flat=True)
        .first()
    )
    streak = (yesterday or 0) + 1
    points = checkin_rules().points_for(streak)
    try:
        with transaction.atomic():
            checkin = CheckIn.objects.create(
                person_id=person_id,
                day=day,
                chat_id=chat_id[:64],
                streak=streak,
                points=points,
                channel=channel,
                created_at=now,
            )
            publish(
                CommunityCheckedIn(
                    person_id=person_id,
                    day=day,
                    streak=streak,
                    points=points,
                    chat_id=checkin.chat_id,
                    channel=channel,
                )
            )
            if points:
                points_adjust(
                    person_id=person_id,
                    delta=points,
                    reason=f"每日签到 {day:%m月%d日}（连续 {streak} 天）",
                    actor=CHECKIN_ACTOR,
                )
    except IntegrityError:
        # Another request checked the same person in a moment ago: theirs counts.
        return CheckInResult(
            checkin=CheckIn.objects.get(person_id=person_id, day=day), already=True
        )
    return CheckInResult(checkin=checkin, already=False)


def checkin_current_streak(*, person_id: int) -> int:
    """Consecutive days up to today, or up to yesterday while today is still open."""
    today = checkin_day()
    latest = (
        CheckIn.objects.filter(person_id=person_id, day__gte=today - dt.timedelta(days=1))
        .order_by("-day")
        .values_list("streak", flat=True)
        .first()
    )
    return latest or 0


def checkin_calendar(*, person_id: int, days: int = 28) -> list[dict[str, object]]:
    """The last `days` days, oldest first: each with whether the person checked in."""
    today = checkin_day()
    start = today - dt.timedelta(days=days - 1)
    done = dict(
        CheckIn.objects.filter(person_id=person_id, day__gte=start).values_list("day", "points")
    )
    return [
        {
            "day": start + dt.timedelta(days=offset),
            "checked": (start + dt.timedelta(days=offset)) in done,
            "points": done.get(start + dt.timedelta(days=offset), 0),
            "today": start + dt.timedelta(days=offset) == today,
        }
        for offset in range(days)
    ]
