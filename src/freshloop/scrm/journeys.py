"""Journeys: step specs, creating and publishing versions, enrolment, conversions, OneID.

A published version's steps run in order for each enrolled customer (`runner.py` runs them,
exactly once). Triggers enrol through `journey_enroll`, idempotent per (journey, person,
trigger_key); an audience enters at once through `journey_enroll_people`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, TypeGuard

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.datahub.tags.services import manual_tag_text_clean
from freshloop.identity.models import Person, PersonStatus
from freshloop.promotions.models import CouponTemplate
from freshloop.scrm.errors import JourneyInvalid, JourneyNotDeletable, JourneyNotRunnable
from freshloop.scrm.locks import journey_lock
from freshloop.scrm.models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStatus,
    JourneyTrigger,
    JourneyVersion,
    StaffTask,
)
from freshloop.scrm.triggers import PLACEHOLDERS, placeholders_unknown, trigger_config_check

logger = logging.getLogger(__name__)

ENGINE = Actor.system("scrm.journeys")
MAX_STEPS = 20
MAX_WAIT_MINUTES = 60 * 24 * 60  # 60 days
RUN_BATCH = 500
# A customer converts when they pay within this long after entering (last touch wins).
CONVERSION_WINDOW = dt.timedelta(days=7)

STEP_TYPES = {
    "wait": "等待",
    "condition": "条件",
    "message": "企业微信消息",
    "coupon": "发优惠券",
    "task": "员工任务",
    "tag": "打标签",
}
MAX_MESSAGE_CHARS = 1000
CONDITIONS = {
    "unpaid_since_entry": "进入旅程后仍未支付",
    "paid_since_entry": "进入旅程后已支付",
}


# --- step specs ---------------------------------------------------------------------------


def _whole(value: Any, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _invite_checked(
    step: dict[str, Any], where: str, problems: list[tuple[str, str]]
) -> dict[str, str]:
    """A message's optional group invitation (加群): a link card to a 群活码's page, which always
    opens a group that is not full. WeCom has no API that puts a customer into a group, so
    "add to group" is this invitation from their own staff member."""
    url = step.get("invite_url", "")
    if url in ("", None):
        return {}
    if not isinstance(url, str) or len(url) > 500 or not url.startswith(("https://", "http://")):
        problems.append((f"{where}.invite_url", "入群邀请应为群活码的链接（http(s)://…）"))
        return {}
    title = step.get("invite_title") or "点击加入社群"
    if not isinstance(title, str) or len(title) > 64:
        problems.append((f"{where}.invite_title", "邀请卡片标题最多 64 个字"))
        return {}
    return {"invite_url": url, "invite_title": title.strip()}


def steps_check(steps: Any, *, trigger: str | None = None) -> list[dict[str, Any]]:
    """The steps as they will be stored, or JourneyInvalid naming every wrong field. With the
    journey's `trigger`, a message's `{placeholder}`s must be ones that trigger fills."""
    if not isinstance(steps, list) or not steps:
        raise JourneyInvalid.for_fields([("steps", "请至少添加一个步骤")])
    if len(steps) > MAX_STEPS:
        raise JourneyInvalid.for_fields([("steps", f"一个旅程最多 {MAX_STEPS} 个步骤")])
    problems: list[tuple[str, str]] = []
    clean: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        where = f"steps.{index}"
        if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
            problems.append(
                (
                    f"{where}.type",
                    "步骤类型只能是等待、条件、企业微信消息、发优惠券、员工任务或打标签",
                )
            )
            continue
        kind = step["type"]
        if kind == "wait":
            if not _whole(step.get("minutes"), 1, MAX_WAIT_MINUTES):
                problems.append((f"{where}.minutes", "等待时长为 1 分钟到 60 天（按分钟填写）"))
            at_best_hour = step.get("at_best_hour", False)
            if not isinstance(at_best_hour, bool):
                problems.append((f"{where}.at_best_hour", "「在最佳触达时段继续」应为是或否"))
            wait: dict[str, Any] = {"type": kind, "minutes": step.get("minutes")}
            if at_best_hour is True:  # kept only when on: older versions' steps stay as they were
                wait["at_best_hour"] = True
            clean.append(wait)
        elif kind == "condition":
            if step.get("check") not in CONDITIONS:
                problems.append((f"{where}.check", "未知的条件"))
            clean.append({"type": kind, "check": step.get("check")})
        elif kind == "message":
            text = step.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE_CHARS:
                problems.append((f"{where}.text", f"请填写消息内容（最多 {MAX_MESSAGE_CHARS} 字）"))
            elif trigger is not None and (
                unknown := placeholders_unknown(trigger=trigger, text=text)
            ):
                offered = "、".join(f"{{{name}}}" for name in PLACEHOLDERS.get(trigger, {}))
                problems.append(
                    (
                        f"{where}.text",
                        f"这个触发条件没有占位符 {{{unknown[0]}}}"
                        + (f"（可用：{offered}）" if offered else "（它不提供占位符）"),
                    )
                )
            product_cards = step.get("product_cards", False)
            if not isinstance(product_cards, bool):
                problems.append((f"{where}.product_cards", "是否附商品卡片应为是或否"))
            invite = _invite_checked(step, where, problems)
            clean.append(
                {
                    "type": kind,
                    "text": text.strip() if isinstance(text, str) else text,
                    "product_cards": product_cards is True,
                    **invite,
                }
            )
        elif kind == "coupon":
            template_id = step.get("template_id")
            if (
                not _whole(template_id, 1, 2**63 - 1)
                or not CouponTemplate.objects.filter(pk=template_id).exists()
            ):
                problems.append((f"{where}.template_id", "请选择一个存在的优惠券模板"))
            clean.append({"type": kind, "template_id": template_id})
        elif kind == "task":
            title = step.get("title")
            if not isinstance(title, str) or not title.strip() or len(title) > 120:
                problems.append((f"{where}.title", "请填写任务内容（最多 120 字）"))
            if not _whole(step.get("due_minutes"), 1, MAX_WAIT_MINUTES):
                problems.append((f"{where}.due_minutes", "完成时限为 1 分钟到 60 天"))
            assignee = step.get("assignee", "")
            if not isinstance(assignee, str) or len(assignee) > 64:
                problems.append((f"{where}.assignee", "负责人最多 64 个字符"))
            clean.append(
                {
                    "type": kind,
                    "title": title.strip() if isinstance(title, str) else title,
                    "due_minutes": step.get("due_minutes"),
                    "assignee": assignee if isinstance(assignee, str) else "",
                }
            )
        else:  # tag
            tag = step.get("tag")
            try:
                cleaned = manual_tag_text_clean(tag if isinstance(tag, str) else "")
            except DomainError as error:
                cleaned = ""
                problems.append((f"{where}.tag", error.message))
            clean.append({"type": kind, "tag": cleaned})
    if problems:
        raise JourneyInvalid.for_fields(problems)
    return clean


# --- journeys -----------------------------------------------------------------------------


def _name_problem(name: str) -> list[tuple[str, str]]:
    if not name.strip() or len(name.strip()) > 64:
        return [("name", "请填写旅程名称（最多 64 字）")]
    if any(ord(char) < 32 for char in name):
        return [("name", "旅程名称不能包含控制字符")]
    return []


@transaction.atomic
def journey_create(
    *,
    name: str,
    trigger: str,
    steps: Any,
    actor: Actor,
    trigger_config: dict[str, Any] | None = None,
) -> Journey:
    """A new journey with its first version published, not yet running (draft). The trigger
    and its settings (`trigger_config`: the segment, the days) are fixed from now on."""
    problems = _name_problem(name)
    if trigger not in JourneyTrigger.values:
        problems.append(("trigger", "未知的触发条件"))
    if problems:
        raise JourneyInvalid.for_fields(problems)
    config = trigger_config_check(trigger=trigger, config=trigger_config)
    now = clock.now()
    journey = Journey.objects.create(
        name=name.strip(),
        trigger=trigger,
        trigger_config=config,
        created_by=actor.label[:64],
        created_at=now,
        updated_at=now,
    )
    journey_version_publish(journey=journey, steps=steps, actor=actor)
    journey.refresh_from_db()
    return journey


@transaction.atomic
def journey_version_publish(*, journey: Journey, steps: Any, actor: Actor) -> JourneyVersion:
    """Publish new steps as the next version; customers already inside finish theirs."""
    clean = steps_check(steps, trigger=journey.trigger)
    number = (
        journey.versions.order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    version = JourneyVersion.objects.create(
        journey=journey,
        number=number,
        steps=clean,
        published_by=actor.label[:64],
        published_at=clock.now(),
    )
    Journey.objects.filter(pk=journey.pk).update(current_version=version, updated_at=clock.now())
    audit_record(
        actor=actor,
        action="scrm.journey_publish",
        target=journey,
        after={"version": number, "steps": clean},
    )
    return version


def journey_status_set(*, journey: Journey, status: str, actor: Actor) -> Journey:
    """Start (active) or pause a journey. Paused: no one enters, those inside wait."""
    if status not in JourneyStatus.values:
        raise JourneyInvalid.for_fields([("status", "未知的状态")])
    if status == JourneyStatus.ACTIVE and journey.current_version_id is None:
        raise JourneyNotRunnable()
    before = journey.status
    Journey.objects.filter(pk=journey.pk).update(status=status, updated_at=clock.now())
    audit_record(
        actor=actor,
        action="scrm.journey_status",
        target=journey,
        before={"status": before},
        after={"status": status},
    )
    journey.refresh_from_db()
    return journey


@transaction.atomic
def journey_rename(*, journey: Journey, name: str, actor: Actor) -> Journey:
    """Give the journey a new name (audited); versions, entries and numbers stay as they are."""
    problems = _name_problem(name)
    if problems:
        raise JourneyInvalid.for_fields(problems)
    before = journey.name
    Journey.objects.filter(pk=journey.pk).update(name=name.strip(), updated_at=clock.now())
    audit_record(
        actor=actor,
        action="scrm.journey_rename",
        target=journey,
        before={"name": before},
        after={"name": name.strip()},
    )
    journey.refresh_from_db()
    return journey


@transaction.atomic
def journey_delete(*, journey: Journey, actor: Actor) -> None:
    """Delete a draft or paused journey nobody is still inside, with its versions, finished
    entries and step records (audited with its totals). What its steps did stays: coupons,
    tasks, tags and the messages' outbox rows. A running journey, or one with customers still
    inside, is refused (409): pause it and let them finish first."""
    locked = journey_lock(journey.pk)
    if locked is None:
        return
    if locked.status == JourneyStatus.ACTIVE:
        raise JourneyNotDeletable("运行中的旅程不能删除，请先暂停", detail={"status": "active"})
    inside = JourneyEnrollment.objects.filter(
        journey=locked, status=EnrollmentStatus.ACTIVE
    ).count()
    if inside:
        raise JourneyNotDeletable(
            f"旅程中还有 {inside} 位客户未走完，不能删除", detail={"active": inside}
        )
    entered = JourneyEnrollment.objects.filter(journey=locked).count()
    audit_record(
        actor=actor,
        action="scrm.journey_delete",
        target=locked,
        before={
            "name": locked.name,
            "trigger": locked.trigger,
            "trigger_config": locked.trigger_config,
            "status": locked.status,
            "entered": entered,
        },
    )
    # The enrolments point at versions (PROTECT): they go first, then the journey, whose
    # current version is released before its versions go with it.
    JourneyEnrollment.objects.filter(journey=locked).delete()
    Journey.objects.filter(pk=locked.pk).update(current_version=None)
    JourneyVersion.objects.filter(journey=locked).delete()
    Journey.objects.filter(pk=locked.pk).delete()


# --- enrolment ----------------------------------------------------------------------------


def journey_enroll(
    *, trigger: str, person_id: int, trigger_key: str, context: dict[str, Any]
) -> list[JourneyEnrollment]:
    """Enrol the person in every running journey with this trigger, once per trigger key."""
    now = clock.now()
    person = Person.objects.filter(pk=person_id).only("status").first()
    if person is None or person.status != PersonStatus.ACTIVE:
        return []
    entered: list[JourneyEnrollment] = []
    journeys = Journey.objects.filter(
        trigger=trigger, status=JourneyStatus.ACTIVE, current_version__isnull=False
    )
    for journey in journeys:
        version_id = journey.current_version_id
        if version_id is None:  # the query excludes it; mypy cannot know
            continue
        try:
            with transaction.atomic():
                entered.append(
                    JourneyEnrollment.objects.create(
                        journey=journey,
                        version_id=version_id,
                        person_id=person_id,
                        trigger_key=trigger_key[:128],
                        context=context,
                        next_run_at=now,
                        entered_at=now,
                    )
                )
        except IntegrityError:  # this trigger occurrence already enrolled them
            continue
    return entered


def journey_enroll_people(
    *, journey: Journey, person_ids: list[int], trigger_key: str, context: dict[str, Any]
) -> int:
    """Enrol many people in one running journey at once (an audience: a segment pushed into a
    journey, a mass campaign). Idempotent per person and trigger key, like `journey_enroll`;
    returns how many entered now."""
    if journey.status != JourneyStatus.ACTIVE or journey.current_version_id is None:
        raise JourneyNotRunnable()
    now = clock.now()
    active = set(
        Person.objects.filter(pk__in=person_ids, status=PersonStatus.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    before = JourneyEnrollment.objects.filter(journey=journey, trigger_key=trigger_key).count()
    JourneyEnrollment.objects.bulk_create(
        [
            JourneyEnrollment(
                journey=journey,
                version_id=journey.current_version_id,
                person_id=person_id,
                trigger_key=trigger_key[:128],
                context=context,
                next_run_at=now,
                entered_at=now,
            )
            for person_id in sorted(active)
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )
    return (
        JourneyEnrollment.objects.filter(journey=journey, trigger_key=trigger_key).count() - before
    )


def enrollment_convert(
    *, person_id: int, order_no: str, paid_fen: int, paid_at: dt.datetime
) -> None:
    """Last touch: the person's most recent enrolment entered within the window before the
    payment, not yet converted, counts the order as its conversion."""
    latest = (
        JourneyEnrollment.objects.filter(
            person_id=person_id,
            converted_at__isnull=True,
            entered_at__lte=paid_at,
            entered_at__gte=paid_at - CONVERSION_WINDOW,
        )
        .order_by("-entered_at", "-id")
        .first()
    )
    if latest is None:
        return
    JourneyEnrollment.objects.filter(pk=latest.pk, converted_at__isnull=True).update(
        converted_at=paid_at, converted_order_no=order_no, converted_fen=paid_fen
    )


def enrollments_follow_merge(*, from_person_id: int, into_person_id: int) -> None:
    """A merged-away person's journeys and tasks follow them; where the survivor is already in
    the same journey for the same trigger, the merged-away enrolment ends."""
    for enrollment in JourneyEnrollment.objects.filter(person_id=from_person_id):
        clash = JourneyEnrollment.objects.filter(
            journey_id=enrollment.journey_id,
            person_id=into_person_id,
            trigger_key=enrollment.trigger_key,
        ).exists()
        if clash:
            enrollment.delete()
        else:
            JourneyEnrollment.objects.filter(pk=enrollment.pk).update(person_id=into_person_id)
    StaffTask.objects.filter(person_id=from_person_id).update(person_id=into_person_id)


def enrollments_erase(*, person_id: int) -> None:
    """PIPL erase: the person leaves every journey; their tasks go."""
    JourneyEnrollment.objects.filter(person_id=person_id).delete()
    StaffTask.objects.filter(person_id=person_id).delete()
