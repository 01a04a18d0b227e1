"""Running journeys: each due enrolment's steps, exactly once, one customer at a time or a
batch in lockstep.

A `wait` parks the enrolment until its time (it is scheduled, not executed); a `condition`
that does not hold ends the enrolment ("exited"); an action (message, coupon, staff task, tag)
runs once: its `JourneyStepRun` row is unique per (enrolment, step) and written in the same
transaction as the action's own rows, so a job retried after a crash — or a second worker
picking the same enrolment — can never issue the coupon twice. Everything an action does is a
row in our own database (a coupon, a task, a tag; messages go through the outbox), which is
what makes that transaction enough. The definitions and enrolment are in `journeys.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from freshloop.catalog.models import Sku
from freshloop.catalog.selectors import sku_picture
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.clock import to_shanghai
from freshloop.core.errors import DomainError
from freshloop.datahub.predictions.selectors import predictions_for_people
from freshloop.datahub.tags.services import manual_tag_add
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
from freshloop.scrm.journeys import CONDITIONS, ENGINE, RUN_BATCH
from freshloop.scrm.locks import enrollments_claim
from freshloop.scrm.models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStatus,
    JourneyStepRun,
    StaffTask,
    StepOutcome,
)
from freshloop.scrm.triggers import message_text_render

logger = logging.getLogger(__name__)


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
    skus = (
        Sku.objects.filter(pk__in=sku_ids)
        .select_related("product")
        .prefetch_related("product__images")
        .order_by("pk")
    )
    return [
        {
            "title": sku.product.name,
            "desc": f"{sku.spec} · ¥{sku.price_fen / 100:.2f}",
            "url": f"{base}/m/products/{sku.product_id}?sku={sku.pk}&src={tracking}",
            "picurl": _absolute(base, sku_picture(sku)),
        }
        for sku in skus
    ]


def _links(enrollment: JourneyEnrollment, step: dict[str, Any], index: int) -> list[dict[str, str]]:
    """A message step's cards: the trigger's products (when asked for) and the invitation to a
    customer group (a 群活码 link), last."""
    links = _product_cards(enrollment, index) if step.get("product_cards") else []
    if step.get("invite_url"):
        links.append(
            {
                "title": step.get("invite_title") or "点击加入社群",
                "desc": "扫码即进群，群满自动换新群",
                "url": step["invite_url"],
            }
        )
    return links


def _absolute(base: str, picture: Any) -> str:
    """The card's picture as WeCom fetches it: an absolute URL (media are served from this
    site unless object storage gives full URLs); the 1080 px JPEG, which every WeChat shows."""
    if picture is None:
        return ""
    url = str(picture.url)
    return url if url.startswith(("http://", "https://")) else f"{base}{url}"


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
            text=message_text_render(step["text"], enrollment.context),
            links=_links(enrollment, step, index),
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
                    next_run_at=wait_until(
                        step,
                        now,
                        best_hours_of([enrollment.person_id], step).get(enrollment.person_id),
                    ),
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
        links = _links(enrollment, step, index)
        sends.append(
            (
                enrollment.pk,
                MarketingSend(
                    person_id=enrollment.person_id,
                    payload=wecom_payload(
                        sender=contact.follow_userid,
                        text=message_text_render(step["text"], enrollment.context),
                        links=links,
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


def best_hours_of(person_ids: list[int], step: dict[str, Any]) -> dict[int, int]:
    """Each person's best contact hour (intelligence's prediction, 0–23 local), for a wait that
    continues at it; people without a prediction are absent. A busy event store leaves the
    wait plain rather than failing the journey."""
    if not step.get("at_best_hour") or not person_ids:
        return {}
    try:
        rows = predictions_for_people(person_ids=person_ids, columns=["best_contact_hour"])
    except DomainError:
        return {}
    return {
        person_id: int(row["best_contact_hour"])
        for person_id, row in rows.items()
        if row.get("best_contact_hour") is not None
    }


def wait_until(step: dict[str, Any], now: dt.datetime, best_hour: int | None) -> dt.datetime:
    """When a wait step ends: after its minutes, and — for a wait "at the best hour" of a
    person who has one — at the next start of that local hour (or at once if the wait already
    ends inside it). The messaging policy still holds a message that lands in quiet hours."""
    earliest = now + dt.timedelta(minutes=step["minutes"])
    if not step.get("at_best_hour") or best_hour is None:
        return earliest
    local = to_shanghai(earliest)
    if local.hour == best_hour:
        return earliest
    resume = local.replace(hour=best_hour, minute=0, second=0, microsecond=0)
    if resume < local:
        resume += dt.timedelta(days=1)
    return resume.astimezone(dt.UTC)


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
        best_hours = best_hours_of([enrollment.person_id for enrollment in enrollments], step)
        by_moment: dict[dt.datetime, list[int]] = {}
        for enrollment in enrollments:
            moment = wait_until(step, now, best_hours.get(enrollment.person_id))
            by_moment.setdefault(moment, []).append(enrollment.pk)
        # One UPDATE per distinct resume moment: at most 24 when the wait is per best hour.
        for moment, pks in by_moment.items():
            active.filter(pk__in=pks).update(step_index=index + 1, next_run_at=moment)
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


FAILED_RETRY = dt.timedelta(minutes=10)


def _advance_alone(enrollment: JourneyEnrollment, now: dt.datetime) -> int:
    """One customer of a failed group. If their step fails too, the error is logged and they
    are retried in FAILED_RETRY: the rest of the group goes on, and a runner looping while
    something is due does not pick the same failing row again at once."""
    try:
        return _advance(enrollment, now)
    except Exception:
        logger.exception("journey enrolment %s failed; retrying it later", enrollment.pk)
        JourneyEnrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ACTIVE).update(
            next_run_at=now + FAILED_RETRY
        )
        return 0


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
                executed += sum(_advance_alone(enrollment, now) for enrollment in group)
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
