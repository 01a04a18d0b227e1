"""Seasonal marketing calendar (FD-6): solar terms checked against an independent astronomical
computation, festivals on known dates, statutory holidays, the month grid, templates → drafts."""

from __future__ import annotations

import datetime as dt

import pytest
import sxtwl

from freshloop.core.errors import DomainError
from freshloop.food.calendar import (
    SOLAR_TERMS,
    CalendarTemplateSpec,
    calendar_template_apply,
    calendar_template_create,
    festivals,
    month_grid,
    occasion_date,
    solar_terms,
    statutory_days,
)
from freshloop.promotions.models import Campaign, CouponTemplate
from tests.factories import MARKETER, make_sku

# sxtwl numbers the terms from 冬至 (index 0); its Julian days are Beijing time.
_SXTWL_NAMES = SOLAR_TERMS[-1:] + SOLAR_TERMS[:-1]


def _sxtwl_terms(year: int) -> dict[str, dt.date]:
    found: dict[str, dt.date] = {}
    for source_year in (year - 1, year, year + 1):
        for info in sxtwl.getJieQiByYear(source_year):
            moment = sxtwl.JD2DD(info.jd)
            day = dt.date(int(moment.Y), int(moment.M), int(moment.D))
            if day.year == year:
                found[_SXTWL_NAMES[info.jqIndex]] = day
    return found


class TestSolarTerms:
    def test_every_term_1950_to_2100_agrees_with_sxtwl(self) -> None:
        # given two independent computations (lunar-python's tables, sxtwl's ephemeris)
        disagreements = []
        compared = 0
        # when every year's 24 terms are compared by their Asia/Shanghai calendar date
        for year in range(1950, 2101):
            ours = {occasion.name: occasion.date for occasion in solar_terms(year)}
            reference = _sxtwl_terms(year)
            assert len(ours) == 24, year
            assert len(reference) == 24, year
            for name, day in ours.items():
                compared += 1
                if reference[name] != day:
                    disagreements.append((year, name, day, reference[name]))
        # then all 151 × 24 agree
        assert compared == 151 * 24
        assert disagreements == []

    def test_terms_are_in_calendar_order(self) -> None:
        assert [occasion.name for occasion in solar_terms(2024)] == list(SOLAR_TERMS)

    def test_known_dates(self) -> None:
        terms = {occasion.name: occasion.date for occasion in solar_terms(2024)}
        assert terms["立春"] == dt.date(2024, 2, 4)
        assert terms["冬至"] == dt.date(2024, 12, 21)
        assert occasion_date(name="冬至", year=2023) == dt.date(2023, 12, 22)


class TestFestivals:
    @pytest.mark.parametrize(
        ("year", "name", "expected"),
        [
            (2024, "春节", dt.date(2024, 2, 10)),
            (2025, "春节", dt.date(2025, 1, 29)),
            (2025, "除夕", dt.date(2025, 1, 28)),
            (2024, "中秋节", dt.date(2024, 9, 17)),
            (2025, "中秋节", dt.date(2025, 10, 6)),
            (2025, "端午节", dt.date(2025, 5, 31)),
            (2023, "元宵节", dt.date(2023, 2, 5)),
            (2025, "腊八节", dt.date(2025, 1, 7)),
            (2025, "母亲节", dt.date(2025, 5, 11)),
            (2025, "父亲节", dt.date(2025, 6, 15)),
        ],
    )
    def test_known_dates(self, year: int, name: str, expected: dt.date) -> None:
        found = [occasion.date for occasion in festivals(year) if occasion.name == name]
        assert found == [expected]

    def test_a_lunar_festival_twice_in_one_gregorian_year(self) -> None:
        # 腊八 of two lunar years can both fall in one Gregorian year (Jan and Dec)
        found = [o.date for o in festivals(2025) if o.name == "腊八节"]
        assert all(day.year == 2025 for day in found)
        assert len({o.name for o in festivals(2025)}) >= 20


