"""The operator console of community group buying, mounted at /console/groupbuy/: the
overview with its charts, leaders and their decisions, group deals. Presales and commission
settlement runs are in console_money_views.py. Every action posts to the same services as
the JSON API (audited there); a refusal is shown in Chinese with the service's status."""

from __future__ import annotations

import datetime as dt
from decimal import InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.core.money import yuan_to_fen
from freshloop.core.permissions import Role
from freshloop.groupbuy import console_figures
from freshloop.groupbuy.deals.errors import DealNotFound
from freshloop.groupbuy.deals.models import DealGroup, GroupDeal, GroupStatus
from freshloop.groupbuy.deals.selectors import deal_figures, deals_list
from freshloop.groupbuy.deals.services import deal_create, deal_end
from freshloop.groupbuy.models import LeaderStatus
from freshloop.groupbuy.selectors import leader_levels, leaders_list
from freshloop.groupbuy.services import (
    leader_approve,
    leader_level_set,
    leader_reinstate,
    leader_reject,
    leader_suspend,
)

CONSOLE_ROLES = (Role.COMMUNITY_MANAGER,)
groupbuy_access = console_access(*CONSOLE_ROLES)
SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE = 50


def refused(request: HttpRequest, error: DomainError) -> None:
    messages.error(request, error.text)


def field_errors(error: DomainError) -> dict[str, str]:
    """A 422's `detail` [{field, message}] as {input: first message}, to show under inputs;
    `tiers[1]` is shown under the tiers input as "第 2 档：…"."""
    found: dict[str, str] = {}
    if isinstance(error.detail, list):
        for item in error.detail:
            if isinstance(item, dict) and "field" in item:
                field, _, rest = str(item["field"]).partition("[")
                message = str(item.get("message", ""))
                index = rest.split("]")[0]
                if index.isdigit():
                    message = f"第 {int(index) + 1} 档：{message}"
                found.setdefault(field.split(".")[0], message)
    return found


