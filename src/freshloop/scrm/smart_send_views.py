"""The 智能发送 page of the console (SC-3), /console/scrm/broadcasts/smart/: the smart-send
mass messages of the coming week with their slots (planned, handed to the policy, dropped by
reason), the button that plans them, the form that marks a draft or scheduled message as smart,
the latest plan against "everyone at 10:00" (intelligence's report), and a OneID lookup that
shows one customer's planned hours with their explanation.

The same operators as mass messages (community managers, marketers, admins)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import MoneyError, yuan_to_fen
from freshloop.scrm.broadcast_results import broadcast_get
from freshloop.scrm.broadcast_views import broadcast_access
from freshloop.scrm.models import Broadcast, BroadcastStatus
from freshloop.scrm.smart_send import (
    MAX_ONE_ID_CHARS,
    MAX_SMART_DAYS,
    STAFF_DAILY_LIMIT,
    broadcast_smart_set,
    smart_person_lookup,
    smart_runs_latest,
    smart_send_broadcasts,
    smart_send_plan,
    smart_slot_counts,
    smart_slots_for_person,
)

PAGE = "scrm-smart-send"
MAX_LISTED = 100


def _lookup(one_id: str) -> tuple[list[dict[str, Any]] | None, str]:
    """The customer's slots for the page, or the message saying why there are none."""
    if not one_id:
        return None, ""
    person = smart_person_lookup(one_id=one_id)
    if person is None:
        return None, f"找不到 OneID 为「{one_id}」的客户，请检查后重新输入"
    found = smart_slots_for_person(person_id=person.pk)
    if not found:
        return None, f"客户 {person.one_id} 不在任何已规划的智能发送中"
    return [
        {
            "slot": slot,
            "send_at": clock.to_shanghai(slot.send_at) if slot.send_at else None,
            "value_yuan": f"¥{slot.expected_value_fen / 100:.2f}",
            "lines": slot.explanation.splitlines(),
        }
        for slot in found
    ], ""


@require_GET
@broadcast_access
def smart_send_page(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    smart = list(
        Broadcast.objects.filter(
            smart_send=True,
            status__in=[BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING],
        ).order_by("scheduled_at", "pk")[:MAX_LISTED]
    )
    counts = smart_slot_counts(broadcast_ids=[b.pk for b in smart])
    candidates = list(
        Broadcast.objects.filter(
            smart_send=False, status__in=[BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED]
        ).order_by("scheduled_at", "pk")[:MAX_LISTED]
    )
    one_id = str(request.GET.get("one_id", "")).strip()[: MAX_ONE_ID_CHARS + 1]
    lookup, lookup_error = _lookup(one_id)
    run = smart_runs_latest()
    return render(
        request,
        "scrm/smart_send.html",
        {
            "rows": [
                {
                    "broadcast": b,
                    "counts": counts[b.pk],
                    "value_yuan": f"{b.smart_value_fen / 100:.2f}",
                }
                for b in smart
            ],
            "candidates": candidates,
            "due_count": len(smart_send_broadcasts(now=now)),
            "run": run,
            "report": run.summary if run is not None and run.summary else None,
            "one_id": one_id,
            "lookup": lookup,
            "lookup_error": lookup_error,
            "staff_limit": STAFF_DAILY_LIMIT,
            "max_days": MAX_SMART_DAYS,
            "day_choices": range(1, MAX_SMART_DAYS + 1),
        },
    )


@require_POST
@broadcast_access
def smart_send_plan_request(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    try:
        outcome = smart_send_plan(
            broadcasts=smart_send_broadcasts(now=now), now=now, actor=Actor.for_user(request.user)
        )
    except DomainError as error:
        messages.error(request, error.text)
        return redirect(PAGE)
    if outcome.run is None:
        messages.error(request, "未来 7 天没有待发送的智能发送群发，先把群发设为智能发送并安排时间")
    else:
        text = f"已规划 {len(outcome.planned)} 条群发：{outcome.slots} 人次排定发送时间"
        if outcome.dropped:
            text += f"，{outcome.dropped} 人次因上限不发送"
        if outcome.skipped:
            text += (
                f"；另有 {len(outcome.skipped)} 条这次未规划（发送周期超出未来 7 天，"
                "或规划期间被修改），将在之后的规划中、最迟在发送时规划"
            )
        messages.success(request, text)
    return redirect(PAGE)


@require_POST
@broadcast_access
def smart_send_settings(request: HttpRequest) -> HttpResponse:
    try:
        raw_id = str(request.POST.get("broadcast", ""))
        broadcast = broadcast_get(
            broadcast_id=int(raw_id) if raw_id.isdigit() and len(raw_id) <= 12 else 0
        )
        try:
            days = int(str(request.POST.get("smart_days", "")))
        except ValueError:
            days = 0  # refused below with the field's message
        try:
            value_fen = yuan_to_fen(str(request.POST.get("smart_value_yuan", "") or "0").strip())
        except MoneyError:
            value_fen = -1
        enabled = request.POST.get("enabled") == "1"
        broadcast_smart_set(
            broadcast=broadcast,
            enabled=enabled,
            days=days,
            value_fen=value_fen,
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        messages.error(request, error.text)
        return redirect(PAGE)
    if enabled:
        messages.success(
            request,
            f"「{broadcast.title}」已设为智能发送（{days} 天）；点击“规划未来 7 天”查看安排",
        )
    else:
        messages.success(request, f"「{broadcast.title}」已改回在计划时间统一发送")
    return redirect(PAGE)
