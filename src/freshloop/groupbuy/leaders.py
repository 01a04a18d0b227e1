"""Group leaders (GB-1): a consumer applies, an operator decides, the leadership runs a pickup
point at a level.

Invariants
- A person holds at most one leadership row. A rejected applicant applying again re-uses that
  row (same leader number and invite code): its fields are replaced, its status is `applied`
  again, and the earlier decision stays in the audit log.
- A resident ID number is held by at most one pending, active or suspended leadership (a unique
  blind index; a rejected application releases it).
- Status moves only along applied → active | rejected, active → suspended → active; anything
  else is a 409 and changes nothing.
- Every write is one transaction with an audit row (it touches identity documents and, through
  GB-2, money); bad input is a 422 naming the field and writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.ids import new_id
from freshloop.groupbuy.errors import (
    GroupbuyInputInvalid,
    IdNumberTaken,
    LeaderAlreadyApplied,
    LeaderStateInvalid,
)
from freshloop.groupbuy.idcard import (
    id_number_index,
    id_number_normalise,
    id_number_problem,
)
from freshloop.groupbuy.locks import leader_lock_by_no, leaders_lock_of_people
from freshloop.groupbuy.models import (
    ID_HOLDING_STATUSES,
    GroupLeader,
    LeaderLevel,
    LeaderStatus,
)
from freshloop.identity.errors import InvalidPhone
from freshloop.identity.models import Person
from freshloop.identity.selectors import phone_normalise

INVITE_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: a code read aloud or typed from a poster is not misread."""
INVITE_CODE_LENGTH = 8
"""31^8 ≈ 8.5e11 codes: short enough for a QR and a poster, far too many to guess one."""
TRAINEE_LEVEL_CODE = "trainee"
REASON_MAX = 200
ADDRESS_FIELDS = (
    ("name", "联系人", 32, True),
    ("phone", "联系电话", 20, True),
    ("province", "省份", 32, True),
    ("city", "城市", 32, True),
    ("district", "区县", 32, False),
    ("detail", "详细地址", 120, True),
)


def invite_code_new() -> str:
    return "".join(secrets.choice(INVITE_CODE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))


def invite_code_normalise(raw: str) -> str:
    return raw.strip().upper()


@dataclass(frozen=True)
class LeaderApplication:
    """What an applicant hands in, cleaned: the fields of their leadership row."""

    display_name: str
    pickup_name: str
    pickup_address: dict[str, str]
    pickup_hours: str
    real_name: str
    id_number: str
    recruiter: GroupLeader | None


def _text(
    problems: list[tuple[str, str]], field: str, title: str, raw: Any, limit: int, required: bool
) -> str:
    value = raw.strip() if isinstance(raw, str) else ""
    if required and not value:
        problems.append((field, f"请填写{title}"))
    elif len(value) > limit:
        problems.append((field, f"{title}最多 {limit} 个字"))
    return value


def _address(problems: list[tuple[str, str]], raw: Any) -> dict[str, str]:
    given = raw if isinstance(raw, dict) else {}
    cleaned = {
        key: _text(problems, f"pickup_address.{key}", title, given.get(key), limit, required)
        for key, title, limit, required in ADDRESS_FIELDS
    }
    if cleaned["phone"]:
        try:
            cleaned["phone"] = phone_normalise(cleaned["phone"])
        except InvalidPhone:
            problems.append(("pickup_address.phone", "联系电话格式不正确"))
    return cleaned


def _recruiter(problems: list[tuple[str, str]], code: str | None) -> GroupLeader | None:
    if not code or not code.strip():
        return None
    recruiter = GroupLeader.objects.filter(
        invite_code=invite_code_normalise(code), status=LeaderStatus.ACTIVE
    ).first()
    if recruiter is None:
        problems.append(("recruiter_invite_code", "推荐团长的邀请码无效，或该团长暂停营业"))
    return recruiter


def leader_application_clean(
    *,
    display_name: str,
    pickup_name: str,
    pickup_address: dict[str, Any],
    pickup_hours: str,
    real_name: str,
    id_number: str,
    recruiter_invite_code: str | None,
) -> LeaderApplication:
    """Every field checked, every problem reported at once (422 `groupbuy_input_invalid`)."""
    problems: list[tuple[str, str]] = []
    name = _text(problems, "display_name", "团长昵称", display_name, 32, True)
    point = _text(problems, "pickup_name", "自提点名称", pickup_name, 64, True)
    address = _address(problems, pickup_address)
    hours = _text(problems, "pickup_hours", "营业时间", pickup_hours, 64, True)
    person_name = _text(problems, "real_name", "真实姓名", real_name, 30, True)
    number = id_number_normalise(id_number) if isinstance(id_number, str) else ""
    if not number:
        problems.append(("id_number", "请填写身份证号"))
    else:
        problem = id_number_problem(number, today=clock.to_shanghai(clock.now()).date())
        if problem:
            problems.append(("id_number", problem))
    recruiter = _recruiter(problems, recruiter_invite_code)
    if problems:
        raise GroupbuyInputInvalid.for_fields(problems)
    return LeaderApplication(name, point, address, hours, person_name, number, recruiter)


