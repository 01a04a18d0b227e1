"""The journey triggers that find their customers themselves: 进入人群 (a data hub segment's
newcomers), 优惠券即将过期 (an unused coupon close to its end) and 生日 (a birthday N days
ahead); their settings (`Journey.trigger_config`); and the placeholders a message step may
use for what the trigger knows (`{coupon_name}`, `{segment_name}`, …).

Each enrols in bulk and once per trigger occurrence: the trigger key names the occurrence
(`seg:<segment>:<materialised_at>`, `coupon:<coupon>`, `birthday:<year>`) and enrolments are
unique per (journey, person, trigger key), so a job run twice, a replayed event or two workers
enrol nobody twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat

from freshloop.core import clock
from freshloop.datahub.models import Segment
from freshloop.identity.models import Person, PersonStatus
from freshloop.promotions.models import Coupon, CouponStatus
from freshloop.scrm.errors import JourneyInvalid
from freshloop.scrm.models import Journey, JourneyEnrollment, JourneyStatus, JourneyTrigger

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 30
DEFAULT_DAYS = {JourneyTrigger.COUPON_EXPIRING: 3, JourneyTrigger.BIRTHDAY: 0}
ENROL_BATCH = 2000
SCAN_BATCH = 2000


# --- settings -----------------------------------------------------------------------------


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def trigger_config_check(*, trigger: str, config: Any) -> dict[str, Any]:
    """The trigger's settings as they will be stored, or JourneyInvalid naming the field
    (`trigger_config.segment_id`, `trigger_config.days`). Triggers without settings store {}."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise JourneyInvalid.for_fields([("trigger_config", "触发设置格式不正确")])
    if trigger == JourneyTrigger.SEGMENT_JOINED:
        segment_id = config.get("segment_id")
        if not isinstance(segment_id, int) or not (
            _whole(segment_id, 1, 2**63 - 1) and Segment.objects.filter(pk=segment_id).exists()
        ):
            raise JourneyInvalid.for_fields([("trigger_config.segment_id", "请选择一个存在的人群")])
        return {"segment_id": segment_id}
    if trigger in DEFAULT_DAYS:
        days = config.get("days", DEFAULT_DAYS[JourneyTrigger(trigger)])
        if not _whole(days, 0, MAX_DAYS):
            raise JourneyInvalid.for_fields(
                [("trigger_config.days", f"提前天数为 0 到 {MAX_DAYS} 天")]
            )
        return {"days": days}
    return {}


def trigger_config_text(journey: Journey) -> str:
    """The settings as the list and the editor describe them ("人群：高价值老客")."""
    config = journey.trigger_config if isinstance(journey.trigger_config, dict) else {}
    if journey.trigger == JourneyTrigger.SEGMENT_JOINED:
        segment_id = config.get("segment_id")
        name = (
            Segment.objects.filter(pk=segment_id).values_list("name", flat=True).first()
            if isinstance(segment_id, int)
            else None
        )
        return f"人群：{name or '（已删除）'}"
    if journey.trigger == JourneyTrigger.COUPON_EXPIRING:
        return f"过期前 {config.get('days', 3)} 天内"
    if journey.trigger == JourneyTrigger.BIRTHDAY:
        days = config.get("days", 0)
        return "生日当天" if days == 0 else f"生日前 {days} 天"
    return ""


# --- message placeholders -----------------------------------------------------------------

PLACEHOLDERS: dict[str, dict[str, str]] = {
    JourneyTrigger.SEGMENT_JOINED: {"segment_name": "人群名称"},
    JourneyTrigger.COUPON_EXPIRING: {
        "coupon_name": "优惠券名称",
        "coupon_expires": "过期时间",
        "days_left": "剩余天数",
    },
    JourneyTrigger.BIRTHDAY: {"birthday": "生日日期", "days_left": "距生日天数"},
}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def placeholders_unknown(*, trigger: str, text: str) -> list[str]:
    """The `{name}`s in `text` this trigger has no value for."""
    known = PLACEHOLDERS.get(trigger, {})
    return [name for name in PLACEHOLDER.findall(text) if name not in known]


