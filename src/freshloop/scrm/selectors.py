"""SCRM reads: a journey's per-step numbers, who is inside it, and a customer's journeys."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from freshloop.identity.models import Identifier, IdentifierType
from freshloop.identity.selectors import identifier_mask
from freshloop.promotions.models import CouponTemplate

# Mass messages (企业群发) and moments: audience, preview counts, results, attribution.
from freshloop.scrm.broadcast_results import Preview as Preview
from freshloop.scrm.broadcast_results import Results as Results
from freshloop.scrm.broadcast_results import audiences as audiences
from freshloop.scrm.broadcast_results import broadcast_get as broadcast_get
from freshloop.scrm.broadcast_results import broadcast_preview as broadcast_preview
from freshloop.scrm.broadcast_results import broadcast_results as broadcast_results
from freshloop.scrm.broadcast_results import (
    broadcasts_with_results as broadcasts_with_results,
)
from freshloop.scrm.broadcast_results import moment_get as moment_get
from freshloop.scrm.broadcast_results import moment_list as moment_list
from freshloop.scrm.errors import JourneyNotFound
from freshloop.scrm.journeys import STEP_TYPES as STEP_LABELS
from freshloop.scrm.models import (
    ComputedTagPush,
    ContactTransfer,
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStepRun,
    StepOutcome,
    WecomContact,
    WecomContactTag,
    WecomTag,
)

# Staff tasks (跟进任务): the console's task list and the customer-service home read them here.
from freshloop.scrm.staff_tasks import staff_tasks_open as staff_tasks_open
from freshloop.scrm.staff_tasks import staff_tasks_open_count as staff_tasks_open_count


@dataclass(frozen=True)
class StepStats:
    index: int  # 1-based, as the editor numbers steps
    type: str
    entered: int  # customers who reached the step
    done: int  # actions taken / conditions that held
    skipped: int  # actions not taken (e.g. coupon limit) / conditions that did not hold


@dataclass(frozen=True)
class JourneyStats:
    entered: int
    active: int
    completed: int
    exited: int
    converted: int
    converted_fen: int
    steps: list[StepStats]


def journey_stats(*, journey: Journey) -> JourneyStats:
    """Per-step numbers over every version (steps are compared by position)."""
    enrollments = JourneyEnrollment.objects.filter(journey=journey)
    totals = enrollments.aggregate(
        entered=Count("pk"),
        active=Count("pk", filter=Q(status=EnrollmentStatus.ACTIVE)),
        completed=Count("pk", filter=Q(status=EnrollmentStatus.COMPLETED)),
        exited=Count("pk", filter=Q(status=EnrollmentStatus.EXITED)),
        converted=Count("pk", filter=Q(converted_at__isnull=False)),
        converted_fen=Sum("converted_fen"),
    )
    runs = {
        (row["step_index"], row["outcome"]): row["n"]
        for row in JourneyStepRun.objects.filter(enrollment__journey=journey)
        .values("step_index", "outcome")
        .annotate(n=Count("pk"))
    }
    steps = journey.current_version.steps if journey.current_version else []
    stats: list[StepStats] = []
    for index, step in enumerate(steps):
        done = runs.get((index, StepOutcome.DONE), 0) + runs.get((index, StepOutcome.PASSED), 0)
        skipped = runs.get((index, StepOutcome.SKIPPED), 0) + runs.get(
            (index, StepOutcome.FAILED_CONDITION), 0
        )
        reached = (
            enrollments.filter(step_index__gt=index).count()
            if step["type"] == "wait"
            else done + skipped
        )
        stats.append(
            StepStats(
                index=index + 1, type=step["type"], entered=reached, done=done, skipped=skipped
            )
        )
    return JourneyStats(
        entered=totals["entered"] or 0,
        active=totals["active"] or 0,
        completed=totals["completed"] or 0,
        exited=totals["exited"] or 0,
        converted=totals["converted"] or 0,
        converted_fen=totals["converted_fen"] or 0,
        steps=stats,
    )


def journey_list() -> list[Journey]:
    return list(Journey.objects.select_related("current_version").order_by("-id"))


@dataclass(frozen=True)
class JourneyCounts:
    entered: int
    active: int
    converted: int
    converted_fen: int


def journey_counts() -> dict[int, JourneyCounts]:
    """Each journey's headline numbers for the list, in one query (journeys nobody entered
    are absent: read with `.get(id, NO_COUNTS)`)."""
    rows = (
        JourneyEnrollment.objects.values("journey_id")
        .annotate(
            entered=Count("pk"),
            active=Count("pk", filter=Q(status=EnrollmentStatus.ACTIVE)),
            converted=Count("pk", filter=Q(converted_at__isnull=False)),
            converted_fen=Sum("converted_fen"),
        )
        .order_by()
    )
    return {
        row["journey_id"]: JourneyCounts(
            entered=row["entered"],
            active=row["active"],
            converted=row["converted"],
            converted_fen=row["converted_fen"] or 0,
        )
        for row in rows
    }


NO_COUNTS = JourneyCounts(entered=0, active=0, converted=0, converted_fen=0)


def journey_get(*, journey_id: int) -> Journey:
    journey = Journey.objects.select_related("current_version").filter(pk=journey_id).first()
    if journey is None:
        raise JourneyNotFound(detail={"journey_id": journey_id})
    return journey


def coupon_templates_for_steps() -> list[CouponTemplate]:
    """Templates a coupon step can issue: active ones that are not live-room only (those are
    handed out in a live room, never by a journey)."""
    return list(
        CouponTemplate.objects.filter(is_active=True, live_only=False).order_by("name", "pk")
    )


# --- Contacts with their tags and transfers (/console/scrm/contacts/) --------------------------


@dataclass(frozen=True)
class ContactRow:
    contact: WecomContact
    tags: list[str]  # the WeCom tags it carries ("组名/标签")
    transfer: ContactTransfer | None  # the latest transfer, if any


CONTACTS_PAGE = 200


def contacts_list(
    *, staff: str = "", status: str = "", limit: int = CONTACTS_PAGE
) -> list[ContactRow]:
    """Contacts newest first, with their WeCom tags and latest transfer; `staff` filters by
    跟进人, `status` by contact status."""
    contacts = WecomContact.objects.select_related("person").order_by("-added_at", "-id")
    if staff:
        contacts = contacts.filter(follow_userid=staff)
    if status:
        contacts = contacts.filter(status=status)
    page = list(contacts[:limit])
    ids = [contact.pk for contact in page]
    names = {
        tag.tag_id: f"{tag.group_name}/{tag.name}" for tag in WecomTag.objects.filter(deleted=False)
    }
    tags: dict[int, list[str]] = {contact_id: [] for contact_id in ids}
    for contact_id, tag_id in WecomContactTag.objects.filter(contact_id__in=ids).values_list(
        "contact_id", "tag_id"
    ):
        if tag_id in names:
            tags[contact_id].append(names[tag_id])
    latest: dict[int, ContactTransfer] = {}
    for transfer in ContactTransfer.objects.filter(contact_id__in=ids).order_by(
        "requested_at", "id"
    ):
        latest[transfer.contact_id] = transfer
    return [
        ContactRow(contact=contact, tags=sorted(tags[contact.pk]), transfer=latest.get(contact.pk))
        for contact in page
    ]


def contact_staff() -> list[str]:
    """Every staff member who follows (or followed) a contact, for the 跟进人 filter."""
    return sorted(set(WecomContact.objects.values_list("follow_userid", flat=True)))


def transfers_recent(*, limit: int = 50) -> list[ContactTransfer]:
    return list(ContactTransfer.objects.select_related("contact")[:limit])


def transfer_counts() -> dict[str, int]:
    """Transfers per status (the page's summary)."""
    return dict(
        ContactTransfer.objects.values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def wecom_tags_list() -> list[WecomTag]:
    return list(WecomTag.objects.filter(deleted=False))


def computed_tag_pushes() -> list[ComputedTagPush]:
    return list(ComputedTagPush.objects.order_by("column", "value"))


# --- who is inside a journey (旅程中的客户) -------------------------------------------------

PEOPLE_PAGE_SIZE = 20
PEOPLE_MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class JourneyPersonRow:
    enrollment: JourneyEnrollment
    one_id: str
    display_name: str
    phone_masked: str
    step_text: str  # "第 2 步 · 等待" / "已走完" / "条件不满足退出"


@dataclass(frozen=True)
class JourneyPeoplePage:
    rows: list[JourneyPersonRow]
    total: int
    page: int
    page_size: int


def _step_text(enrollment: JourneyEnrollment) -> str:
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return EnrollmentStatus(enrollment.status).label
    steps = enrollment.version.steps
    index = enrollment.step_index
    if index >= len(steps):
        return "即将走完"
    label = STEP_LABELS.get(steps[index]["type"], steps[index]["type"])
    # A wait moves the customer past itself when it starts: the step after it is due later.
    waiting = index > 0 and steps[index - 1]["type"] == "wait"
    return f"第 {index + 1} 步 · {label}" + ("（等待中）" if waiting else "")


def journey_people(
    *,
    journey: Journey,
    page: int = 1,
    page_size: int = PEOPLE_PAGE_SIZE,
    status: str | None = None,
) -> JourneyPeoplePage:
    """The customers in a journey, the latest entries first, one page at a time: who (display
    name, masked phone), where they are (step, next run), how it ended, and their conversion.
    `status` (active / completed / exited) narrows the list."""
    entries = JourneyEnrollment.objects.filter(journey=journey)
    if status:
        entries = entries.filter(status=status)
    total = entries.count()
    start = (page - 1) * page_size
    chosen = list(
        entries.select_related("version", "person").order_by("-entered_at", "-pk")[
            start : start + page_size
        ]
    )
    phones: dict[int, str] = {}
    for identifier in Identifier.objects.filter(
        person_id__in={entry.person_id for entry in chosen}, type=IdentifierType.PHONE
    ).order_by("pk"):
        phones.setdefault(identifier.person_id, identifier_mask(identifier))
    rows = [
        JourneyPersonRow(
            enrollment=entry,
            one_id=entry.person.one_id,
            display_name=entry.person.display_name,
            phone_masked=phones.get(entry.person_id, ""),
            step_text=_step_text(entry),
        )
        for entry in chosen
    ]
    return JourneyPeoplePage(rows=rows, total=total, page=page, page_size=page_size)
