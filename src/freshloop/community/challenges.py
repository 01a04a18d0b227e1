"""社群挑战: a group's GMV target in a period; reached, every customer member gets a coupon.

GMV of a group (chosen where the issue is silent): what its *current* customer members paid
in the period — orders paid inside [starts_at, ends_at), still bought (paid, shipped… or
partly refunded), paid minus refunded. Members are matched by OneID, so an order from the
shop, the live room or a group deal counts alike; a member who leaves stops counting, one who
joins counts for the whole period. (A group tracking code on orders would need every channel
to carry it; OneID needs nothing.)

The reward is issued once: the challenge row is locked, its status checked and set to
`rewarded` in the same transaction as `promotions.coupon_issue`, so a second check — the
periodic one racing an OrderPaid handler — finds it rewarded and does nothing. Members at
the coupon's per-user limit are skipped by promotions and counted as not rewarded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Sum

from freshloop.community import locks
from freshloop.community.errors import CommunityInvalid
from freshloop.community.models import (
    ChallengeStatus,
    CustomerGroup,
    GroupChallenge,
    GroupMember,
    GroupStatus,
    MemberType,
)
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.identity.models import Person
from freshloop.orders.models import BOUGHT_STATUSES, Order
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import coupon_issue

ENGINE = Actor.system("community.challenges")
MAX_TARGET_FEN = 10**12  # ¥100 亿: a typo guard, not a business limit
MAX_DAYS = 366
COUPON_SOURCE = "segment"  # promotions' 人群发放: the group's members are the crowd


def member_person_ids(group: CustomerGroup) -> list[int]:
    return list(
        GroupMember.objects.filter(
            group=group,
            member_type=MemberType.CUSTOMER,
            left_at__isnull=True,
            person__isnull=False,
        ).values_list("person_id", flat=True)
    )


def members_gmv_fen(
    *, person_ids: list[int], starts_at: dt.datetime, ends_at: dt.datetime
) -> tuple[int, int]:
    """(orders, GMV in fen) paid by these people in [starts_at, ends_at)."""
    orders = Order.objects.filter(
        person_id__in=person_ids,
        status__in=BOUGHT_STATUSES,
        paid_at__gte=starts_at,
        paid_at__lt=ends_at,
    )
    total = orders.aggregate(fen=Sum(F("paid_fen") - F("refunded_fen")))["fen"] or 0
    return orders.count(), int(total)


@dataclass(frozen=True)
class ChallengeProgress:
    challenge: GroupChallenge
    orders: int
    gmv_fen: int

    @property
    def percent(self) -> int:
        if self.challenge.target_fen <= 0:
            return 100
        return min(100, self.gmv_fen * 100 // self.challenge.target_fen)


def challenge_progress(*, challenge: GroupChallenge) -> ChallengeProgress:
    if challenge.status == ChallengeStatus.REWARDED:
        # Frozen at the moment it was reached: later orders do not move a finished challenge.
        return ChallengeProgress(challenge, 0, challenge.reached_fen)
    orders, gmv = members_gmv_fen(
        person_ids=member_person_ids(challenge.group),
        starts_at=challenge.starts_at,
        ends_at=challenge.ends_at,
    )
    return ChallengeProgress(challenge, orders, gmv)


@transaction.atomic
def challenge_create(
    *,
    group: CustomerGroup,
    name: str,
    target_fen: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    coupon_template: CouponTemplate,
    actor: Actor,
) -> GroupChallenge:
    problems: list[tuple[str, str]] = []
    name = name.strip()
    if not name or len(name) > 64:
        problems.append(("name", "请填写挑战名称（最多 64 字）"))
    if not 1 <= target_fen <= MAX_TARGET_FEN:
        problems.append(("target_fen", "目标 GMV 应大于 0（单位：分）"))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        problems.append(("starts_at", "时间需要带时区"))
    elif ends_at <= starts_at:
        problems.append(("ends_at", "结束时间应晚于开始时间"))
    elif ends_at - starts_at > dt.timedelta(days=MAX_DAYS):
        problems.append(("ends_at", "挑战最长一年"))
    elif ends_at <= clock.now():
        problems.append(("ends_at", "结束时间应晚于现在"))
    if not coupon_template.is_active:
        problems.append(("coupon_template_id", "优惠券模板已停用"))
    if group.status != GroupStatus.ACTIVE:
        problems.append(("chat_id", "群已解散"))
    if problems:
        raise CommunityInvalid.for_fields(problems)
    challenge = GroupChallenge.objects.create(
        group=group,
        name=name,
        target_fen=target_fen,
        starts_at=starts_at,
        ends_at=ends_at,
        coupon_template=coupon_template,
        created_by=actor.label[:64],
        created_at=clock.now(),
    )
    audit_record(
        actor=actor,
        action="community.challenge_create",
        target=challenge,
        after={
            "chat_id": group.chat_id,
            "target_fen": target_fen,
            "coupon_template": coupon_template.code,
        },
    )
    return challenge


def challenge_check(*, challenge_id: int, now: dt.datetime | None = None) -> GroupChallenge:
    """Reward the challenge if its target is reached (once), or end it after its period."""
    now = now or clock.now()
    with transaction.atomic():
        challenge = locks.challenge_lock(challenge_id=challenge_id)
        if challenge.status != ChallengeStatus.ACTIVE:
            return challenge
        person_ids = member_person_ids(challenge.group)
        _, gmv = members_gmv_fen(
            person_ids=person_ids, starts_at=challenge.starts_at, ends_at=challenge.ends_at
        )
        if gmv >= challenge.target_fen:
            result = coupon_issue(
                template=challenge.coupon_template,
                people=Person.objects.filter(pk__in=person_ids),
                source=COUPON_SOURCE,
                source_ref=f"community:challenge:{challenge.pk}",
                actor=ENGINE,
            )
            challenge.status = ChallengeStatus.REWARDED
            challenge.reached_fen = gmv
            challenge.rewarded_at = now
            challenge.rewarded_count = len(result.issued)
            challenge.save(update_fields=["status", "reached_fen", "rewarded_at", "rewarded_count"])
        elif now >= challenge.ends_at:
            challenge.status = ChallengeStatus.ENDED
            challenge.reached_fen = gmv
            challenge.save(update_fields=["status", "reached_fen"])
    return challenge


def challenges_check_for_person(*, person_id: int, now: dt.datetime | None = None) -> int:
    """An order was paid: check the open challenges of the groups the payer is in."""
    now = now or clock.now()
    ids = list(
        GroupChallenge.objects.filter(
            status=ChallengeStatus.ACTIVE,
            starts_at__lte=now,
            group__members__person_id=person_id,
            group__members__left_at__isnull=True,
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    for challenge_id in sorted(ids):
        challenge_check(challenge_id=challenge_id, now=now)
    return len(ids)


def challenges_check_all(*, now: dt.datetime | None = None) -> int:
    """Every active challenge (the periodic sweep: refunds, members joining, periods ending)."""
    now = now or clock.now()
    ids = list(
        GroupChallenge.objects.filter(status=ChallengeStatus.ACTIVE, starts_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for challenge_id in ids:
        challenge_check(challenge_id=challenge_id, now=now)
    return len(ids)