class TestStatutoryDays:
    def test_2025_national_day_and_spring_festival(self) -> None:
        days = {occasion.date: occasion.name for occasion in statutory_days(2025)}
        assert days[dt.date(2025, 10, 1)] == "国庆节"
        assert days[dt.date(2025, 1, 29)] == "春节"


class TestMonthGrid:
    def test_december_2024_shows_winter_solstice(self) -> None:
        weeks = month_grid(year=2024, month=12)
        day = next(d for week in weeks for d in week if d.date == dt.date(2024, 12, 21))
        assert "冬至" in [occasion.name for occasion in day.occasions]
        assert all(len(week) == 7 for week in weeks)
        assert weeks[0][0].date.weekday() == 0

    @pytest.mark.parametrize(("year", "month"), [(1800, 1), (2024, 13), (2024, 0)])
    def test_out_of_range(self, year: int, month: int) -> None:
        with pytest.raises(DomainError) as caught:
            month_grid(year=year, month=month)
        assert caught.value.status == 422


@pytest.mark.django_db
class TestCalendarTemplateApply:
    def _template(self) -> int:
        dumplings = make_sku(name="三鲜水饺", category_code="frozen", storage="frozen")
        template = calendar_template_create(
            actor=MARKETER,
            spec=CalendarTemplateSpec(
                occasion="冬至",
                name="冬至吃饺子",
                product_ids=[dumplings.product_id],
                lead_days=5,
                duration_days=7,
                tier_threshold_fen=9900,
                tier_off_fen=1500,
                coupon_off_fen=500,
                coupon_threshold_fen=5900,
                message_text="冬至到，饺子备好了",
            ),
        )
        return template.pk

    def test_creates_inactive_campaign_and_coupon_in_the_window(self) -> None:
        # given a 冬至 template
        template_id = self._template()
        # when it is applied for 2025 (冬至 2025-12-21)
        drafts = calendar_template_apply(actor=MARKETER, template_id=template_id, year=2025)
        # then a 满减 campaign and a coupon template exist, both drafts (inactive), and the
        # occasion's copy is in the content library
        assert sorted(draft.kind for draft in drafts) == ["campaign", "content", "coupon"]
        campaign = Campaign.objects.get(pk=next(int(d.ref) for d in drafts if d.kind == "campaign"))
        assert campaign.is_active is False
        assert campaign.tiers == [{"threshold_fen": 9900, "off_fen": 1500}]
        assert campaign.starts_at == dt.datetime(2025, 12, 15, 16, 0, tzinfo=dt.UTC)  # 16日 0点
        assert campaign.ends_at - campaign.starts_at == dt.timedelta(days=7)
        assert campaign.products.count() == 1
        coupon = CouponTemplate.objects.get(
            pk=next(int(d.ref) for d in drafts if d.kind == "coupon")
        )
        assert coupon.is_active is False
        assert (coupon.amount_off_fen, coupon.threshold_fen) == (500, 5900)

    def test_applying_twice_makes_nothing_twice(self) -> None:
        template_id = self._template()
        calendar_template_apply(actor=MARKETER, template_id=template_id, year=2025)
        again = calendar_template_apply(actor=MARKETER, template_id=template_id, year=2025)
        assert again == []
        assert Campaign.objects.count() == 1
        other_year = calendar_template_apply(actor=MARKETER, template_id=template_id, year=2026)
        assert len(other_year) == 3

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"occasion": "不存在节"}, "occasion"),
            ({"name": ""}, "name"),
            ({"tier_off_fen": 500}, "tier_off_fen"),
            ({"tier_threshold_fen": 100, "tier_off_fen": 200}, "tier_off_fen"),
            ({"duration_days": 0}, "duration_days"),
            ({"product_ids": [999999]}, "product_ids"),
        ],
    )
    def test_invalid_template_refused(self, changes: dict[str, object], field: str) -> None:
        values: dict[str, object] = {"occasion": "中秋节", "name": "中秋礼盒"} | changes
        with pytest.raises(DomainError) as caught:
            calendar_template_create(actor=MARKETER, spec=CalendarTemplateSpec(**values))  # type: ignore[arg-type]
        assert caught.value.status == 422
        assert caught.value.detail[0]["field"] == field