# The levels a new installation starts with (the data migration 0002 writes the same rows;
# a migration never imports application code, so the table is written there too).
DEFAULT_LEVELS = (
    ("trainee", "见习团长", 0, 1),
    ("regular", "正式团长", 300_000, 2),  # ¥3,000 a month
    ("gold", "金牌团长", 2_000_000, 3),  # ¥20,000 a month
)


def leader_levels_ensure_defaults() -> None:
    """Write the default levels that are missing (a database emptied after its migrations ran:
    a restore, a flushed test database); levels an operator edited are left as they are."""
    for code, name, min_gmv_fen, rank in DEFAULT_LEVELS:
        LeaderLevel.objects.get_or_create(
            code=code, defaults={"name": name, "min_monthly_gmv_fen": min_gmv_fen, "rank": rank}
        )


def _entry_level() -> LeaderLevel:
    level = LeaderLevel.objects.filter(code=TRAINEE_LEVEL_CODE).first()
    level = level or LeaderLevel.objects.order_by("rank").first()
    if level is None:
        # The data migration seeds the levels; an operator has deleted every one of them.
        raise GroupbuyInputInvalid("平台尚未设置团长等级，暂时无法申请", detail=[])
    return level


def _id_taken(index: str, *, other_than: int | None) -> bool:
    holders = GroupLeader.objects.filter(id_number_index=index, status__in=ID_HOLDING_STATUSES)
    if other_than is not None:
        holders = holders.exclude(pk=other_than)
    return holders.exists()


def leader_apply(
    *,
    person: Person,
    display_name: str,
    pickup_name: str,
    pickup_address: dict[str, Any],
    pickup_hours: str,
    real_name: str,
    id_number: str,
    recruiter_invite_code: str | None = None,
) -> GroupLeader:
    """Apply to become a group leader: a pending leadership at the entry level, awaiting an
    operator. Refused (409) while the person has a pending, active or suspended one, or when
    another leadership holds the ID number; a rejected applicant applies again."""
    application = leader_application_clean(
        display_name=display_name,
        pickup_name=pickup_name,
        pickup_address=pickup_address,
        pickup_hours=pickup_hours,
        real_name=real_name,
        id_number=id_number,
        recruiter_invite_code=recruiter_invite_code,
    )
    if application.recruiter is not None and application.recruiter.person_id == person.pk:
        raise GroupbuyInputInvalid.for_fields([("recruiter_invite_code", "不能填写自己的邀请码")])
    index = id_number_index(application.id_number)
    for _ in range(2):
        try:
            with transaction.atomic():
                return _apply(person, application, index)
        except IntegrityError:
            # A unique key taken a moment ago by another transaction: the same person's
            # application, the same ID's, or (vanishingly rarely) the drawn invite code.
            own = GroupLeader.objects.filter(person=person).first()
            if own is not None and own.status != LeaderStatus.REJECTED:
                raise LeaderAlreadyApplied(detail={"leader_no": own.leader_no}) from None
            if _id_taken(index, other_than=own.pk if own else None):
                raise IdNumberTaken() from None
    raise IdNumberTaken()  # the same race lost twice: the ID is being claimed right now


def _apply(person: Person, application: LeaderApplication, index: str) -> GroupLeader:
    now = clock.now()
    earlier = next(iter(leaders_lock_of_people([person.pk])), None)
    if earlier is not None and earlier.status != LeaderStatus.REJECTED:
        raise LeaderAlreadyApplied(detail={"leader_no": earlier.leader_no})
    if _id_taken(index, other_than=earlier.pk if earlier else None):
        raise IdNumberTaken()
    leader = earlier or GroupLeader(
        leader_no=new_id("GL"),
        person=person,
        invite_code=invite_code_new(),
        level=_entry_level(),
        created_at=now,
    )
    leader.display_name = application.display_name
    leader.pickup_name = application.pickup_name
    leader.pickup_address = application.pickup_address
    leader.pickup_hours = application.pickup_hours
    leader.pickup_province = application.pickup_address["province"]
    leader.pickup_city = application.pickup_address["city"]
    leader.real_name = application.real_name
    leader.id_number = application.id_number
    leader.id_number_index = index
    leader.recruiter = application.recruiter
    leader.status = LeaderStatus.APPLIED
    leader.applied_at = now
    leader.decided_at = None
    leader.decided_by = ""
    leader.decision_reason = ""
    leader.suspended_reason = ""
    leader.updated_at = now
    leader.save()
    audit_record(
        actor=Actor.consumer(person.one_id),
        action="groupbuy.leader.reapply" if earlier else "groupbuy.leader.apply",
        target=leader,
        after={
            "leader_no": leader.leader_no,
            "display_name": leader.display_name,
            "pickup_province": leader.pickup_province,
            "pickup_city": leader.pickup_city,
            "recruiter": application.recruiter.leader_no if application.recruiter else None,
        },
    )
    return leader


