"""Membership writes: levels, points earned / spent / returned / reversed / adjusted, merges.

Rules (docs/membership.md explains them for people):
- 100 points are worth ¥1, so one point is one fen (`points_to_fen`, `fen_to_points`).
- Earning: one point per whole yuan paid, times the member's level multiplier at the time of
  payment; fractions of a point are dropped after multiplying (¥9.99 × 1.5 → 14 points).
- Redeeming: at most half of the goods amount may be paid with points (`points_max_redeemable`).
- A refund takes back the refunded share of the points that order earned (rounded down per
  refund; the refund that completes the order takes the rest). Points already spent cannot
  go below zero: what cannot be taken back is recorded on the entry as `shortfall`, not
  carried as a debt.
- Levels go up when points are earned (never down on earning); a refund recomputes the level
  from the reduced totals and may move it down.

Concurrency: every writer locks the memberships it touches (`memberships_lock`, primary-key
order) before it reads the balance or the head of the hash chain; on SQLite the IMMEDIATE
transaction mode serialises writers instead. The CHECK constraint on the balance and the
unique (person, seq) on entries are the last line if a lock were ever missed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import connection, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.identity.models import Person, PersonStatus
from freshloop.membership.errors import (
    InsufficientPoints,
    InvalidPointsRequest,
    PointsRefConflict,
)
from freshloop.membership.ledger import (
    ledger_verify,
    ledger_verify_all,
)
from freshloop.membership.levels import (
    level_next,
    level_qualified,
    level_recompute,
    level_set,
    member_level_save,
    member_levels,
    membership_levels_ensure,
)
from freshloop.membership.locks import membership_get_or_create, memberships_lock, survivor_get
from freshloop.membership.models import (
    GENESIS_HASH,
    MemberLevel,
    Membership,
    PointsEntry,
    PointsKind,
)
from freshloop.membership.rules import (
    DEFAULT_LEVELS,
    FEN_PER_POINT,
    MAX_ADJUST_POINTS,
    MAX_REDEEM_PERCENT,
    MULTIPLIER_BASE_BP,
    POINTS_PER_YUAN_PAID,
    REF_MAX_LENGTH,
    SYSTEM_ACTOR,
    DefaultLevel,
    LedgerVerification,
    MemberBenefits,
)

# Written in rules.py, levels.py and ledger.py; part of this module's public face.
__all__ = [
    "DEFAULT_LEVELS",
    "FEN_PER_POINT",
    "MAX_ADJUST_POINTS",
    "MAX_REDEEM_PERCENT",
    "MULTIPLIER_BASE_BP",
    "POINTS_PER_YUAN_PAID",
    "REF_MAX_LENGTH",
    "SYSTEM_ACTOR",
    "DefaultLevel",
    "LedgerVerification",
    "MemberBenefits",
    "ledger_verify",
    "ledger_verify_all",
    "level_next",
    "level_qualified",
    "member_level_save",
    "member_levels",
    "membership_get_or_create",
    "membership_levels_ensure",
    "memberships_lock",
]


logger = logging.getLogger(__name__)

# --- conversions ---------------------------------------------------------------------------


def points_to_fen(points: int) -> int:
    """The money value of `points` (100 points = ¥1, so one point is one fen)."""
    return points * FEN_PER_POINT


def fen_to_points(fen: int) -> int:
    """How many whole points `fen` is worth (rounded down: a part point cannot be redeemed)."""
    return fen // FEN_PER_POINT


# --- memberships and locking ---------------------------------------------------------------


def membership_level_recalculate(
    *, person_id: int, allow_downgrade: bool, reason: str = "recalculate"
) -> Membership:
    """Put the member on the level their totals qualify for (never lower unless allowed)."""
    with transaction.atomic():
        person = survivor_get(person_id)
        membership = memberships_lock([person.pk])[person.pk]
        level_recompute(membership=membership, allow_downgrade=allow_downgrade, reason=reason)
        return membership


def person_family_ids(*, person_id: int) -> list[int]:
    """The person and everyone merged into them: their ledgers together are this member's.

    Entries stay on the person who made them (moving them would break that person's hash
    chain), so idempotency checks and refunds of pre-merge orders look across the family.
    """
    merged = Person.objects.filter(merged_into_id=person_id).values_list("pk", flat=True)
    return [person_id, *merged]


def _family_entry(*, person_id: int, kind: str, ref: str) -> PointsEntry | None:
    return (
        PointsEntry.objects.filter(
            person_id__in=person_family_ids(person_id=person_id), kind=kind, ref=ref
        )
        .order_by("pk")
        .first()
    )


def _entry_append(
    *,
    membership: Membership,
    delta: int,
    kind: str,
    ref: str | None,
    order_ref: str = "",
    amount_fen: int = 0,
    shortfall: int = 0,
    reason: str = "",
    actor: Actor = SYSTEM_ACTOR,
) -> PointsEntry:
    """Append one entry to the (locked) member's chain and move the balance with it."""
    balance_before = membership.points_balance
    balance_after = balance_before + delta
    if balance_after < 0:
        raise InsufficientPoints(detail={"balance": balance_before, "requested": -delta})
    head = (
        PointsEntry.objects.filter(person_id=membership.person_id)
        .order_by("-seq")
        .values("seq", "entry_hash")
        .first()
    )
    now = clock.now()
    entry = PointsEntry(
        person_id=membership.person_id,
        seq=(head["seq"] + 1) if head else 1,
        delta=delta,
        kind=kind,
        ref=ref,
        order_ref=order_ref,
        amount_fen=amount_fen,
        shortfall=shortfall,
        reason=reason[:200],
        actor_label=actor.label[:150],
        balance_after=balance_after,
        created_at=now,
        prev_hash=head["entry_hash"] if head else GENESIS_HASH,
    )
    entry.entry_hash = entry.compute_hash()
    entry.save()
    membership.points_balance = balance_after
    membership.updated_at = now
    membership.save(
        update_fields=["points_balance", "lifetime_spend_fen", "points_earned_total", "updated_at"]
    )
    audit_record(
        actor=actor,
        action=f"points.{kind}",
        target=membership,
        before={"points_balance": balance_before},
        after={
            "points_balance": balance_after,
            "delta": delta,
            "ref": ref,
            "entry_id": entry.pk,
            "shortfall": shortfall,
        },
    )
    return entry


