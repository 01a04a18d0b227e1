"""Seasonal marketing calendar (SPEC FD-6): the 24 solar terms and Chinese festivals of any year
(lunar-python), statutory holidays and their 调休 days (the `holidays` package's China calendar,
which its maintainers update each year from the State Council notice), a month grid for the
console, and templates per term / festival that create drafts in promotions (an inactive tiered
campaign on the template's products and an inactive coupon template). Drafts in higher modules
(a broadcast in scrm, a live session in live) are composed by the console view in `web`, which
records them here through `calendar_draft_record`.

All dates are Asia/Shanghai calendar dates.
"""

from __future__ import annotations

import calendar as pycalendar
import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import holidays
from django.db import IntegrityError, transaction
from lunar_python import Lunar, Solar

from freshloop.catalog.models import Product
from freshloop.content.services import content_item_create
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.food.errors import CalendarTemplateInvalid, CalendarTemplateNotFound
from freshloop.food.models import CalendarDraft, CalendarTemplate
from freshloop.promotions.services import (
    CampaignSpec,
    CouponTemplateSpec,
    campaign_create,
    coupon_template_create,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN_YEAR, MAX_YEAR = 1901, 2100

SOLAR_TERMS = (
    "小寒", "大寒", "立春", "雨水", "惊蛰", "春分", "清明", "谷雨", "立夏", "小满", "芒种", "夏至",
    "小暑", "大暑", "立秋", "处暑", "白露", "秋分", "寒露", "霜降", "立冬", "小雪", "大雪", "冬至",
)  # fmt: skip
"""In calendar order within a Gregorian year (小寒 in early January … 冬至 in late December)."""

LUNAR_FESTIVALS: tuple[tuple[str, int, int], ...] = (
    ("春节", 1, 1),
    ("元宵节", 1, 15),
    ("龙抬头", 2, 2),
    ("端午节", 5, 5),
    ("七夕节", 7, 7),
    ("中元节", 7, 15),
    ("中秋节", 8, 15),
    ("重阳节", 9, 9),
    ("腊八节", 12, 8),
    ("小年", 12, 23),
)
SOLAR_FESTIVALS: tuple[tuple[str, int, int], ...] = (
    ("元旦", 1, 1),
    ("情人节", 2, 14),
    ("妇女节", 3, 8),
    ("劳动节", 5, 1),
    ("青年节", 5, 4),
    ("520", 5, 20),
    ("儿童节", 6, 1),
    ("教师节", 9, 10),
    ("国庆节", 10, 1),
    ("双十一", 11, 11),
    ("双十二", 12, 12),
)
OCCASION_NAMES = frozenset(
    SOLAR_TERMS
    + tuple(name for name, _, _ in LUNAR_FESTIVALS + SOLAR_FESTIVALS)
    + ("除夕", "母亲节", "父亲节")
)


@dataclasses.dataclass(frozen=True)
class Occasion:
    date: dt.date
    name: str
    kind: str  # "term" | "festival" | "holiday" | "workday"

    @property
    def kind_label(self) -> str:
        return {"term": "节气", "festival": "节日", "holiday": "放假", "workday": "调休上班"}[
            self.kind
        ]


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CalendarTemplateInvalid(
            f"年份须在 {MIN_YEAR}–{MAX_YEAR} 之间",
            detail=[{"field": "year", "message": "年份超出范围"}],
        )


def _date(solar: Solar) -> dt.date:
    return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())


def solar_terms(year: int) -> list[Occasion]:
    """The 24 solar terms falling in Gregorian `year`, by their Beijing-time calendar date."""
    table = Lunar.fromYmd(year, 6, 1).getJieQiTable()
    found: dict[str, dt.date] = {}
    for name, solar in table.items():
        day = _date(solar)
        if day.year == year and name in SOLAR_TERMS:
            found[name] = day
    # The table lists a few terms of the neighbouring years under pinyin keys; in a year where
    # the Chinese key of a term belongs to another year, the pinyin one is this year's.
    for key, solar in table.items():
        day = _date(solar)
        if day.year == year and key not in SOLAR_TERMS:
            name = Solar.fromYmd(day.year, day.month, day.day).getLunar().getJieQi()
            if name in SOLAR_TERMS:
                found.setdefault(name, day)
    return sorted((Occasion(day, name, "term") for name, day in found.items()), key=_order)


def _order(occasion: Occasion) -> tuple[dt.date, str]:
    return (occasion.date, occasion.name)


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (nth - 1))


def festivals(year: int) -> list[Occasion]:
    """Lunar festivals (from the lunar years that overlap `year`), solar festivals, 除夕,
    母亲节 and 父亲节 falling in Gregorian `year`."""
    found: list[Occasion] = []
    for lunar_year in (year - 1, year):
        for name, month, day in LUNAR_FESTIVALS:
            date = _date(Lunar.fromYmd(lunar_year, month, day).getSolar())
            if date.year == year:
                found.append(Occasion(date, name, "festival"))
        eve = _date(Lunar.fromYmd(lunar_year + 1, 1, 1).getSolar()) - dt.timedelta(days=1)
        if eve.year == year:
            found.append(Occasion(eve, "除夕", "festival"))
    for name, month, day in SOLAR_FESTIVALS:
        found.append(Occasion(dt.date(year, month, day), name, "festival"))
    found.append(Occasion(_nth_weekday(year, 5, 6, 2), "母亲节", "festival"))
    found.append(Occasion(_nth_weekday(year, 6, 6, 3), "父亲节", "festival"))
    return sorted(found, key=_order)