# --- operator decisions ---------------------------------------------------------------------


def _reason(raw: str, *, required: bool) -> str:
    problems: list[tuple[str, str]] = []
    reason = _text(problems, "reason", "原因", raw, REASON_MAX, required)
    if problems:
        raise GroupbuyInputInvalid.for_fields(problems)
    return reason


def _transition(
    *,
    actor: Actor,
    leader_no: str,
    allowed_from: Iterable[str],
    to: str,
    action: str,
    changes: dict[str, Any],
) -> GroupLeader:
    with transaction.atomic():
        leader = leader_lock_by_no(leader_no)
        if leader.status not in allowed_from:
            raise LeaderStateInvalid(
                f"团长当前为「{leader.get_status_display()}」，不能执行此操作",
                detail={"leader_no": leader_no, "status": leader.status},
            )
        before = {"status": leader.status}
        leader.status = to
        for field, value in changes.items():
            setattr(leader, field, value)
        leader.updated_at = clock.now()
        leader.save(update_fields=["status", "updated_at", *changes])
        audit_record(
            actor=actor,
            action=action,
            target=leader,
            before=before,
            after={"status": to, **changes},
        )
    return leader


def leader_approve(*, actor: Actor, leader_no: str) -> GroupLeader:
    """An operator opens the leadership for business: its invite code starts attaching."""
    return _transition(
        actor=actor,
        leader_no=leader_no,
        allowed_from=[LeaderStatus.APPLIED],
        to=LeaderStatus.ACTIVE,
        action="groupbuy.leader.approve",
        changes={"decided_at": clock.now(), "decided_by": actor.label, "decision_reason": ""},
    )


def leader_reject(*, actor: Actor, leader_no: str, reason: str) -> GroupLeader:
    """An operator turns the application down, saying why (the applicant reads it)."""
    why = _reason(reason, required=True)
    return _transition(
        actor=actor,
        leader_no=leader_no,
        allowed_from=[LeaderStatus.APPLIED],
        to=LeaderStatus.REJECTED,
        action="groupbuy.leader.reject",
        changes={"decided_at": clock.now(), "decided_by": actor.label, "decision_reason": why},
    )


def leader_suspend(*, actor: Actor, leader_no: str, reason: str) -> GroupLeader:
    """Close the pickup point: the code stops attaching, and its customers may attach to
    another leader at once."""
    why = _reason(reason, required=True)
    return _transition(
        actor=actor,
        leader_no=leader_no,
        allowed_from=[LeaderStatus.ACTIVE],
        to=LeaderStatus.SUSPENDED,
        action="groupbuy.leader.suspend",
        changes={"suspended_reason": why},
    )


def leader_reinstate(*, actor: Actor, leader_no: str) -> GroupLeader:
    """Reopen a suspended leadership (customers who left meanwhile stay with their new leader)."""
    return _transition(
        actor=actor,
        leader_no=leader_no,
        allowed_from=[LeaderStatus.SUSPENDED],
        to=LeaderStatus.ACTIVE,
        action="groupbuy.leader.reinstate",
        changes={"suspended_reason": ""},
    )


def leader_level_set(*, actor: Actor, leader_no: str, level_code: str) -> GroupLeader:
    """An operator's manual override of the leader's level (the monthly GMV job of GB-2 sets
    it otherwise); audited since GB-2's commission rates follow the level."""
    level = LeaderLevel.objects.filter(code=level_code).first() if level_code else None
    if level is None:
        raise GroupbuyInputInvalid.for_fields([("level_code", "没有这个团长等级")])
    with transaction.atomic():
        leader = leader_lock_by_no(leader_no)
        before = {"level": leader.level.code}
        if leader.level_id != level.pk:
            leader.level = level
            leader.updated_at = clock.now()
            leader.save(update_fields=["level", "updated_at"])
            audit_record(
                actor=actor,
                action="groupbuy.leader.level_set",
                target=leader,
                before=before,
                after={"level": level.code},
            )
    return leader


def leader_level_save(*, actor: Actor, level: LeaderLevel) -> LeaderLevel:
    """An operator creates or edits a rung of the ladder (back office), audited: GB-2's
    commission rates and the monthly level job read these thresholds."""
    problems: list[tuple[str, str]] = []
    level.code = _text(problems, "code", "代码", level.code, 16, True)
    level.name = _text(problems, "name", "名称", level.name, 32, True)
    if problems:
        raise GroupbuyInputInvalid.for_fields(problems)
    with transaction.atomic():
        stored = LeaderLevel.objects.filter(pk=level.pk).first() if level.pk else None
        before = _level_fields(stored) if stored else None
        level.save()
        audit_record(
            actor=actor,
            action="groupbuy.level.save",
            target=level,
            before=before,
            after=_level_fields(level),
        )
    return level


def _level_fields(level: LeaderLevel) -> dict[str, Any]:
    return {
        "code": level.code,
        "name": level.name,
        "min_monthly_gmv_fen": level.min_monthly_gmv_fen,
        "rank": level.rank,
    }
