"""Console page of the seasonal marketing calendar (FD-6) at /console/food/calendar/: a month
of solar terms, festivals and statutory days off, the coming occasions, the templates with the
drafts each made for the year, and a form to add a template. "生成草稿" posts to the web
layer's view (web/food_calendar_views.py), which also drafts the live session and the
broadcast — modules food may not import."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from freshloop.catalog.models import Product
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role
from freshloop.food.calendar import (
    MAX_YEAR,
    MIN_YEAR,
    SHANGHAI,
    CalendarTemplateSpec,
    calendar_template_create,
    month_grid,
    occasions,
)
from freshloop.food.models import CalendarTemplate

calendar_access = console_access(Role.MARKETER, Role.LIVE_HOST)
calendar_write = console_access(Role.MARKETER)


def _year_month(request: HttpRequest) -> tuple[int, int]:
    today = clock.now().astimezone(SHANGHAI).date()
    try:
        year = int(request.GET.get("year", today.year))
        month = int(request.GET.get("month", today.month))
    except ValueError:
        return today.year, today.month
    if not MIN_YEAR <= year <= MAX_YEAR or not 1 <= month <= 12:
        return today.year, today.month
    return year, month


def _shifted(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + delta
    year, month = divmod(index, 12)
    return (year, month + 1) if MIN_YEAR <= year <= MAX_YEAR else (0, 0)


@require_GET
@calendar_access
def calendar_page(request: HttpRequest) -> HttpResponse:
    return _render(request, form={}, errors={}, status=200)


def _render(
    request: HttpRequest, *, form: Any, errors: dict[str, str], status: int
) -> HttpResponse:
    year, month = _year_month(request)
    today = clock.now().astimezone(SHANGHAI).date()
    coming = [
        occasion
        for occasion in occasions(today.year)
        + (occasions(today.year + 1) if today.year < MAX_YEAR else ())
        if today <= occasion.date <= today + dt.timedelta(days=60) and occasion.kind != "holiday"
    ]
    templates = list(CalendarTemplate.objects.prefetch_related("products", "drafts"))
    previous, following = _shifted(year, month, -1), _shifted(year, month, 1)
    context = {
        "year": year,
        "month": month,
        "weeks": month_grid(year=year, month=month),
        "weekdays": "一二三四五六日",
        "previous": previous,
        "following": following,
        "today": today,
        "coming": coming,
        "templates": [
            (template, [d for d in template.drafts.all() if d.year == year])
            for template in templates
        ],
        "products": Product.objects.filter(is_active=True).order_by("name"),
        "form": form,
        "errors": errors,
    }
    return render(request, "food/calendar.html", context, status=status)


def _number(form: Any, name: str, default: int = 0) -> int:
    value = (form.get(name, "") or "").strip()
    if not value:
        return default
    return int(value) if value.isdigit() and len(value) <= 9 else -1  # -1: refused, named


@require_POST
@calendar_write
def template_create(request: HttpRequest) -> HttpResponse:
    form = request.POST
    spec = CalendarTemplateSpec(
        occasion=form.get("occasion", "").strip(),
        name=form.get("name", ""),
        product_ids=[int(v) for v in form.getlist("product_ids") if v.isdigit() and len(v) <= 9],
        lead_days=_number(form, "lead_days", 7),
        duration_days=_number(form, "duration_days", 10),
        tier_threshold_fen=_number(form, "tier_threshold_fen"),
        tier_off_fen=_number(form, "tier_off_fen"),
        coupon_off_fen=_number(form, "coupon_off_fen"),
        coupon_threshold_fen=_number(form, "coupon_threshold_fen"),
        message_text=form.get("message_text", ""),
        live_title=form.get("live_title", ""),
    )
    try:
        calendar_template_create(actor=Actor.for_user(request.user), spec=spec)
    except DomainError as error:
        messages.error(request, error.text)
        errors: dict[str, str] = {}
        if isinstance(error.detail, list):
            errors = {str(d.get("field")): str(d.get("message")) for d in error.detail}
        return _render(request, form=form, errors=errors, status=error.status)
    messages.success(request, "模板已保存：在日历下方选择年份即可一键生成草稿")
    return HttpResponseRedirect("/console/food/calendar/")