@functools.lru_cache(maxsize=64)
def statutory_days(year: int) -> tuple[Occasion, ...]:
    """Days off (and 调休 working weekends where the package lists them) under the State
    Council's notice for `year`; empty for years the package has no data for."""
    try:
        china = holidays.China(years=year, language="zh_CN")
    except (NotImplementedError, KeyError):  # pragma: no cover — a package without zh_CN
        return ()
    days = [Occasion(date, str(name), "holiday") for date, name in sorted(china.items())]
    return tuple(days)


@functools.lru_cache(maxsize=64)
def occasions(year: int) -> tuple[Occasion, ...]:
    _check_year(year)
    return tuple(
        sorted(solar_terms(year) + festivals(year) + list(statutory_days(year)), key=_order)
    )


def occasion_date(*, name: str, year: int) -> dt.date | None:
    for occasion in occasions(year):
        if occasion.name == name and occasion.kind in ("term", "festival"):
            return occasion.date
    return None


@dataclasses.dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    in_month: bool
    occasions: tuple[Occasion, ...]


def month_grid(*, year: int, month: int) -> list[list[CalendarDay]]:
    """Weeks (Monday first) covering `month`, each day with its occasions."""
    _check_year(year)
    if not 1 <= month <= 12:
        raise CalendarTemplateInvalid(
            "月份须在 1–12 之间", detail=[{"field": "month", "message": "月份超出范围"}]
        )
    by_day: dict[dt.date, list[Occasion]] = {}
    for year_near in {year - 1, year, year + 1} & set(range(MIN_YEAR, MAX_YEAR + 1)):
        for occasion in occasions(year_near):
            by_day.setdefault(occasion.date, []).append(occasion)
    weeks = pycalendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    return [
        [CalendarDay(day, day.month == month, tuple(by_day.get(day, ()))) for day in week]
        for week in weeks
    ]


# --- templates -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalendarTemplateSpec:
    occasion: str
    name: str
    product_ids: Sequence[int] = ()
    lead_days: int = 7
    duration_days: int = 10
    tier_threshold_fen: int = 0
    tier_off_fen: int = 0
    coupon_off_fen: int = 0
    coupon_threshold_fen: int = 0
    message_text: str = ""
    live_title: str = ""


def _bad(message: str, field: str) -> CalendarTemplateInvalid:
    return CalendarTemplateInvalid(message, detail=[{"field": field, "message": message}])