def _ref_check(value: str, *, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > REF_MAX_LENGTH:
        raise InvalidPointsRequest(
            f"{field} 必须是 1–{REF_MAX_LENGTH} 个字符", detail={field: value}
        )
    return value


def _whole(value: int, *, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidPointsRequest(f"{field} 必须是不小于 {minimum} 的整数", detail={field: value})
    return value


# --- reads other modules call -------------------------------------------------------------


def member_benefits(*, person_id: int) -> MemberBenefits:
    """The checkout benefits of the member's level (the lowest level if not yet a member).

    Every checkout asks, so the common case is one short statement, written out: the ORM
    would spend several times the database's time building it. A merged person (whose
    membership lives on the survivor), an unknown one or an empty level table takes the
    long way."""
    quote = connection.ops.quote_name
    person, member, level = (
        quote(model._meta.db_table) for model in (Person, Membership, MemberLevel)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.code, l.name, l.discount_percent, l.free_shipping "  # noqa: S608 (table names from the models, the id is a parameter)
            f"FROM {person} p LEFT JOIN {member} m ON m.person_id = p.id "
            f"JOIN {level} l ON l.id = COALESCE(m.level_id, "
            f"(SELECT id FROM {level} ORDER BY sort_order, id LIMIT 1)) "
            "WHERE p.id = %s AND p.status = %s",
            [person_id, PersonStatus.ACTIVE],
        )
        row = cursor.fetchone()
    if row is None:
        survivor = survivor_get(person_id)  # raises MemberNotFound for nobody
        membership = Membership.objects.select_related("level").filter(person=survivor).first()
        lowest = membership.level if membership is not None else member_levels()[0]
        row = (lowest.code, lowest.name, lowest.discount_percent, lowest.free_shipping)
    code, name, discount_percent, free_shipping = row
    return MemberBenefits(
        level_code=code,
        level_name=name,
        discount_percent=discount_percent,
        free_shipping=bool(free_shipping),
    )


def member_benefits_many(*, person_ids: Iterable[int]) -> dict[int, MemberBenefits]:
    """`member_benefits` for many people (a batch of orders): active people by one read of
    their levels per 500; a merged or unknown person takes `member_benefits`' own way."""
    wanted = sorted(set(person_ids))
    if not wanted:
        return {}
    levels = sorted(member_levels(), key=lambda level: (level.sort_order, level.pk))
    by_id = {level.pk: level for level in levels}
    found: dict[int, MemberBenefits] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        active = Person.objects.filter(pk__in=chunk, status=PersonStatus.ACTIVE)
        level_of = dict(
            Membership.objects.filter(person_id__in=chunk).values_list("person_id", "level_id")
        )
        for person_id in active.values_list("pk", flat=True):
            level = by_id.get(level_of.get(person_id, 0), levels[0])
            found[person_id] = MemberBenefits(
                level_code=level.code,
                level_name=level.name,
                discount_percent=level.discount_percent,
                free_shipping=bool(level.free_shipping),
            )
    for person_id in wanted:
        if person_id not in found:
            found[person_id] = member_benefits(person_id=person_id)
    return found


def points_max_redeemable(*, person_id: int, goods_fen: int) -> int:
    """Points usable on an order: the balance, but worth at most 50% of the goods amount."""
    _whole(goods_fen, field="goods_fen", minimum=0)
    person = survivor_get(person_id)
    balance = (
        Membership.objects.filter(person=person).values_list("points_balance", flat=True).first()
    )
    cap = fen_to_points(goods_fen * MAX_REDEEM_PERCENT // 100)
    return max(0, min(balance or 0, cap))


# --- writes orders call --------------------------------------------------------------------


def points_spend(*, person_id: int, points: int, order_ref: str) -> PointsEntry:
    """Take `points` for an order, inside the caller's transaction; never below zero.

    Calling again for the same order with the same points returns the first entry.
    """
    _whole(points, field="points", minimum=1)
    _ref_check(order_ref, field="order_ref")
    with transaction.atomic():
        person = survivor_get(person_id)
        membership = memberships_lock([person.pk])[person.pk]
        existing = _family_entry(person_id=person.pk, kind=PointsKind.SPEND, ref=order_ref)
        if existing is not None:
            if -existing.delta != points:
                raise PointsRefConflict(
                    detail={"order_ref": order_ref, "spent": -existing.delta, "requested": points}
                )
            return existing
        if membership.points_balance < points:
            raise InsufficientPoints(
                f"积分余额不足：可用 {membership.points_balance}，需要 {points}",
                detail={"balance": membership.points_balance, "requested": points},
            )
        return _entry_append(
            membership=membership,
            delta=-points,
            kind=PointsKind.SPEND,
            ref=order_ref,
            order_ref=order_ref,
            reason="下单抵扣",
        )


def points_spend_return(*, person_id: int, order_ref: str) -> PointsEntry | None:
    """Give back the points an unpaid, cancelled order took. None if it took none."""
    _ref_check(order_ref, field="order_ref")
    with transaction.atomic():
        person = survivor_get(person_id)
        membership = memberships_lock([person.pk])[person.pk]
        spend = _family_entry(person_id=person.pk, kind=PointsKind.SPEND, ref=order_ref)
        if spend is None:
            return None
        returned = _family_entry(person_id=person.pk, kind=PointsKind.SPEND_RETURN, ref=order_ref)
        if returned is not None:
            return returned
        return _entry_append(
            membership=membership,
            delta=-spend.delta,
            kind=PointsKind.SPEND_RETURN,
            ref=order_ref,
            order_ref=order_ref,
            reason="订单取消，退回抵扣积分",
        )


def points_for_payment(*, paid_amount_fen: int, multiplier_bp: int) -> int:
    """Points earned by a payment: whole yuan × multiplier, fractions dropped at the end."""
    return paid_amount_fen * POINTS_PER_YUAN_PAID * multiplier_bp // (100 * MULTIPLIER_BASE_BP)


def points_earn_for_order(
    *, person_id: int, order_ref: str, paid_amount_fen: int
) -> PointsEntry | None:
    """Credit the points a paid order earns, once per order; add to lifetime spend; upgrade.

    Returns None when nothing was paid (nothing earned, nothing recorded).
    """
    _ref_check(order_ref, field="order_ref")
    _whole(paid_amount_fen, field="paid_amount_fen", minimum=0)
    with transaction.atomic():
        person = survivor_get(person_id)
        membership = memberships_lock([person.pk])[person.pk]
        existing = _family_entry(person_id=person.pk, kind=PointsKind.EARN, ref=order_ref)
        if existing is not None:
            return existing
        if paid_amount_fen == 0:
            return None
        level = membership.level
        points = points_for_payment(
            paid_amount_fen=paid_amount_fen, multiplier_bp=level.points_multiplier_bp
        )
        membership.lifetime_spend_fen += paid_amount_fen
        membership.points_earned_total += points
        entry = _entry_append(
            membership=membership,
            delta=points,
            kind=PointsKind.EARN,
            ref=order_ref,
            order_ref=order_ref,
            amount_fen=paid_amount_fen,
            reason=f"订单实付 {paid_amount_fen} 分 × {level.name}倍率 {level.points_multiplier_bp / MULTIPLIER_BASE_BP:g}",
        )
        level_recompute(membership=membership, allow_downgrade=False, reason=f"order:{order_ref}")
        return entry


def points_reverse_for_refund(
    *,
    person_id: int,
    order_ref: str,
    refund_ref: str,
    refunded_fen: int,
    order_paid_fen: int,
) -> PointsEntry | None:
    """Take back the refunded share of what the order earned, once per refund.

    The share is cumulative over the order's refunds: after this refund, the order has given
    back floor(earned × refunded so far / paid) points, and all of them once fully refunded.
    If the member has already spent them, the balance stops at zero and the rest is recorded
    as `shortfall` on the entry. Lifetime spend drops by the refunded amount, which may move
    the level down. Returns None if the order earned nothing or no money was refunded.
    """
    _ref_check(order_ref, field="order_ref")
    _ref_check(refund_ref, field="refund_ref")
    _whole(refunded_fen, field="refunded_fen", minimum=0)
    _whole(order_paid_fen, field="order_paid_fen", minimum=0)
    if refunded_fen == 0 or order_paid_fen == 0:
        return None  # no money moved, so no earned share to take back
    with transaction.atomic():
        person = survivor_get(person_id)
        membership = memberships_lock([person.pk])[person.pk]
        existing = _family_entry(person_id=person.pk, kind=PointsKind.REVERSE, ref=refund_ref)
        if existing is not None:
            return existing
        earn = _family_entry(person_id=person.pk, kind=PointsKind.EARN, ref=order_ref)
        if earn is None:
            return None
        earlier = list(
            PointsEntry.objects.filter(
                person_id__in=person_family_ids(person_id=person.pk),
                kind=PointsKind.REVERSE,
                order_ref=order_ref,
            )
        )
        refunded_total = sum(entry.amount_fen for entry in earlier) + refunded_fen
        if refunded_total > order_paid_fen:
            raise InvalidPointsRequest(
                "累计退款金额超过订单实付金额",
                detail={"refunded_total": refunded_total, "order_paid_fen": order_paid_fen},
            )
        earned = earn.delta
        if refunded_total == order_paid_fen:
            due_total = earned
        else:
            due_total = earned * refunded_total // order_paid_fen
        already = sum(-entry.delta + entry.shortfall for entry in earlier)
        due = max(0, due_total - already)
        taken = min(due, membership.points_balance)
        membership.lifetime_spend_fen = max(0, membership.lifetime_spend_fen - refunded_fen)
        membership.points_earned_total = max(0, membership.points_earned_total - due)
        entry = _entry_append(
            membership=membership,
            delta=-taken,
            kind=PointsKind.REVERSE,
            ref=refund_ref,
            order_ref=order_ref,
            amount_fen=refunded_fen,
            shortfall=due - taken,
            reason=f"订单 {order_ref} 退款 {refunded_fen} 分",
        )
        level_recompute(membership=membership, allow_downgrade=True, reason=f"refund:{refund_ref}")
        return entry


def points_adjust(*, person_id: int, delta: int, reason: str, actor: Actor) -> PointsEntry:
    """An operator's correction of a balance (goodwill, mistakes). Audited with the operator."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidPointsRequest("调整数量必须是非零整数", detail={"delta": delta})
    if abs(delta) > MAX_ADJUST_POINTS:
        raise InvalidPointsRequest(
            f"单次调整不能超过 {MAX_ADJUST_POINTS} 积分", detail={"delta": delta}
        )
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise InvalidPointsRequest("请填写调整原因（200 字以内）", detail={"reason": reason})
    with transaction.atomic():
        person = survivor_get(person_id)
        membership = memberships_lock([person.pk])[person.pk]
        if membership.points_balance + delta < 0:
            raise InsufficientPoints(
                f"扣减后积分为负：当前 {membership.points_balance}，调整 {delta}",
                detail={"balance": membership.points_balance, "requested": -delta},
            )
        return _entry_append(
            membership=membership,
            delta=delta,
            kind=PointsKind.ADJUST,
            ref=None,
            reason=reason,
            actor=actor,
        )


# --- merges --------------------------------------------------------------------------------


def membership_merge(*, from_person_id: int, into_person_id: int) -> Membership | None:
    """Fold one member into another after a OneID merge; idempotent.

    The balance moves as two entries (merge_out on the merged person, merge_in on the
    survivor) so both chains stay valid; totals add up; the survivor keeps the higher of the
    two levels or what the combined totals qualify for, whichever is highest.
    """
    with transaction.atomic():
        if not Membership.objects.filter(person_id=from_person_id).exists():
            return None
        into = survivor_get(into_person_id)
        if into.pk == from_person_id:
            return None
        locked = memberships_lock([from_person_id, into.pk])
        source, target = locked[from_person_id], locked[into.pk]
        ref = f"{source.person.one_id}>{target.person.one_id}"[:REF_MAX_LENGTH]
        if PointsEntry.objects.filter(
            person_id=target.person_id, kind=PointsKind.MERGE_IN, ref=ref
        ).exists():
            return target
        moved = source.points_balance
        source_spend, source_earned = source.lifetime_spend_fen, source.points_earned_total
        source.lifetime_spend_fen = 0
        source.points_earned_total = 0
        _entry_append(
            membership=source,
            delta=-moved,
            kind=PointsKind.MERGE_OUT,
            ref=ref,
            amount_fen=source_spend,
            reason=f"账号合并，并入 {target.person.one_id}",
        )
        target.lifetime_spend_fen += source_spend
        target.points_earned_total += source_earned
        _entry_append(
            membership=target,
            delta=moved,
            kind=PointsKind.MERGE_IN,
            ref=ref,
            amount_fen=source_spend,
            reason=f"账号合并，来自 {source.person.one_id}",
        )
        levels = member_levels()
        qualified = level_qualified(
            levels=levels,
            lifetime_spend_fen=target.lifetime_spend_fen,
            points_earned=target.points_earned_total,
        )
        best = max((qualified, source.level, target.level), key=lambda level: level.sort_order)
        level_set(membership=target, level=best, reason=f"merge:{ref}")
        return target