def message_text_render(text: str, context: dict[str, Any]) -> str:
    """The step's text with `{name}` replaced by the trigger's value. An enrolment without the
    value (a test run has no coupon) shows the placeholder's label in 【】, so the tester sees
    where the value goes instead of a silent gap."""
    labels = {name: label for group in PLACEHOLDERS.values() for name, label in group.items()}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in context and context[name] not in (None, ""):
            return str(context[name])
        if name in labels:
            return f"【{labels[name]}】"
        return match.group(0)

    return PLACEHOLDER.sub(value, text)


# --- bulk enrolment -----------------------------------------------------------------------


def _running(trigger: str) -> list[Journey]:
    return list(
        Journey.objects.filter(
            trigger=trigger, status=JourneyStatus.ACTIVE, current_version__isnull=False
        ).order_by("pk")
    )


def _active_people(person_ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(person_ids))
    active: set[int] = set()
    for start in range(0, len(wanted), SCAN_BATCH):
        active.update(
            Person.objects.filter(
                pk__in=wanted[start : start + SCAN_BATCH], status=PersonStatus.ACTIVE
            ).values_list("pk", flat=True)
        )
    return active


def journey_enroll_each(
    *, journey: Journey, entries: list[tuple[int, str, dict[str, Any]]], now: dt.datetime
) -> int:
    """Enrol many people in one running journey, each with their own trigger key and context
    (person id, trigger key, context). Merged-away and erased people are left out; an entry
    whose (person, trigger key) is already in the journey is ignored. Returns how many entered."""
    if journey.current_version_id is None or not entries:
        return 0
    active = _active_people(person_id for person_id, _, _ in entries)
    rows = [
        JourneyEnrollment(
            journey=journey,
            version_id=journey.current_version_id,
            person_id=person_id,
            trigger_key=key[:128],
            context=context,
            next_run_at=now,
            entered_at=now,
        )
        for person_id, key, context in sorted(entries, key=lambda entry: (entry[0], entry[1]))
        if person_id in active
    ]
    keys = {row.trigger_key for row in rows}
    before = JourneyEnrollment.objects.filter(journey=journey, trigger_key__in=keys).count()
    JourneyEnrollment.objects.bulk_create(rows, batch_size=ENROL_BATCH, ignore_conflicts=True)
    return JourneyEnrollment.objects.filter(journey=journey, trigger_key__in=keys).count() - before


# --- 进入人群 --------------------------------------------------------------------------------


def segment_joined_enroll(
    *, segment_id: int, segment_name: str, person_ids: list[int], materialised_at: dt.datetime
) -> int:
    """A segment's newcomers enter every running journey triggered by joining it, once per
    materialisation (the event may be delivered again). Returns the entries made."""
    key = f"seg:{segment_id}:{materialised_at.isoformat()}"
    context = {"segment_id": segment_id, "segment_name": segment_name}
    now = clock.now()
    entered = 0
    for journey in _running(JourneyTrigger.SEGMENT_JOINED):
        if journey.trigger_config.get("segment_id") != segment_id:
            continue
        entered += journey_enroll_each(
            journey=journey,
            entries=[(person_id, key, context) for person_id in person_ids],
            now=now,
        )
    return entered


# --- 优惠券即将过期 ---------------------------------------------------------------------------


