"""The seasonal calendar's "生成草稿" (FD-6), composed here because it spans modules that may
not import each other: food makes its drafts (an inactive 满减 campaign and coupon template),
live a scheduled session with the template's products, scrm a broadcast draft (not scheduled,
so nothing is sent). One transaction: all the drafts of one click, or none. Each draft is
recorded against the template and year, so a second click makes only what is missing."""

from __future__ import annotations

import datetime as dt
from typing import cast
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from freshloop.catalog.models import Sku
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role
from freshloop.food.models import CalendarDraft, CalendarTemplate
from freshloop.food.selectors import (
    calendar_drafts_for,
    calendar_template_get,
    calendar_template_window,
)
from freshloop.food.services import calendar_draft_record, calendar_template_apply
from freshloop.live.room.services import live_session_create
from freshloop.scrm.services import BroadcastDraft, broadcast_create

calendar_write = console_access(Role.MARKETER)

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIVE_HOUR = 20  # the brand's evening slot, Shanghai time, on the occasion's eve


def calendar_drafts_create(
    *, actor: Actor, host: User, template_id: int, year: int
) -> list[CalendarDraft]:
    """Every draft of `template_id` for `year` that does not exist yet."""
    with transaction.atomic():
        made = calendar_template_apply(actor=actor, template_id=template_id, year=year)
        template: CalendarTemplate = calendar_template_get(template_id=template_id)
        existing = calendar_drafts_for(template=template, year=year)
        window = calendar_template_window(template=template, year=year)
        title = template.live_title or f"{template.occasion}·{template.name}"
        if "live" not in existing:
            eve = dt.datetime.combine(
                window.occasion_date - dt.timedelta(days=1),
                dt.time(LIVE_HOUR),
                SHANGHAI,
            )
            sku_ids = sorted(
                Sku.objects.filter(product__in=template.products.all(), is_active=True).values_list(
                    "pk", flat=True
                )
            )
            session = live_session_create(
                title=f"{year}{title}"[:64],
                host=host,
                scheduled_at=eve.astimezone(dt.UTC),
                sku_ids=sku_ids,
                actor=actor,
                description=template.message_text[:300],
            )
            made.append(
                calendar_draft_record(
                    template=template, year=year, kind="live", ref=session.code, label=session.title
                )
            )
        if "broadcast" not in existing and template.message_text:
            broadcast = broadcast_create(
                draft=BroadcastDraft(
                    title=f"{year}{template.occasion}群发"[:64],
                    kind="text",
                    text=template.message_text,
                ),
                actor=actor,
            )
            made.append(
                calendar_draft_record(
                    template=template,
                    year=year,
                    kind="broadcast",
                    ref=str(broadcast.pk),
                    label=broadcast.title,
                )
            )
    return made


@require_POST
@calendar_write
def template_apply(request: HttpRequest, template_id: int) -> HttpResponse:
    raw_year = request.POST.get("year", "")
    year = int(raw_year) if raw_year.isdigit() and len(raw_year) == 4 else 0
    try:
        made = calendar_drafts_create(
            actor=Actor.for_user(request.user),
            host=cast(User, request.user),  # console_access: a logged-in operator
            template_id=template_id,
            year=year,
        )
    except DomainError as error:
        messages.error(request, error.text)
        return HttpResponseRedirect(f"/console/food/calendar/?year={year or ''}")
    if made:
        kinds = "、".join(draft.label or draft.kind for draft in made)
        messages.success(
            request, f"已生成 {len(made)} 份草稿：{kinds}（均未启用/未发送，请编辑后上线）"
        )
    else:
        messages.success(request, "草稿都已存在，没有重复生成")
    return HttpResponseRedirect(f"/console/food/calendar/?year={year}")
