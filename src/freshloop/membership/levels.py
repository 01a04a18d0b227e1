"""Member levels: the defaults, who qualifies, and moving a member between levels (audited)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.membership.errors import (
    InvalidMemberLevel,
)
from freshloop.membership.events import MemberLevelChanged
from freshloop.membership.models import (
    MemberLevel,
    Membership,
)
from freshloop.membership.rules import (
    DEFAULT_LEVELS,
    SYSTEM_ACTOR,
)


def membership_levels_ensure() -> list[MemberLevel]:
    """Create the default four levels if their codes are missing; never overwrite edits.

    Runs after every `migrate` (post_migrate, see apps.py) and lazily the first time a
    membership is created, so a fresh database always has a lowest level to start members on.
    """
    for default in DEFAULT_LEVELS:
        if MemberLevel.objects.filter(code=default.code).exists():
            continue
        try:
            with transaction.atomic():
                MemberLevel.objects.create(
                    code=default.code,
                    name=default.name,
                    min_lifetime_spend_fen=default.min_lifetime_spend_fen,
                    min_points_earned=default.min_points_earned,
                    discount_percent=default.discount_percent,
                    free_shipping=default.free_shipping,
                    points_multiplier_bp=default.points_multiplier_bp,
                    sort_order=default.sort_order,
                )
        except IntegrityError:
            # Created meanwhile by a concurrent caller, or an operator already uses that
            # sort order for a level of their own: theirs stands.
            continue
    return list(MemberLevel.objects.order_by("sort_order"))


def member_levels() -> list[MemberLevel]:
    levels = list(MemberLevel.objects.order_by("sort_order"))
    return levels or membership_levels_ensure()


def level_qualified(
    *, levels: list[MemberLevel], lifetime_spend_fen: int, points_earned: int
) -> MemberLevel:
    """The highest level whose spend OR points threshold is reached.

    The lowest level is everyone's; on the others a threshold of 0 means "this path is off"
    (a level reachable by spend only sets min_points_earned to 0).
    """
    best = levels[0]
    for level in levels[1:]:
        by_spend = 0 < level.min_lifetime_spend_fen <= lifetime_spend_fen
        by_points = 0 < level.min_points_earned <= points_earned
        if by_spend or by_points:
            best = level
    return best


def level_next(*, levels: list[MemberLevel], current: MemberLevel) -> MemberLevel | None:
    higher = [level for level in levels if level.sort_order > current.sort_order]
    return higher[0] if higher else None


def level_set(
    *, membership: Membership, level: MemberLevel, reason: str, actor: Actor = SYSTEM_ACTOR
) -> None:
    if level.pk == membership.level_id:
        return
    previous = membership.level
    membership.level = level
    membership.updated_at = clock.now()
    membership.save(update_fields=["level", "updated_at"])
    audit_record(
        actor=actor,
        action="membership.level_change",
        target=membership,
        before={"level": previous.code},
        after={"level": level.code, "reason": reason},
    )
    publish(
        MemberLevelChanged(
            person_id=membership.person_id,
            one_id=membership.person.one_id,
            from_level_code=previous.code,
            to_level_code=level.code,
            reason=reason,
        )
    )


def level_recompute(*, membership: Membership, allow_downgrade: bool, reason: str) -> None:
    levels = member_levels()
    qualified = level_qualified(
        levels=levels,
        lifetime_spend_fen=membership.lifetime_spend_fen,
        points_earned=membership.points_earned_total,
    )
    if qualified.sort_order < membership.level.sort_order and not allow_downgrade:
        return
    level_set(membership=membership, level=qualified, reason=reason)


def member_level_save(*, actor: Actor, level: MemberLevel) -> MemberLevel:
    """Create or change a level from the back office: validated, audited."""
    try:
        level.full_clean()
    except ValidationError as error:
        raise InvalidMemberLevel(detail=error.message_dict) from error
    with transaction.atomic():
        before = None
        if level.pk is not None:
            stored = MemberLevel.objects.filter(pk=level.pk).values().first()
            before = dict(stored) if stored else None
        level.save()
        audit_record(
            actor=actor,
            action="membership.level_save",
            target=level,
            before=before,
            after=dict(MemberLevel.objects.filter(pk=level.pk).values().get()),
        )
    return level