def calendar_template_validate(spec: CalendarTemplateSpec) -> None:
    if spec.occasion not in OCCASION_NAMES:
        raise _bad(f"不认识的节气或节日「{spec.occasion[:16]}」", "occasion")
    if not spec.name.strip() or len(spec.name) > 64:
        raise _bad("模板名称必填，且不超过 64 字", "name")
    numbers = ("lead_days", "duration_days", "tier_threshold_fen", "tier_off_fen")
    for field in (*numbers, "coupon_off_fen", "coupon_threshold_fen"):
        value = getattr(spec, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _bad("数值须为非负整数", field)
    if spec.lead_days > 60:
        raise _bad("提前天数不超过 60 天", "lead_days")
    if not 1 <= spec.duration_days <= 60:
        raise _bad("活动天数须在 1–60 天之间", "duration_days")
    if bool(spec.tier_off_fen) != bool(spec.tier_threshold_fen) or (
        spec.tier_off_fen and spec.tier_off_fen >= spec.tier_threshold_fen
    ):
        raise _bad("满减须同时填写门槛与金额，且金额低于门槛", "tier_off_fen")
    if spec.coupon_threshold_fen and spec.coupon_threshold_fen < spec.coupon_off_fen:
        raise _bad("优惠券门槛不能低于面额", "coupon_threshold_fen")
    ids = list(spec.product_ids)
    if len(set(ids)) != Product.objects.filter(pk__in=ids).count():
        raise _bad("主推商品不存在", "product_ids")
    if len(spec.message_text) > 1000:
        raise _bad("群发文案不超过 1000 字", "message_text")
    if len(spec.live_title) > 64:
        raise _bad("直播标题不超过 64 字", "live_title")


def calendar_template_create(*, actor: Actor, spec: CalendarTemplateSpec) -> CalendarTemplate:
    calendar_template_validate(spec)
    now = clock.now()
    with transaction.atomic():
        template = CalendarTemplate.objects.create(
            occasion=spec.occasion,
            name=spec.name.strip(),
            lead_days=spec.lead_days,
            duration_days=spec.duration_days,
            tier_threshold_fen=spec.tier_threshold_fen,
            tier_off_fen=spec.tier_off_fen,
            coupon_off_fen=spec.coupon_off_fen,
            coupon_threshold_fen=spec.coupon_threshold_fen,
            message_text=spec.message_text.strip(),
            live_title=spec.live_title.strip(),
            created_at=now,
            updated_at=now,
        )
        template.products.set(sorted(set(spec.product_ids)))
        audit_record(
            actor=actor,
            action="food.calendar_template_create",
            target=template,
            after={"occasion": template.occasion, "name": template.name},
        )
    return template


def calendar_template_get(*, template_id: int) -> CalendarTemplate:
    template = CalendarTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise CalendarTemplateNotFound(detail={"template_id": template_id})
    return template


@dataclasses.dataclass(frozen=True)
class CampaignWindow:
    occasion_date: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime


def calendar_template_window(*, template: CalendarTemplate, year: int) -> CampaignWindow:
    """The campaign's window for `year`: from `lead_days` before the occasion (00:00 Shanghai)
    for `duration_days` days."""
    _check_year(year)
    day = occasion_date(name=template.occasion, year=year)
    if day is None:
        raise _bad(f"{year} 年没有「{template.occasion}」", "year")
    start = dt.datetime.combine(day - dt.timedelta(days=template.lead_days), dt.time(), SHANGHAI)
    end = start + dt.timedelta(days=template.duration_days)
    return CampaignWindow(day, start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def calendar_draft_record(
    *, template: CalendarTemplate, year: int, kind: str, ref: str, label: str
) -> CalendarDraft:
    return CalendarDraft.objects.create(
        template=template, year=year, kind=kind, ref=ref, label=label[:100], created_at=clock.now()
    )


def calendar_drafts_for(*, template: CalendarTemplate, year: int) -> dict[str, CalendarDraft]:
    return {draft.kind: draft for draft in template.drafts.filter(year=year)}


def _content_draft(
    template: CalendarTemplate, year: int, title: str, actor: Actor
) -> CalendarDraft:
    """The occasion's copy in the content library (文案), tagged with the occasion, so the live
    host, journeys and group leaders find it: the template's message and its products."""
    products = "、".join(template.products.order_by("pk").values_list("name", flat=True))
    body = "\n\n".join(
        part for part in (template.message_text, f"主推：{products}" if products else "") if part
    )
    item = content_item_create(
        kind="copy",
        title=f"{title} 文案"[:100],
        body=body or f"{template.occasion}到了，{template.name}。",
        tags=[template.occasion, "节令营销"],
        actor=actor,
    )
    return calendar_draft_record(
        template=template, year=year, kind="content", ref=str(item.pk), label=item.title
    )


def calendar_template_apply(*, actor: Actor, template_id: int, year: int) -> list[CalendarDraft]:
    """Create this module's drafts of `template` for `year`: an inactive 满减 campaign on its
    products (when a tier is set), an inactive coupon template (when a coupon is set) and the
    occasion's copy in the content library. Drafts made before for the same year are kept,
    not made twice."""
    template = calendar_template_get(template_id=template_id)
    window = calendar_template_window(template=template, year=year)
    slug = f"cal-{template.pk}-{year}"
    title = f"{year}{template.occasion}·{template.name}"[:64]
    made: list[CalendarDraft] = []
    try:
        with transaction.atomic():
            existing = calendar_drafts_for(template=template, year=year)
            product_ids = sorted(template.products.values_list("pk", flat=True))
            if template.tier_off_fen and "campaign" not in existing:
                campaign = campaign_create(
                    actor=actor,
                    spec=CampaignSpec(
                        code=slug,
                        name=title,
                        kind="tiered",
                        starts_at=window.starts_at,
                        ends_at=window.ends_at,
                        channels=["shop", "live"],
                        tiers=[
                            {
                                "threshold_fen": template.tier_threshold_fen,
                                "off_fen": template.tier_off_fen,
                            }
                        ],
                        product_ids=product_ids,
                        is_active=False,
                    ),
                )
                made.append(
                    calendar_draft_record(
                        template=template,
                        year=year,
                        kind="campaign",
                        ref=str(campaign.pk),
                        label=title,
                    )
                )
            if template.coupon_off_fen and "coupon" not in existing:
                threshold = template.coupon_threshold_fen
                coupon = coupon_template_create(
                    actor=actor,
                    spec=CouponTemplateSpec(
                        code=f"{slug}-q",
                        name=f"{title}券"[:64],
                        kind="threshold" if threshold else "fixed",
                        amount_off_fen=template.coupon_off_fen,
                        threshold_fen=threshold,
                        valid_from=window.starts_at,
                        valid_until=window.ends_at,
                        product_ids=product_ids,
                        is_active=False,
                    ),
                )
                made.append(
                    calendar_draft_record(
                        template=template, year=year, kind="coupon", ref=str(coupon.pk), label=title
                    )
                )
            if "content" not in existing:
                made.append(_content_draft(template, year, title, actor))
    except IntegrityError as exc:  # a concurrent apply won the unique (template, year, kind)
        raise _bad("该模板正在生成草稿，请刷新后查看", "year") from exc
    return made
