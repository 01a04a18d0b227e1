"""API of regional pools and the seasonal calendar (FD-5, FD-6) under /api/v1/food: the
signed-in customer's region (what their shop is ranked for) and a year's occasions."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from freshloop.core.api_errors import raises
from freshloop.food.calendar import MAX_YEAR, MIN_YEAR, occasions
from freshloop.food.regions import person_region
from freshloop.identity.auth import ConsumerAuth, request_person

router = Router(tags=["食品特色 · 区域与节令"])


class RegionOut(Schema):
    province: str = Field(description="省份全称；未知时为空")
    city: str = Field(description="城市全称；未知时为空")
    zone: str = Field(description="南方 / 北方；未知时为空")
    source: str = Field(description="address（默认收货地址）/ phone（手机号归属地）/ 空（未知）")


class OccasionOut(Schema):
    date: dt.date
    name: str
    kind: str = Field(description="term 节气 / festival 节日 / holiday 法定假日与调休")


class CalendarOut(Schema):
    year: int
    items: list[OccasionOut]


class CalendarQuery(Schema):
    year: int = Field(ge=MIN_YEAR, le=MAX_YEAR, description=f"{MIN_YEAR}–{MAX_YEAR}")


@router.get("/region/mine", response=RegionOut, auth=ConsumerAuth(), summary="我的区域")
@raises()
def my_region(request: HttpRequest) -> RegionOut:
    region = person_region(person=request_person(request))
    return RegionOut(
        province=region.province, city=region.city, zone=region.zone, source=region.source
    )


@router.get("/calendar", response=CalendarOut, summary="某年的节气、节日与法定假日")
@raises()  # a year out of range is refused by the query schema (422) before the view
def calendar_year(request: HttpRequest, query: Query[CalendarQuery]) -> CalendarOut:
    return CalendarOut(
        year=query.year,
        items=[OccasionOut(date=o.date, name=o.name, kind=o.kind) for o in occasions(query.year)],
    )