def _shanghai_text(moment: dt.datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def coupons_expiring_enroll(*, now: dt.datetime | None = None) -> int:
    """Each unused coupon ending by the end of the journey's last day (today + days, Shanghai
    calendar: 0 = ends today, 3 = ends within today and the next 3 days) enters its holder once
    (trigger key `coupon:<id>`), with the coupon's name and end for the message. Returns the
    entries made."""
    now = now or clock.now()
    today = now.astimezone(SHANGHAI).date()
    entered = 0
    for journey in _running(JourneyTrigger.COUPON_EXPIRING):
        days = journey.trigger_config.get("days", DEFAULT_DAYS[JourneyTrigger.COUPON_EXPIRING])
        last_day = today + dt.timedelta(days=days)
        until = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)
        # Coupons whose holder already entered are skipped here, so the hourly run does not
        # re-insert them (the unique key would ignore them anyway).
        entered_for_coupon = JourneyEnrollment.objects.filter(
            journey=journey,
            trigger_key=Concat(Value("coupon:"), Cast(OuterRef("pk"), CharField())),
        )
        coupons = (
            Coupon.objects.filter(
                status=CouponStatus.AVAILABLE, valid_until__gt=now, valid_until__lt=until
            )
            .exclude(Exists(entered_for_coupon))
            .select_related("template")
            .order_by("pk")
        )
        batch: list[tuple[int, str, dict[str, Any]]] = []
        for coupon in coupons.iterator(chunk_size=SCAN_BATCH):
            batch.append(
                (
                    coupon.person_id,
                    f"coupon:{coupon.pk}",
                    {
                        "coupon_id": coupon.pk,
                        "coupon_name": coupon.template.name,
                        "coupon_expires": _shanghai_text(coupon.valid_until),
                        "days_left": (coupon.valid_until.astimezone(SHANGHAI).date() - today).days,
                    },
                )
            )
            if len(batch) >= SCAN_BATCH:
                entered += journey_enroll_each(journey=journey, entries=batch, now=now)
                batch = []
        entered += journey_enroll_each(journey=journey, entries=batch, now=now)
    return entered


# --- 生日 ------------------------------------------------------------------------------------

BIRTHDAY_FORMATS = (
    re.compile(r"^(?:\d{4})-?(\d{1,2})-?(\d{1,2})$"),  # 1990-03-07, 19900307
    re.compile(r"^(\d{1,2})-(\d{1,2})$"),  # 03-07 (no year given)
)


def birthday_month_day(value: Any) -> tuple[int, int] | None:
    """(month, day) of a stored `birthday` trait — "1990-03-07", "1990/3/7", 19900307 or
    "03-07" — or None when it is not a date."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip().replace("/", "-").replace(".", "-")
    for pattern in BIRTHDAY_FORMATS:
        match = pattern.match(text)
        if match:
            month, day = int(match.group(1)), int(match.group(2))
            try:
                dt.date(2000, month, day)  # a leap year: 02-29 is a date
            except ValueError:
                return None
            return month, day
    return None


def _celebrated_on(month: int, day: int, year: int) -> dt.date:
    """The day a birthday is kept in `year`: 29 February falls on the 28th in other years."""
    try:
        return dt.date(year, month, day)
    except ValueError:
        return dt.date(year, 2, 28)


def birthdays_enroll(*, now: dt.datetime | None = None) -> int:
    """People whose birthday is today + the journey's days (Asia/Shanghai) enter it, once a
    year (trigger key `birthday:<year of that birthday>`). The birthday is the person's sealed
    `birthday` trait (identity keeps it encrypted, so the people who have one are found by
    its source record and the value is read here, never queried). Returns the entries."""
    now = now or clock.now()
    today = now.astimezone(SHANGHAI).date()
    journeys = _running(JourneyTrigger.BIRTHDAY)
    if not journeys:
        return 0
    targets = {
        journey.pk: today + dt.timedelta(days=journey.trigger_config.get("days", 0))
        for journey in journeys
    }
    wanted: dict[int, list[tuple[int, str, dict[str, Any]]]] = {pk: [] for pk in targets}
    people = (
        Person.objects.filter(status=PersonStatus.ACTIVE, trait_sources__has_key="birthday")
        .only("pk", "private_traits")
        .order_by("pk")
    )
    for person in people.iterator(chunk_size=SCAN_BATCH):
        traits = person.private_traits if isinstance(person.private_traits, dict) else {}
        month_day = birthday_month_day(traits.get("birthday", ""))
        if month_day is None:
            continue
        for journey_pk, target in targets.items():
            if _celebrated_on(*month_day, target.year) == target:
                wanted[journey_pk].append(
                    (
                        person.pk,
                        f"birthday:{target.year}",
                        {
                            "birthday": f"{month_day[0]}月{month_day[1]}日",
                            "days_left": (target - today).days,
                        },
                    )
                )
    return sum(
        journey_enroll_each(journey=journey, entries=wanted[journey.pk], now=now)
        for journey in journeys
    )
