"""The journey engine: step specs, enrolment, and running due steps exactly once.

A published version's steps run in order for each enrolled customer. A `wait` parks the
enrolment until its time (it is scheduled, not executed); a `condition` that does not hold
ends the enrolment ("exited"); an action (coupon, staff task, tag) runs once: its
`JourneyStepRun` row is unique per (enrolment, step) and written in the same transaction as
the action's own rows, so a job retried after a crash — or a second worker picking the same
enrolment — can never issue the coupon twice. Everything an action does is a row in our own
database (a coupon, a task, a tag; messages go through the outbox), which is what makes that
transaction enough.

Triggers enrol through `journey_enroll`, idempotent per (journey, person, trigger_key).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, TypeGuard

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.datahub.tags.services import manual_tag_add, manual_tag_text_clean
from freshloop.identity.models import Person, PersonStatus
from freshloop.messaging.models import MarketingDispatch
from freshloop.messaging.services import (
    WECOM_CHANNEL,
    MarketingSend,
    marketing_send,
    marketing_send_many,
    wecom_payload,
)
from freshloop.orders.models import BOUGHT_STATUSES, Order
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import coupon_issue
from freshloop.scrm.contacts import contact_for_person, contacts_for_people
from freshloop.scrm.errors import JourneyInvalid, JourneyNotRunnable
from freshloop.scrm.locks import enrollments_claim
from freshloop.scrm.models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStatus,
    JourneyStepRun,
    JourneyTrigger,
    JourneyVersion,
    StaffTask,
    StepOutcome,
)

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


def steps_check(steps: Any) -> list[dict[str, Any]]:
    """The steps as they will be stored, or JourneyInvalid naming every wrong field."""
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
            clean.append({"type": kind, "minutes": step.get("minutes")})
        elif kind == "condition":
            if step.get("check") not in CONDITIONS:
                problems.append((f"{where}.check", "未知的条件"))
            clean.append({"type": kind, "check": step.get("check")})
        elif kind == "message":
            text = step.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE_CHARS:
                problems.append((f"{where}.text", f"请填写消息内容（最多 {MAX_MESSAGE_CHARS} 字）"))
            product_cards = step.get("product_cards", False)
            if not isinstance(product_cards, bool):
                problems.append((f"{where}.product_cards", "是否附商品卡片应为是或否"))
            clean.append(
                {
                    "type": kind,
                    "text": text.strip() if isinstance(text, str) else text,
                    "product_cards": product_cards is True,
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


@transaction.atomic
def journey_create(*, name: str, trigger: str, steps: Any, actor: Actor) -> Journey:
    """A new journey with its first version published, not yet running (draft)."""
    problems = []
    if not name.strip() or len(name) > 64:
        problems.append(("name", "请填写旅程名称（最多 64 字）"))
    if trigger not in JourneyTrigger.values:
        problems.append(("trigger", "未知的触发条件"))
    if problems:
        raise JourneyInvalid.for_fields(problems)
    now = clock.now()
    journey = Journey.objects.create(
        name=name.strip(),
        trigger=trigger,
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
    clean = steps_check(steps)
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


# --- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepResult:
    outcome: str
    detail: str = ""


def _paid_since(enrollment: JourneyEnrollment) -> bool:
    return Order.objects.filter(
        person_id=enrollment.person_id,
        status__in=BOUGHT_STATUSES,
        paid_at__gte=enrollment.entered_at,
    ).exists()


def _condition(enrollment: JourneyEnrollment, step: dict[str, Any]) -> StepResult:
    paid = _paid_since(enrollment)
    holds = not paid if step["check"] == "unpaid_since_entry" else paid
    label = CONDITIONS[step["check"]]
    return StepResult(StepOutcome.PASSED if holds else StepOutcome.FAILED_CONDITION, label)


def _source(enrollment: JourneyEnrollment, index: int) -> str:
    """Who did it, for the customer's timeline: "journey:12:step:3" (messaging's label)."""
    return f"journey:{enrollment.journey_id}:step:{index + 1}"


def _coupon(enrollment: JourneyEnrollment, step: dict[str, Any], index: int) -> StepResult:
    template = CouponTemplate.objects.filter(pk=step["template_id"]).first()
    if template is None:
        return StepResult(StepOutcome.SKIPPED, "优惠券模板已删除")
    person = Person.objects.get(pk=enrollment.person_id)
    try:
        result = coupon_issue(
            template=template,
            people=[person],
            source="journey",
            source_ref=_source(enrollment, index),
            actor=ENGINE,
        )
    except DomainError as error:  # a template that stopped being issuable: skip, keep going
        return StepResult(StepOutcome.SKIPPED, f"未发券：{error.message}"[:200])
    if not result.issued:
        reason = result.skipped[0].reason if result.skipped else "未发券"
        return StepResult(StepOutcome.SKIPPED, f"未发券：{reason}"[:200])
    return StepResult(StepOutcome.DONE, f"已发券 {template.name}"[:200])


def _task(
    enrollment: JourneyEnrollment, step: dict[str, Any], index: int, now: dt.datetime
) -> StepResult:
    StaffTask.objects.create(
        person_id=enrollment.person_id,
        title=step["title"],
        assignee=step.get("assignee", ""),
        due_at=now + dt.timedelta(minutes=step["due_minutes"]),
        source=_source(enrollment, index),
        created_at=now,
    )
    return StepResult(StepOutcome.DONE, f"已创建任务：{step['title']}"[:200])


def _tag(enrollment: JourneyEnrollment, step: dict[str, Any]) -> StepResult:
    person = Person.objects.get(pk=enrollment.person_id)
    manual_tag_add(person=person, tag=step["tag"], actor=ENGINE)
    return StepResult(StepOutcome.DONE, f"已打标签：{step['tag']}")


def _product_cards(enrollment: JourneyEnrollment, index: int) -> list[dict[str, str]]:
    """Link cards for the products the trigger was about (the abandoned cart's), each with a
    tracking code so an order through it can be attributed to the journey step."""
    sku_ids = [int(sku) for sku in enrollment.context.get("sku_ids", [])][:3]
    base = settings.FRESHLOOP.public_base_url
    tracking = f"j{enrollment.journey_id}s{index + 1}"
    return [
        {
            "title": sku.product.name,
            "desc": f"{sku.spec} · ¥{sku.price_fen / 100:.2f}",
            "url": f"{base}/m/products/{sku.product_id}?sku={sku.pk}&from={tracking}",
        }
        for sku in Sku.objects.filter(pk__in=sku_ids).select_related("product").order_by("pk")
    ]


def _message(
    enrollment: JourneyEnrollment, step: dict[str, Any], index: int, now: dt.datetime
) -> StepResult:
    """A 1:1 WeCom message from the customer's own 跟进人, through the marketing policy
    (consent, caps, quiet hours, WeCom's limit); held or suppressed sends are reported."""
    contact = contact_for_person(person_id=enrollment.person_id)
    if contact is None:
        return StepResult(StepOutcome.SKIPPED, "不是企业微信好友，无法发送")
    dispatch = marketing_send(
        person_id=enrollment.person_id,
        channel=WECOM_CHANNEL,
        payload=wecom_payload(
            sender=contact.follow_userid,
            text=step["text"],
            links=_product_cards(enrollment, index) if step.get("product_cards") else [],
        ),
        destination=contact.external_userid,
        purpose="journey",
        source=_source(enrollment, index),
        dedupe_key=f"journey-enrollment:{enrollment.pk}:step:{index}",
        now=now,
    )
    return _message_result(dispatch, contact.follow_userid)


def _message_result(dispatch: MarketingDispatch, sender: str) -> StepResult:
    if dispatch.status == "suppressed":
        return StepResult(StepOutcome.SKIPPED, f"未发送：{dispatch.reason}"[:200])
    label = "已暂缓" if dispatch.status == "held" else "已发送"
    return StepResult(StepOutcome.DONE, f"{label}：{dispatch.reason or sender}"[:200])


def _execute(
    enrollment: JourneyEnrollment, step: dict[str, Any], index: int, now: dt.datetime
) -> StepResult:
    kind = step["type"]
    if kind == "message":
        return _message(enrollment, step, index, now)
    if kind == "condition":
        return _condition(enrollment, step)
    if kind == "coupon":
        return _coupon(enrollment, step, index)
    if kind == "task":
        return _task(enrollment, step, index, now)
    return _tag(enrollment, step)


def _advance(enrollment: JourneyEnrollment, now: dt.datetime) -> int:
    """Run the enrolment's steps from where it stands until a wait or the end, each in its own
    transaction. Returns how many steps were executed (waits are scheduled, not counted)."""
    steps: list[dict[str, Any]] = enrollment.version.steps
    executed = 0
    while True:
        index = enrollment.step_index
        with transaction.atomic():
            if index >= len(steps):
                JourneyEnrollment.objects.filter(
                    pk=enrollment.pk, step_index=index, status=EnrollmentStatus.ACTIVE
                ).update(status=EnrollmentStatus.COMPLETED, finished_at=now)
                return executed
            step = steps[index]
            if step["type"] == "wait":
                moved = JourneyEnrollment.objects.filter(
                    pk=enrollment.pk, step_index=index, status=EnrollmentStatus.ACTIVE
                ).update(
                    step_index=index + 1,
                    next_run_at=now + dt.timedelta(minutes=step["minutes"]),
                )
                return executed
            # Claim the step: only one runner moves the enrolment past it.
            moved = JourneyEnrollment.objects.filter(
                pk=enrollment.pk, step_index=index, status=EnrollmentStatus.ACTIVE
            ).update(step_index=index + 1)
            if not moved:
                return executed
            result = _execute(enrollment, step, index, now)
            JourneyStepRun.objects.create(
                enrollment=enrollment,
                step_index=index,
                step_type=step["type"],
                outcome=result.outcome,
                detail=result.detail,
                ran_at=now,
            )
            executed += 1
            if result.outcome == StepOutcome.FAILED_CONDITION:
                JourneyEnrollment.objects.filter(pk=enrollment.pk).update(
                    status=EnrollmentStatus.EXITED, finished_at=now
                )
                return executed
        enrollment.step_index = index + 1


# --- running a batch in lockstep ----------------------------------------------------------
# The runner's fast path: the due batch moves one (version, step) group at a time, each group
# in one transaction with set-based reads and bulk writes — a condition is one query for the
# group, messages one `marketing_send_many`, tasks one INSERT, the step runs one INSERT. Steps
# without a batch form (coupon, tag) run one customer at a time inside the group's
# transaction. If a group's transaction fails, its customers go through `_advance` one by
# one, so one bad row cannot hold the others back.


def _conditions(
    enrollments: list[JourneyEnrollment], step: dict[str, Any]
) -> dict[int, StepResult]:
    earliest = min(enrollment.entered_at for enrollment in enrollments)
    last_paid: dict[int, dt.datetime] = {}
    for person_id, paid_at in Order.objects.filter(
        person_id__in={enrollment.person_id for enrollment in enrollments},
        status__in=BOUGHT_STATUSES,
        paid_at__gte=earliest,
    ).values_list("person_id", "paid_at"):
        if paid_at is not None and paid_at > last_paid.get(person_id, paid_at - dt.timedelta(1)):
            last_paid[person_id] = paid_at
    label = CONDITIONS[step["check"]]
    results = {}
    for enrollment in enrollments:
        paid_at = last_paid.get(enrollment.person_id)
        paid = paid_at is not None and paid_at >= enrollment.entered_at
        holds = not paid if step["check"] == "unpaid_since_entry" else paid
        results[enrollment.pk] = StepResult(
            StepOutcome.PASSED if holds else StepOutcome.FAILED_CONDITION, label
        )
    return results


def _messages(
    enrollments: list[JourneyEnrollment], step: dict[str, Any], index: int, now: dt.datetime
) -> dict[int, StepResult]:
    contacts = contacts_for_people(person_ids=[e.person_id for e in enrollments])
    results: dict[int, StepResult] = {}
    sends: list[tuple[int, MarketingSend]] = []
    for enrollment in enrollments:
        contact = contacts.get(enrollment.person_id)
        if contact is None:
            results[enrollment.pk] = StepResult(StepOutcome.SKIPPED, "不是企业微信好友，无法发送")
            continue
        links = _product_cards(enrollment, index) if step.get("product_cards") else []
        sends.append(
            (
                enrollment.pk,
                MarketingSend(
                    person_id=enrollment.person_id,
                    payload=wecom_payload(
                        sender=contact.follow_userid, text=step["text"], links=links
                    ),
                    destination=contact.external_userid,
                    purpose="journey",
                    source=_source(enrollment, index),
                    dedupe_key=f"journey-enrollment:{enrollment.pk}:step:{index}",
                ),
            )
        )
    decided = marketing_send_many(channel=WECOM_CHANNEL, sends=[send for _, send in sends], now=now)
    for enrollment_id, send in sends:
        results[enrollment_id] = _message_result(decided[send.dedupe_key], send.payload["sender"])
    return results


def _tasks(
    enrollments: list[JourneyEnrollment], step: dict[str, Any], index: int, now: dt.datetime
) -> dict[int, StepResult]:
    StaffTask.objects.bulk_create(
        [
            StaffTask(
                person_id=enrollment.person_id,
                title=step["title"],
                assignee=step.get("assignee", ""),
                due_at=now + dt.timedelta(minutes=step["due_minutes"]),
                source=_source(enrollment, index),
                created_at=now,
            )
            for enrollment in enrollments
        ],
        batch_size=1000,
    )
    done = StepResult(StepOutcome.DONE, f"已创建任务：{step['title']}"[:200])
    return {enrollment.pk: done for enrollment in enrollments}


def _execute_group(
    enrollments: list[JourneyEnrollment], step: dict[str, Any], index: int, now: dt.datetime
) -> dict[int, StepResult]:
    kind = step["type"]
    if kind == "condition":
        return _conditions(enrollments, step)
    if kind == "message":
        return _messages(enrollments, step, index, now)
    if kind == "task":
        return _tasks(enrollments, step, index, now)
    return {enrollment.pk: _execute(enrollment, step, index, now) for enrollment in enrollments}


def _advance_group(
    enrollments: list[JourneyEnrollment], index: int, now: dt.datetime
) -> tuple[list[JourneyEnrollment], int]:
    """Move one (version, step) group past its step; returns the enrolments that go on to
    the next step now, and the steps executed."""
    steps: list[dict[str, Any]] = enrollments[0].version.steps
    ids = [enrollment.pk for enrollment in enrollments]
    active = JourneyEnrollment.objects.filter(
        pk__in=ids, step_index=index, status=EnrollmentStatus.ACTIVE
    )
    if index >= len(steps):
        active.update(status=EnrollmentStatus.COMPLETED, finished_at=now)
        return [], 0
    step = steps[index]
    if step["type"] == "wait":
        active.update(step_index=index + 1, next_run_at=now + dt.timedelta(minutes=step["minutes"]))
        return [], 0
    with transaction.atomic():
        claimed = set(enrollments_claim(ids=ids, step_index=index))
        mine = [enrollment for enrollment in enrollments if enrollment.pk in claimed]
        if not mine:
            return [], 0
        JourneyEnrollment.objects.filter(pk__in=claimed).update(step_index=index + 1)
        results = _execute_group(mine, step, index, now)
        JourneyStepRun.objects.bulk_create(
            [
                JourneyStepRun(
                    enrollment=enrollment,
                    step_index=index,
                    step_type=step["type"],
                    outcome=results[enrollment.pk].outcome,
                    detail=results[enrollment.pk].detail,
                    ran_at=now,
                )
                for enrollment in mine
            ],
            batch_size=1000,
        )
        exited = [
            pk for pk, result in results.items() if result.outcome == StepOutcome.FAILED_CONDITION
        ]
        if exited:
            JourneyEnrollment.objects.filter(pk__in=exited).update(
                status=EnrollmentStatus.EXITED, finished_at=now
            )
    onward = [enrollment for enrollment in mine if enrollment.pk not in set(exited)]
    for enrollment in onward:
        enrollment.step_index = index + 1
    return onward, len(mine)


def _advance_batch(due: list[JourneyEnrollment], now: dt.datetime) -> int:
    executed = 0
    pending = due
    while pending:
        groups: dict[tuple[int, int], list[JourneyEnrollment]] = {}
        for enrollment in pending:
            groups.setdefault((enrollment.version_id, enrollment.step_index), []).append(enrollment)
        pending = []
        for (_version, index), group in sorted(groups.items()):
            try:
                onward, count = _advance_group(group, index, now)
            except Exception:
                logger.exception("journey batch failed at step %s; running one by one", index)
                executed += sum(_advance(enrollment, now) for enrollment in group)
                continue
            executed += count
            pending.extend(onward)
    return executed


@dataclass(frozen=True)
class RunResult:
    enrollments: int  # enrolments that were due and were advanced
    steps: int  # steps executed for them (waits are scheduled, not counted)


def journeys_run_due(
    *, now: dt.datetime | None = None, limit: int = RUN_BATCH, shard: int = 0, shards: int = 1
) -> RunResult:
    """Advance up to `limit` due enrolments, oldest due first. With `shards` > 1 a runner
    takes only the enrolments whose id falls in its `shard`, so parallel workers never
    contend for the same customers (a stray overlap is still safe: steps are claimed)."""
    now = now or clock.now()
    due_filter = JourneyEnrollment.objects.filter(
        status=EnrollmentStatus.ACTIVE,
        next_run_at__lte=now,
        journey__status=JourneyStatus.ACTIVE,
    )
    if shards > 1:
        due_filter = due_filter.annotate(shard_of=F("id") % shards).filter(shard_of=shard)
    due = list(due_filter.select_related("version").order_by("next_run_at", "id")[:limit])
    return RunResult(enrollments=len(due), steps=_advance_batch(due, now))


@dataclass(frozen=True)
class JourneyTestRun:
    enrollment: JourneyEnrollment  # as it stands after the run (refreshed)
    runs: list[JourneyStepRun]  # the steps executed, in order


@transaction.atomic
def _test_enrol(*, journey: Journey, person: Person, actor: Actor) -> JourneyEnrollment:
    if journey.current_version_id is None:
        raise JourneyNotRunnable()
    if person.status != PersonStatus.ACTIVE:
        raise JourneyInvalid.for_fields([("one_id", "该用户已合并或已注销，不能用来试运行")])
    now = clock.now()
    enrollment = JourneyEnrollment.objects.create(
        journey=journey,
        version_id=journey.current_version_id,
        person=person,
        # Its own trigger occurrence: a test never collides with (or blocks) a real entry,
        # and two test runs within a second still differ.
        trigger_key=f"test:{now.isoformat()}",
        context={"test": True, "by": actor.label[:64]},
        next_run_at=now,
        entered_at=now,
    )
    audit_record(
        actor=actor,
        action="scrm.journey_test_run",
        target=journey,
        after={"person": person.one_id, "enrollment": enrollment.pk},
    )
    return enrollment


def journey_test_run(*, journey: Journey, person: Person, actor: Actor) -> JourneyTestRun:
    """Put one customer through the journey's current version now, whatever its status (a
    draft can be tried before it starts), and run their due steps at once.

    Nothing is faked: the steps are the real ones (the coupon is issued, the message goes
    through the marketing policy, the task is created), exactly once as always. Waits are
    honoured, so a test run executes the steps up to the first wait; the rest run when the
    wait is over and the journey is running (the runner skips journeys that are not)."""
    enrollment = _test_enrol(journey=journey, person=person, actor=actor)
    enrollment = JourneyEnrollment.objects.select_related("version").get(pk=enrollment.pk)
    _advance(enrollment, clock.now())
    enrollment.refresh_from_db()
    return JourneyTestRun(
        enrollment=enrollment,
        runs=list(JourneyStepRun.objects.filter(enrollment=enrollment).order_by("step_index")),
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