def back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Back to the page the form was on (only paths of this console), else `default`."""
    target = str(request.POST.get("next", ""))
    if target.startswith("/console/groupbuy/") and "//" not in target:
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


def _page(request: HttpRequest) -> int:
    raw = str(request.GET.get("page", "1"))
    return max(1, min(int(raw), 10_000)) if raw.isdigit() else 1


# --- overview -----------------------------------------------------------------------------------


@require_GET
@groupbuy_access
def overview(request: HttpRequest) -> HttpResponse:
    by_leader = console_figures.gmv_by_leader()
    by_point = console_figures.gmv_by_pickup_point()
    days = console_figures.groups_by_day()
    return render(
        request,
        "groupbuy/console/overview.html",
        {
            "by_leader": by_leader,
            "by_point": by_point,
            "gmv_fen": console_figures.gmv_total(),
            "groups_succeeded": sum(day.succeeded for day in days),
            "groups_failed": sum(day.failed for day in days),
            "refunds": console_figures.deal_refund_totals(),
            "presale": console_figures.presale_totals(),
            "pending_leaders": leaders_list(status=LeaderStatus.APPLIED, limit=1)[0],
            "days": console_figures.GMV_DAYS,
            "chart": {
                "leaders": by_leader,
                "points": by_point,
                "groups": [day.__dict__ for day in days],
            },
        },
    )


# --- leaders ------------------------------------------------------------------------------------


@require_GET
@groupbuy_access
def leader_list(request: HttpRequest) -> HttpResponse:
    status = str(request.GET.get("status", ""))[:16]
    if status not in LeaderStatus.values:
        status = ""
    page = _page(request)
    total, leaders = leaders_list(status=status or None, limit=PAGE, offset=(page - 1) * PAGE)
    ids = [leader.pk for leader in leaders]
    gmv = console_figures.leader_gmv(leader_ids=ids)
    customers = console_figures.leader_customer_counts(leader_ids=ids)
    return render(
        request,
        "groupbuy/console/leaders.html",
        {
            "rows": [
                {
                    "leader": leader,
                    "gmv_fen": gmv.get(leader.pk, 0),
                    "customers": customers.get(leader.pk, 0),
                }
                for leader in leaders
            ],
            "total": total,
            "page": page,
            "has_next": page * PAGE < total,
            "status": status,
            "statuses": LeaderStatus.choices,
            "levels": leader_levels(),
        },
    )


LEADER_ACTIONS = {"approve", "reject", "suspend", "reinstate", "level"}
LEADER_DONE = {
    "approve": "已通过团长申请",
    "reject": "已驳回团长申请",
    "suspend": "已暂停该团长",
    "reinstate": "已恢复该团长营业",
    "level": "已调整团长等级",
}


@require_POST
@groupbuy_access
def leader_act(request: HttpRequest, leader_no: str, action: str) -> HttpResponse:
    if action not in LEADER_ACTIONS:
        messages.error(request, "未知的操作")
        return back(request, "/console/groupbuy/leaders/")
    actor = Actor.for_user(request.user)
    reason = str(request.POST.get("reason", ""))
    try:
        if action == "approve":
            leader = leader_approve(actor=actor, leader_no=leader_no)
        elif action == "reject":
            leader = leader_reject(actor=actor, leader_no=leader_no, reason=reason)
        elif action == "suspend":
            leader = leader_suspend(actor=actor, leader_no=leader_no, reason=reason)
        elif action == "reinstate":
            leader = leader_reinstate(actor=actor, leader_no=leader_no)
        else:
            level_code = str(request.POST.get("level_code", ""))[:32]
            leader = leader_level_set(actor=actor, leader_no=leader_no, level_code=level_code)
    except DomainError as error:
        refused(request, error)
        return back(request, "/console/groupbuy/leaders/")
    messages.success(request, f"{LEADER_DONE[action]}：{leader.display_name}（{leader.leader_no}）")
    return back(request, "/console/groupbuy/leaders/")


# --- group deals --------------------------------------------------------------------------------


def _local_input(moment: dt.datetime) -> str:
    return clock.to_shanghai(moment).strftime("%Y-%m-%dT%H:%M")


def _deal_form_defaults() -> dict[str, str]:
    now = clock.now()
    return {
        "title": "",
        "sku_id": "",
        "tiers": "2:39.90, 5:35.90, 10:29.90",
        "quantity": "100",
        "group_minutes": "1440",
        "per_person_limit": "1",
        "starts_at": _local_input(now),
        "ends_at": _local_input(now + dt.timedelta(days=7)),
    }


def _parse_tiers(raw: str, problems: list[tuple[str, str]]) -> list[dict[str, int]]:
    """ "2:39.90, 5:35.90" (人数:单价元) → [{size, price_fen}]; the service checks the ladder."""
    tiers: list[dict[str, int]] = []
    for part in raw.replace("，", ",").replace("：", ":").split(","):
        if not part.strip():
            continue
        size, _, price = part.partition(":")
        try:
            tiers.append({"size": int(size.strip()), "price_fen": yuan_to_fen(price.strip())})
        except (ValueError, InvalidOperation):
            problems.append(("tiers", "阶梯价格式为「人数:单价」，用逗号分隔，如 2:39.90, 5:35.90"))
            return []
    if not tiers:
        problems.append(("tiers", "请至少填写一档阶梯价"))
    return tiers


def _parse_count(raw: str, field: str, title: str, problems: list[tuple[str, str]]) -> int:
    text = raw.strip()
    if not text.isdigit() or len(text) > 9:
        problems.append((field, f"{title}须为正整数"))
        return 0
    return int(text)


def _parse_local(raw: str, field: str, problems: list[tuple[str, str]]) -> dt.datetime | None:
    try:
        naive = dt.datetime.strptime(raw.strip(), "%Y-%m-%dT%H:%M")
    except ValueError:
        problems.append((field, "请填写日期和时间（北京时间）"))
        return None
    return naive.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


def _deal_from_form(request: HttpRequest) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    form = {key: str(request.POST.get(key, ""))[:200] for key in _deal_form_defaults()}
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {
        "title": form["title"],
        "sku_id": _parse_count(form["sku_id"], "sku_id", "商品规格", problems),
        "tiers": _parse_tiers(form["tiers"], problems),
        "quantity": _parse_count(form["quantity"], "quantity", "活动库存", problems),
        "group_minutes": _parse_count(form["group_minutes"], "group_minutes", "成团时限", problems),
        "per_person_limit": _parse_count(
            form["per_person_limit"], "per_person_limit", "每人限购", problems
        ),
        "starts_at": _parse_local(form["starts_at"], "starts_at", problems),
        "ends_at": _parse_local(form["ends_at"], "ends_at", problems),
        "leader_only": request.POST.get("leader_only") == "on",
    }
    return {"form": form, "values": values}, problems


def _sku_choices() -> list[Sku]:
    return list(
        Sku.objects.filter(is_active=True)
        .select_related("product")
        .order_by("product__name", "pk")[:300]
    )


@require_http_methods(["GET", "POST"])
@groupbuy_access
def deal_list(request: HttpRequest) -> HttpResponse:
    form = _deal_form_defaults()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        parsed, problems = _deal_from_form(request)
        form = parsed["form"]
        form["leader_only"] = "on" if parsed["values"]["leader_only"] else ""
        if problems:
            errors = {field: text for field, text in reversed(problems)}
            status = 422
        else:
            try:
                deal = deal_create(actor=Actor.for_user(request.user), **parsed["values"])
            except DomainError as error:
                errors = field_errors(error)
                if not errors:
                    refused(request, error)
                status = error.status
            else:
                messages.success(request, f"已创建拼团活动：{deal.title}（{deal.deal_no}）")
                return HttpResponseRedirect(f"/console/groupbuy/deals/{deal.deal_no}")
        if errors:
            messages.error(request, "拼团活动未创建，请按提示修改")
    page = _page(request)
    deals = deals_list(limit=PAGE, offset=(page - 1) * PAGE)
    days = console_figures.groups_by_day()
    return render(
        request,
        "groupbuy/console/deals.html",
        {
            "rows": [{"deal": deal, "figures": deal_figures(deal=deal)} for deal in deals],
            "page": page,
            "has_next": len(deals) == PAGE,
            "form": form,
            "errors": errors,
            "skus": _sku_choices(),
            "chart": {"groups": [day.__dict__ for day in days]},
        },
        status=status,
    )


@require_GET
@groupbuy_access
def deal_detail(request: HttpRequest, deal_no: str) -> HttpResponse:
    deal = GroupDeal.objects.select_related("sku__product").filter(deal_no=deal_no[:40]).first()
    if deal is None:
        error = DealNotFound(detail={"deal_no": deal_no[:40]})
        return render(request, "groupbuy/console/missing.html", {"error": error}, status=404)
    groups = list(
        DealGroup.objects.filter(deal=deal)
        .select_related("leader")
        .order_by("-opened_at", "-pk")[:200]
    )
    days = console_figures.groups_by_day(deal=deal)
    return render(
        request,
        "groupbuy/console/deal.html",
        {
            "deal": deal,
            "figures": deal_figures(deal=deal),
            "tiers": deal.tiers,
            "sections": [
                (label, [group for group in groups if group.status == value])
                for value, label in GroupStatus.choices
            ],
            "chart": {"groups": [day.__dict__ for day in days]},
        },
    )


@require_POST
@groupbuy_access
def deal_end_view(request: HttpRequest, deal_no: str) -> HttpResponse:
    try:
        deal = deal_end(deal_no=deal_no[:40], actor=Actor.for_user(request.user))
    except DomainError as error:
        refused(request, error)
        return HttpResponseRedirect("/console/groupbuy/deals/")
    messages.success(request, f"已结束拼团活动：{deal.title}（未售出的库存已退回货架）")
    return HttpResponseRedirect(f"/console/groupbuy/deals/{deal.deal_no}")
